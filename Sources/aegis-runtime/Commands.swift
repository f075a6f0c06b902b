// Commands.swift — the OCI operations (runtime.md § Operations) with runc's flags.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import AegisOCI
import AegisSandbox
import AegisSystem

struct AegisRuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aegis-runtime",
        abstract: "AEGIS OCI runtime: namespaces, cgroup v2, seccomp and capabilities, no daemon.",
        discussion: """
            Global flags (before the command): --root DIR (default /run/aegis-runtime), --log FILE, \
            --log-format text|json.
            """,
        subcommands: [
            Create.self, Start.self, State.self, Kill.self, Delete.self, Run.self, Spec_.self,
            Unsupported.Exec.self, Unsupported.Ps.self, Unsupported.Pause.self,
            Unsupported.Resume.self, Unsupported.Features.self,
        ])
}

/// Runs `body`, turning any error into one line on stderr (and the --log file) plus exit 1.
func guarded<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch { Globals.fail("\(error)") }
}

func runtime() -> SandboxRuntime { guarded { try SandboxRuntime(stateRoot: Globals.shared.root) } }

func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return path }
    let cwd = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path == "." ? cwd : cwd + "/" + path
}

func writePidFile(_ path: String?, _ pid: Int32) {
    guard let path else { return }
    do {
        try FileSystem.writeAtomically(path, text: "\(pid)", mode: 0o644, syncDirectory: false)
    } catch {
        Globals.fail("--pid-file \(path): \(error)")
    }
}

struct BundleOptions: ParsableArguments {
    @Option(name: [.customShort("b"), .long], help: "Bundle directory holding config.json (default: current directory).")
    var bundle: String = "."
    @Option(name: .customLong("pid-file"), help: "Write the container process's pid to this file.")
    var pidFile: String?
    @Option(name: .customLong("console-socket"), help: "Not supported.")
    var consoleSocket: String?
    @Flag(name: .customLong("init"), help: "Run a tiny init as PID 1 that forwards signals and reaps zombies (AEGIS extension).")
    var useInit = false

    func load() -> (AegisOCI.Spec, String) {
        if consoleSocket != nil { Globals.fail("--console-socket is not supported (terminal: true is not supported)") }
        let dir = absolute(bundle)
        return (guarded { try AegisOCI.Spec.load(bundle: dir) }, dir)
    }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a container; its process waits for `start` before execve.")
    @OptionGroup var options: BundleOptions
    @Argument var id: String

    func run() {
        let (spec, bundle) = options.load()
        let record = guarded {
            try runtime().create(
                id: id, spec: spec, bundle: bundle,
                options: SandboxCreateOptions(stdio: .inherit, useInit: options.useInit, deferStart: true))
        }
        writePidFile(options.pidFile, record.pid)
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a created container.")
    @Argument var id: String
    func run() { guarded { try runtime().start(id) } }
}

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Print the container's state as JSON.")
    @Argument var id: String
    func run() {
        let state = guarded { try runtime().state(id) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = guarded { try encoder.encode(state) }
        print(String(decoding: data, as: UTF8.self))
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "Send a signal (default SIGTERM) to the container's process.")
    @Argument var id: String
    @Argument var signal: String = "SIGTERM"
    func run() {
        guard let sig = Signals.number(signal) else { Globals.fail("unknown signal \"\(signal)\"") }
        guarded { try runtime().kill(id, signal: sig) }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a container: kill what is left, remove its cgroup and state.")
    @Flag(name: [.customShort("f"), .long], help: "Kill a running container first.") var force = false
    @Argument var id: String
    func run() { guarded { try runtime().delete(id, force: force) } }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Create and start a container, wait for it, delete it; exit with its status.")
    @OptionGroup var options: BundleOptions
    @Flag(name: [.customShort("d"), .long], help: "Return once started; leave the container running.") var detach = false
    @Option(
        name: .customLong("outcome"),
        help: "Copy the outcome (exit status, OOM kill, CPU and memory accounting) as JSON to this file (AEGIS extension).")
    var outcomeFile: String?
    @Argument var id: String

    func run() {
        let (spec, bundle) = options.load()
        // Block the signals to forward before anything else starts threads; read them from a signalfd.
        var set = sigset_t()
        sigemptyset(&set)
        for s in Signals.forwarded { sigaddset(&set, s) }
        if !detach { pthread_sigmask(SIG_BLOCK, &set, nil) }
        let rt = runtime()
        let record = guarded {
            try rt.create(
                id: id, spec: spec, bundle: bundle,
                options: SandboxCreateOptions(stdio: .inherit, useInit: options.useInit, deferStart: false))
        }
        writePidFile(options.pidFile, record.pid)
        if detach { return }
        let code = Signals.waitForwarding(rt, record: record, signals: set)
        if let outcomeFile, let o = rt.outcome(id) {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if let data = try? encoder.encode(o) {
                let fd = open(outcomeFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                if fd >= 0 { _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; close(fd) }
            }
        }
        _ = try? rt.delete(id, force: true)
        Foundation_exit(code)
    }
}

@inline(__always) func Foundation_exit(_ code: Int32) -> Never { exit(code) }

struct Spec_: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec",
        abstract: "Write a default config.json into the bundle directory.",
        discussion: """
            Without --agent: a runc-like bundle config (rootfs "rootfs", process sh). With --agent: AEGIS's \
            default agent profile (host /usr, /etc… read-only, /work read-write from --work, new pid/mount/\
            uts/ipc/net/cgroup namespaces, no capabilities, default seccomp) running the given command; its \
            skeleton root is created as BUNDLE/rootfs.
            """)
    @Option(name: [.customShort("b"), .long]) var bundle: String = "."
    @Flag(help: "Use the AEGIS agent profile (AEGIS extension).") var agent = false
    @Option(help: "Agent: host directory bound read-write at /work.") var work: String?
    @Option(help: "Agent: unprivileged uid (and gid) to run as.") var uid: UInt32 = 65534
    @Argument(parsing: .captureForPassthrough, help: "Agent: the command to run.") var command: [String] = []

    func run() {
        let dir = absolute(bundle)
        let path = dir + "/config.json"
        guard access(path, F_OK) != 0 else { Globals.fail("\(path) already exists") }
        var spec = DefaultBundleSpec.make()
        if agent {
            let args = command.first == "--" ? Array(command.dropFirst()) : command
            guard !args.isEmpty else { Globals.fail("spec --agent: name the command to run after --") }
            guard let work else { Globals.fail("spec --agent: --work DIR is required") }
            guarded { try AgentProfile.prepareRootfs(at: dir + "/rootfs") }
            spec = AgentProfile.spec(AgentSandboxRequest(args: args, workDir: absolute(work), uid: uid, gid: uid), rootfs: "rootfs")
        } else if !command.isEmpty {
            Globals.fail("spec: a command is only taken with --agent")
        }
        let data = guarded { try spec.jsonBytes(pretty: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { Globals.fail("\(path): \(Errno.current.explained)") }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

enum Unsupported {
    static func fail(_ what: String) -> Never { Globals.fail("\(what) is not supported by aegis-runtime") }
    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "exec", abstract: "Not supported.")
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() { Unsupported.fail("exec") }
    }
    struct Ps: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ps", abstract: "Not supported.")
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() { Unsupported.fail("ps") }
    }
    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pause", abstract: "Not supported.")
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() { Unsupported.fail("pause") }
    }
    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "resume", abstract: "Not supported.")
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() { Unsupported.fail("resume") }
    }
    struct Features: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "features", abstract: "Not supported.")
        @Argument(parsing: .allUnrecognized) var rest: [String] = []
        func run() { Unsupported.fail("features") }
    }
}
