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
import CAegisSys  // <sys/signalfd.h>

struct AegisRuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aegis-runtime",
        abstract: "AEGIS OCI runtime: namespaces, cgroup v2, seccomp and capabilities, no daemon.",
        discussion: """
            Global flags (before the command): --root DIR (default /run/aegis-runtime), --log FILE, \
            --log-format text|json.
            """,
        subcommands: [
            Create.self, Start.self, State.self, Kill.self, Delete.self, Run.self, Exec.self, Spec_.self,
            Unsupported.Ps.self, Unsupported.Pause.self,
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

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a process inside a running container; exit with its status.",
        discussion: """
            runc's exec: the process joins the container's namespaces and cgroup with exactly its \
            capabilities, no_new_privs, seccomp filter and rlimits. ARGS (or --process) name the program; \
            --env adds to the container's environment. Signals are forwarded to it. Not supported: \
            --tty, --console-socket, --cap, --no-new-privs, --apparmor, --process-label, --preserve-fds, \
            --cgroup.
            """)
    @Option(name: [.customShort("p"), .long], help: "process.json: the OCI process (args, env, cwd, user) to run.")
    var process: String?
    @Option(name: [.customShort("e"), .long], help: "Add KEY=VALUE to the environment (repeatable).") var env: [String] = []
    @Option(name: .long, help: "Working directory inside the container.") var cwd: String?
    @Option(name: [.customShort("u"), .long], help: "Run as uid[:gid] (the container's user namespace).") var user: String?
    @Option(name: [.customShort("g"), .customLong("additional-gids")], help: "Additional gid (repeatable).")
    var additionalGids: [UInt32] = []
    @Flag(name: [.customShort("d"), .long], help: "Return once it started; leave it running.") var detach = false
    @Option(name: .customLong("pid-file"), help: "Write the process's pid to this file.") var pidFile: String?
    @Flag(name: [.customShort("t"), .long], help: "Not supported.") var tty = false
    @Option(name: .customLong("console-socket"), help: "Not supported.") var consoleSocket: String?
    @Option(name: [.customShort("c"), .long], help: "Not supported.") var cap: [String] = []
    @Flag(name: .customLong("no-new-privs"), help: "Not supported.") var noNewPrivs = false
    @Option(name: .customLong("apparmor"), help: "Not supported.") var apparmor: String?
    @Option(name: .customLong("process-label"), help: "Not supported.") var processLabel: String?
    @Option(name: .customLong("preserve-fds"), help: "Not supported.") var preserveFds: Int?
    @Option(name: .customLong("cgroup"), help: "Not supported.") var cgroup: String?
    @Argument var id: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var args: [String] = []

    func run() {
        refuseUnsupported()
        let rt = runtime()
        let options = guarded { try execOptions(rt.execDefaults(id)) }
        var set = sigset_t()
        sigemptyset(&set)
        for s in Signals.forwarded { sigaddset(&set, s) }
        if !detach { pthread_sigmask(SIG_BLOCK, &set, nil) }
        let child = guarded { try rt.startExec(id, options) }
        writePidFile(pidFile, child.pid)
        if detach { return child.detach() }
        forwardSignals(set, to: child)
        Foundation_exit(child.wait().exitCode)
    }

    func refuseUnsupported() {
        let refused: [(Bool, String)] = [
            (tty, "--tty (a terminal) is not supported"), (consoleSocket != nil, "--console-socket is not supported"),
            (!cap.isEmpty, "--cap is refused: an exec'd process gets exactly the container's capabilities"),
            (noNewPrivs, "--no-new-privs is not supported (no_new_privs is the container's)"),
            (apparmor != nil, "--apparmor is not supported"), (processLabel != nil, "--process-label is not supported"),
            (preserveFds != nil, "--preserve-fds is not supported"), (cgroup != nil, "--cgroup is not supported"),
        ]
        if let (_, message) = refused.first(where: { $0.0 }) { Globals.fail(message) }
    }

    /// runc's rules: the container's process, replaced by --process, then the flags on top.
    func execOptions(_ defaults: SandboxExecDefaults) throws -> SandboxExecOptions {
        var o = SandboxExecOptions(args: args.first == "--" ? Array(args.dropFirst()) : args, env: defaults.env)
        if let path = process {
            let p = try JSONDecoder().decode(AegisOCI.Process.self, from: Data(try FileSystem.readBytes(absolute(path))))
            if p.terminal == true { Globals.fail("\(path): terminal: true is not supported") }
            if o.args.isEmpty { o.args = p.args ?? [] }
            o.env = p.env ?? []
            if !p.cwd.isEmpty { o.cwd = p.cwd }
            o.user = User(uid: p.user.uid, gid: p.user.gid, additionalGids: p.user.additionalGids ?? [])
            if p.capabilities != nil || p.noNewPrivileges != nil || p.rlimits != nil || p.oomScoreAdj != nil {
                let warning = "\(path): capabilities, noNewPrivileges, rlimits and oomScoreAdj ignored: exec uses the container's"
                Globals.log(level: "warning", warning)
                _ = "aegis-runtime: warning: \(warning)\n".withCString { write(2, $0, strlen($0)) }
            }
        }
        guard !o.args.isEmpty else { Globals.fail("exec: name the command to run (ARGS or --process)") }
        o.env = (o.env ?? []) + env
        if let cwd { o.cwd = cwd }
        if let user {
            let parts = user.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let uid = UInt32(parts[0]), parts.count == 1 || UInt32(parts[1]) != nil else {
                Globals.fail("--user \"\(user)\": expected uid[:gid] (numbers)")
            }
            let base = o.user ?? defaults.user
            o.user = User(uid: uid, gid: parts.count == 2 ? UInt32(parts[1])! : base.gid, additionalGids: base.additionalGids)
        }
        if !additionalGids.isEmpty {
            let base = o.user ?? defaults.user
            o.user = User(uid: base.uid, gid: base.gid, additionalGids: additionalGids)
        }
        return o
    }

    /// Until the process exits, forwards the blocked `signals` to it (poll on its pidfd and a signalfd).
    func forwardSignals(_ signals: sigset_t, to child: SandboxExecProcess) {
        var set = signals
        let sfd = signalfd(-1, &set, Int32(SFD_CLOEXEC))
        guard sfd >= 0 else { return }
        defer { close(sfd) }
        var fds = [pollfd(fd: child.descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: sfd, events: Int16(POLLIN), revents: 0)]
        while fds[0].revents == 0 {
            if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; return }
            var info = signalfd_siginfo()
            if fds[1].revents != 0 && read(sfd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                try? child.signal(Int32(info.ssi_signo))
            }
        }
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
