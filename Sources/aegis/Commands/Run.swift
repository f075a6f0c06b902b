// Run.swift — `aegis run`: submit an agent (manifest or command), then stream its output and
// exit with its status; Ctrl-C cancels the agent and keeps streaming until it has ended.
import AegisClient
import AegisManifest
import AegisProtocol
import ArgumentParser
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an agent from a manifest (-f) or a command, and stream its output.",
        discussion: """
            With -f, the manifest is sent as it is, with every file under its directory that it mentions \
            by relative path (16 MiB in total at most). Without -f, the command's arguments that are \
            local files (relative paths) are uploaded under the same names.
            Without --detach, stdout and stderr of the agent are streamed and aegis exits with the \
            agent's exit code (128+N when killed by signal N; 1 when it failed without one, 2 when it \
            was lost or cancelled). Ctrl-C cancels the agent; a second Ctrl-C stops waiting.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("Agent manifest (YAML or JSON).", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("Runtime the command needs (python3, node, …).", valueName: "name"))
    var runtime: String?

    // Numbers are taken as values even with a leading '-' (`--cpus -1`), so that they get a range
    // error rather than "missing value".
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("CPU limit: 0.5, 2, 500m (at most \(Bounds.maxCPUMillis / 1000) cores).", valueName: "cpus"))
    var cpus: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Memory limit: 256Mi, 1Gi, 512M (1Mi to 1Pi).", valueName: "size"))
    var memory: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Whole GPUs, assigned exclusively (0-\(Bounds.maxAgentGPUs)).", valueName: "n"))
    var gpus: Int?

    @Option(
        name: [.customShort("e"), .customLong("env")],
        help: ArgumentHelp("Environment variable K=V (K alone takes this shell's value); repeatable.", valueName: "k=v"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Agent name.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Restart policy: never, on-failure, always.", valueName: "policy"))
    var restart: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Time limit: 30s, 5m, 2h (at most 365d).", valueName: "duration"))
    var timeout: String?

    @Option(
        help: ArgumentHelp(
            "Network: none, loopback, host (admin only), egress (routed out through the node; public destinations plus --allow).",
            valueName: "mode"))
    var network: String?

    @Option(
        help: ArgumentHelp(
            "With --network egress: also allow DEST[:PORT[-PORT]][/tcp|/udp], DEST an IPv4 address, CIDR or host name (10.20.0.0/16:443/tcp, api.example.com:443); repeatable.",
            valueName: "entry"))
    var allow: [String] = []

    @Option(
        help: ArgumentHelp(
            "With --network egress: a reachability label the node must advertise (internet, corp-vpn); repeatable.", valueName: "label"))
    var reach: [String] = []

    @Flag(name: [.customShort("d"), .long], help: "Print the workload id and return instead of streaming.")
    var detach = false

    @Option(
        help: ArgumentHelp(
            "Send this Idempotency-Key: running the same command again with the same key (after a timeout or a controller failover) gets the first workload, not a second one.",
            valueName: "key"))
    var idempotencyKey: String?

    // Plain positional words, and after `--` everything (so `--help` stays help and a mistyped
    // option is an error rather than part of the command).
    @Option(help: ArgumentHelp("Run from this OCI image (python:3.12-slim, oci:DIR[:TAG], oci-archive:FILE[:TAG]).", valueName: "ref"))
    var image: String?

    @Option(
        help: ArgumentHelp(
            "When the node pulls --image: IfNotPresent, Always, Never (default: Always for :latest or no tag).", valueName: "policy"))
    var imagePullPolicy: String?

    @Option(
        help: ArgumentHelp(
            "The image's root: read-only (default; /work and /tmp writable) or overlay (a private writable layer).", valueName: "mode"))
    var rootfs: String?

    @Argument(help: ArgumentHelp("The command and its arguments; put them after -- when any starts with '-'.", valueName: "command"))
    var command: [String] = []

    var commandWords: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func validate() throws {
        let words = commandWords
        if file != nil && !words.isEmpty { throw ValidationError("give either -f MANIFEST or a command, not both") }
        if file == nil && words.isEmpty && image == nil {
            throw ValidationError("nothing to run: give -f MANIFEST, --image REF or -- COMMAND ARGS…")
        }
        if file != nil {
            let given = [
                ("--runtime", runtime != nil), ("--cpus", cpus != nil), ("--memory", memory != nil),
                ("--gpus", gpus != nil), ("--env", !env.isEmpty), ("--name", name != nil),
                ("--restart", restart != nil), ("--timeout", timeout != nil), ("--network", network != nil),
                ("--allow", !allow.isEmpty), ("--reach", !reach.isEmpty), ("--image", image != nil),
                ("--image-pull-policy", imagePullPolicy != nil), ("--rootfs", rootfs != nil),
            ]
            .filter { $0.1 }.map { $0.0 }
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) can't be combined with -f; set them in the manifest")
            }
        }
        if let r = restart, RestartPolicy(rawValue: r) == nil {
            throw ValidationError("--restart \(r): expected one of \(RestartPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let n = network, NetworkMode(rawValue: n) == nil {
            throw ValidationError("--network \(n): expected one of \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if network != NetworkMode.egress.rawValue {
            for (flag, given) in [("--allow", !allow.isEmpty), ("--reach", !reach.isEmpty)] where given {
                throw ValidationError("\(flag) is allowed only with --network egress")
            }
        }
        // The same parsers as the API's (which checks again): errors name the flag and the range.
        if let c = cpus { try checkedFlag { try Quantity.cpuMillis(c, field: "--cpus") } }
        if let m = memory { try checkedFlag { try Quantity.memoryBytes(m, field: "--memory") } }
        if let t = timeout { try checkedFlag { try Quantity.durationSeconds(t, field: "--timeout") } }
        if let g = gpus { try checkFlagRange(g, 0...Bounds.maxAgentGPUs, flag: "--gpus") }
    }

    func run() async throws {
        try await runVerb {
            let client = try connection.client()
            let workload = try await client.submit(try makeRequest(), idempotencyKey: idempotencyKey)
            if detach {
                writeStdout(workload.id + "\n")
                return
            }
            if workload.state == .pending, let reason = workload.reason, !reason.isEmpty {
                writeStderr("aegis: \(workload.id) is pending: \(reason)\n")
            }
            let final = try await streamUntilExit(client: client, id: workload.id)
            if final.state != .succeeded && (final.oomKilled || final.reason != nil || final.exitCode == nil) {
                let reason = final.reason.map { ": \($0)" } ?? ""
                writeStderr("aegis: \(final.id) \(stateSummary(final))\(reason)\n")
            }
            let status = exitStatus(of: final)
            if status != 0 { throw ExitCode(status) }
        }
    }

    func makeRequest() throws -> SubmitRequest {
        let flags = RunFlags(
            runtime: runtime, cpus: cpus, memory: memory, gpus: gpus, env: env, name: name,
            restart: restart, timeout: timeout, network: network,
            allow: allow.isEmpty ? nil : allow, reach: reach.isEmpty ? nil : reach, command: commandWords,
            image: image, imagePullPolicy: imagePullPolicy, rootfs: rootfs)
        return try SubmitRequest.assemble(manifestFile: file, run: flags)
    }

    /// Streams stdout/stderr until the `exit` event; SIGINT cancels the agent once, a second one exits 130.
    func streamUntilExit(client: APIClient, id: String) async throws -> Workload {
        let interrupts = InterruptHandler { count in
            if count == 1 {
                writeStderr("aegis: cancelling \(id) (Ctrl-C again to stop waiting)\n")
                Task {
                    do { _ = try await client.cancel(id: id) } catch {
                        writeStderr("aegis: cancel \(id): \(cliMessage(for: error))\n")
                    }
                }
            } else {
                writeStderr("aegis: stopped waiting; \(id) may still be running (see `aegis describe \(id)`)\n")
                Glibc.exit(130)
            }
        }
        defer { interrupts.stop() }
        var final: Workload?
        for try await (stream, text) in client.logs(id: id, follow: true) {
            switch stream {
            case .stdout: writeStdout(text)
            case .stderr: writeStderr(text)
            case .exit: final = try decodeExitWorkload(text)
            }
        }
        if let final { return final }
        let now = try await client.workload(id: id).workload
        if now.state.isFinal { return now }
        throw ClientError("the log stream of \(id) ended while it is \(now.state.rawValue); follow it with `aegis logs -f \(id)`")
    }
}

/// SIGINT → `onSignal(count)` on a private serial queue (count 1, 2, …); the default action is
/// restored by `stop()`.
final class InterruptHandler: @unchecked Sendable {
    private let queue = DispatchQueue(label: "aegis.sigint")
    private let source: DispatchSourceSignal
    private var count = 0  // only touched on `queue`

    init(_ onSignal: @escaping @Sendable (Int) -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: queue)
        source.setEventHandler { [unowned self] in
            self.count += 1
            onSignal(self.count)
        }
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
