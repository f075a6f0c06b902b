// PodCommands.swift — `aegis pod run|ls|describe|logs|stop`: Kubernetes Pod YAML run on this host
// through AEGIS's own sandboxes, as a kubelet runs a static pod. Parsing and printing only;
// AegisPod does the work. Pods live under `<data-dir>/pods`, images come from `<data-dir>/images`.
import AegisDaemon
import AegisImage
import AegisPod
import AegisProtocol
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

struct PodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod", abstract: "Run Kubernetes Pod YAML on this host (as a kubelet runs a static pod).",
        subcommands: [PodRun.self, PodList.self, PodDescribe.self, PodLogs.self, PodStop.self])
}

/// `--data-dir`: pods under `<data-dir>/pods`, images from `<data-dir>/images`.
struct PodStoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The node's data directory (env AEGIS_DATA_DIR).", valueName: "dir"))
    var dataDir: String?

    var paths: AegisPaths { AegisPaths(dataDir: dataDir ?? AegisPaths.defaultDataDir()) }
}

struct PodRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Pod YAML in the foreground until SIGTERM/SIGINT (then stop it in order) or until it ends.")

    @OptionGroup var store: PodStoreOptions
    @Flag(help: "Start containers whose resources.limits this host's cgroups cannot enforce, without those limits.")
    var allowUnenforcedLimits = false
    @Option(
        name: .customLong("insecure-registry"),
        help: ArgumentHelp("Speak plain HTTP to this HOST[:PORT] (repeatable).", valueName: "host"))
    var insecure: [String] = []
    @Option(name: .customLong("registry-ca"), help: ArgumentHelp("Trust this CA (PEM) for HTTPS registries.", valueName: "file"))
    var caFile: String?
    @Option(name: .customLong("registry-auth"), help: ArgumentHelp("A docker-style auth.json.", valueName: "file"))
    var authFile: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(help: ArgumentHelp("Put the pod's cgroup under this cgroup2 path (default: below this process's own).", valueName: "path"))
    var cgroupParent: String?
    @Argument(help: "The Pod YAML file.") var file: String

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "aegis.pod")
        let notice = NodeStartNotice()  // $NOTIFY_SOCKET read and removed before containers start
        var finalPhase = PodPhase.stopped
        try await runVerb {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let manifest = try PodManifestParser.parse(text, file: file)
            var options = PodRunnerOptions(
                root: store.paths.pods, imageRoot: store.paths.images,
                registry: RegistryOptions(insecureRegistries: Set(insecure), caFile: caFile, authFile: authFile),
                allowUnenforcedLimits: allowUnenforcedLimits)
            options.cgroupParent = cgroupParent
            let runner = try PodRunner(manifest: manifest, manifestText: text, options: options, logger: logger)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
                .init(service: runner, successTerminationBehavior: .gracefullyShutdownGroup)
            ]
            if let notifier = notice.notifier {
                services.append(
                    .init(
                        service: ServiceManagerNotifier(
                            notifier: notifier, probe: runner.healthProbe, readyAnywayAfter: nil, logger: logger)))
            }
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            finalPhase = await runner.currentRecord().phase
        }
        if finalPhase == .failed { throw ExitCode(1) }
    }
}

struct PodList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the pods of this host.")
    @OptionGroup var store: PodStoreOptions

    func run() async throws {
        try await runVerb {
            let pods = PodControl.list(root: store.paths.pods)
            var rows = [["NAME", "PHASE", "READY", "RESTARTS", "AGE", "RUNNER"]]
            for p in pods {
                let ready = p.containers.filter(\.ready).count
                let restarts = p.containers.map(\.restartCount).reduce(0, +)
                let runner = PodControl.runnerAlive(p) ? "\(p.runnerPid)" : "-"
                rows.append([
                    p.name, p.phase.rawValue, "\(ready)/\(p.containers.count)", "\(restarts)", age(p.createdAtMs), runner,
                ])
            }
            writeStdout(table(rows))
        }
    }
}

struct PodDescribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "describe", abstract: "Show a pod's containers and events.")
    @OptionGroup var store: PodStoreOptions
    @Argument(help: "The pod's name.") var name: String

    func run() async throws {
        try await runVerb {
            let (p, _) = try PodControl.describe(root: store.paths.pods, name: name)
            var out = "Name:      \(p.name)\nPhase:     \(p.phase.rawValue)\n"
            if let m = p.message { out += "Message:   \(m)\n" }
            out += "Runner:    \(PodControl.runnerAlive(p) ? "pid \(p.runnerPid)" : "none")\nInfra:     generation \(p.infraGeneration)\n"
            out += "Containers:\n"
            for c in p.containers {
                out += "  \(c.name):\n    State:     \(c.phase.rawValue)\(c.reason.map { " (\($0))" } ?? "")\n"
                out += "    Started:   \(c.started)\n    Ready:     \(c.ready)\n    Restarts:  \(c.restartCount)\n"
                if let code = c.lastExitCode { out += "    Last exit: \(code)\n" }
                if let m = c.message { out += "    Message:   \(m)\n" }
            }
            out += "Events:\n" + p.events.suffix(40).map { "  \($0)\n" }.joined()
            writeStdout(out)
        }
    }
}

struct PodLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a container's output (stdout, then stderr).")
    @OptionGroup var store: PodStoreOptions
    @Option(name: [.customShort("c"), .long], help: "The container (default: the first main container).") var container: String?
    @Flag(name: [.short, .long], help: "Follow: keep printing new output until interrupted.") var follow = false
    @Argument(help: "The pod's name.") var name: String

    func run() async throws {
        try await runVerb {
            let (p, text) = try PodControl.describe(root: store.paths.pods, name: name)
            let main = (try? PodManifestParser.parse(text, file: name))?.spec.containers.first?.name
            guard let c = container ?? main, p.containers.contains(where: { $0.name == c }) else {
                throw ValidationError("-c: pod \(name) has no container \(container ?? "")")
            }
            var offsets: [PodControl.Stream: Int64] = [.stdout: 0, .stderr: 0]
            repeat {
                for stream in [PodControl.Stream.stdout, .stderr] {
                    guard
                        let chunk = PodControl.log(
                            root: store.paths.pods, pod: name, container: c, stream: stream, offset: offsets[stream] ?? 0)
                    else { continue }
                    if chunk.size < offsets[stream] ?? 0 { offsets[stream] = 0 }  // replaced: start over
                    writeFD(stream == .stdout ? 1 : 2, chunk.bytes)
                    offsets[stream] = chunk.start + Int64(chunk.bytes.count)
                }
                if follow { try await Task.sleep(for: .milliseconds(250)) }
            } while follow
        }
    }
}

struct PodStop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a pod in order (main containers, then sidecars in reverse, then the infra).")
    @OptionGroup var store: PodStoreOptions
    @Argument(help: "The pod's name.") var name: String

    func run() async throws {
        try await runVerb {
            let options = PodRunnerOptions(root: store.paths.pods, imageRoot: store.paths.images)
            let record = try await PodControl.stop(root: store.paths.pods, name: name, options: options, logger: Logger(label: "aegis.pod"))
            writeStdout("pod \(name): \(record.phase.rawValue)\n")
        }
    }
}

/// "3m", "2h", "5d" since `ms` (Unix ms).
func age(_ ms: Int64) -> String {
    let s = max(0, (nowMs() - ms) / 1000)
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172_800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}

/// Left-aligned columns separated by three spaces.
func table(_ rows: [[String]]) -> String {
    guard let width = rows.first?.count else { return "" }
    let widths = (0..<width).map { i in rows.map { $0[i].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { i, cell in i == width - 1 ? cell : cell.padding(toLength: widths[i] + 3, withPad: " ", startingAt: 0) }
            .joined()
    }.joined(separator: "\n") + "\n"
}

extension PodRunner {
    /// For a notify unit: ready once every container is ready; STATUS "pod NAME: PHASE, ready
    /// R/N, restarts K" from the runner actor (a wedged runner does not answer, so no WATCHDOG=1).
    nonisolated var healthProbe: NodeHealthProbe {
        let status: @Sendable () async -> String = {
            let r = await self.currentRecord()
            let ready = r.containers.filter(\.ready).count, restarts = r.containers.reduce(0) { $0 + $1.restartCount }
            return "pod \(r.name): \(r.phase.rawValue), ready \(ready)/\(r.containers.count), restarts \(restarts)"
        }
        return NodeHealthProbe(
            ready: {
                let r = await self.currentRecord()
                return !r.containers.isEmpty && r.containers.allSatisfy(\.ready) ? await status() : nil
            }, status: status)
    }
}
