// SandboxExec.swift — `exec`: a further process inside a running sandbox, as `runc exec` runs one
// (the OCI runtime spec defines no exec operation; runc's behaviour is the reference). The process
// joins every namespace of the container's process through a pidfd, is cloned into the sandbox's
// cgroup, and gets exactly the container process's confinement from exec.json (capabilities,
// no_new_privs, seccomp, rlimits; its user unless the caller names another).
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import CAegisShim
import AegisSystem

/// How to run a process in a running sandbox (`SandboxRuntime.exec`).
public struct SandboxExecOptions: Sendable {
    /// Program and arguments; `args[0]` without a '/' is looked up through the PATH of the
    /// environment, inside the container's root only.
    public var args: [String]
    /// `KEY=VALUE` entries; nil: the container's `process.env` (as `runc exec` without --process).
    public var env: [String]?
    /// Absolute working directory, resolved beneath the container's root; nil: the container's
    /// `process.cwd`.
    public var cwd: String?
    /// Another identity: uid and gid in the container's user namespace, `additionalGids` nil keeping
    /// the container's (as `runc exec --user`). nil: the container's `process.user`. Capabilities,
    /// no_new_privs, seccomp and rlimits are always the container's; there is no way to add any.
    public var user: User?
    /// stdin/stdout/stderr: `.inherit` or `.descriptors` (-1: /dev/null). Log files belong to the
    /// container's own process and are refused (`.unsupported`).
    public var stdio: SandboxStdio
    /// How long the process may run, counted from its execve (wall clock); then it and its process
    /// group get SIGKILL and the result says `timedOut`. nil: no limit.
    public var timeout: Duration?

    public init(
        args: [String], env: [String]? = nil, cwd: String? = nil, user: User? = nil,
        stdio: SandboxStdio = .inherit, timeout: Duration? = nil
    ) {
        self.args = args
        self.env = env
        self.cwd = cwd
        self.user = user
        self.stdio = stdio
        self.timeout = timeout
    }
}

/// How an exec'd process ended.
public struct SandboxExecResult: Sendable, Equatable {
    /// Its pid in the runtime's pid namespace (host view).
    public var pid: Int32
    /// The exit code, or 128 + the signal number when a signal ended it (shell convention, as runc
    /// exec exits).
    public var exitCode: Int32
    /// The terminating signal, 0 when it exited.
    public var signal: Int32
    /// True when the timeout passed and it was killed (SIGKILL to its process group).
    public var timedOut: Bool

    public init(pid: Int32, exitCode: Int32, signal: Int32, timedOut: Bool) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
        self.timedOut = timedOut
    }
}

/// What an exec'd process gets unless `SandboxExecOptions` says otherwise: the container
/// process's user, environment and working directory (from exec.json).
public struct SandboxExecDefaults: Sendable, Equatable {
    public var user: User
    public var env: [String]
    public var cwd: String
}

extension SandboxRuntime {
    /// The defaults of `exec` in sandbox `id` (runc exec starts from the container's process, so
    /// `--env` adds to its environment). - Throws: `.notFound`, `.unsupported` without exec.json.
    public func execDefaults(_ id: String) throws -> SandboxExecDefaults {
        _ = try record(id)
        let c = try SandboxExecConfig.read(directory: stateDirectory(id), id: id)
        return SandboxExecDefaults(user: c.user, env: c.env, cwd: c.cwd)
    }

    /// Runs a process inside the running sandbox `id` and waits for it (`runc exec`).
    /// - Returns: its exit code (128 + N for signal N) and whether `options.timeout` killed it.
    /// - Throws: `SandboxError` — `.notFound` for an unknown id, `.wrongState` when the sandbox is
    ///   not running (created, stopped, or its process is gone: a reused pid is never joined),
    ///   `.step` naming the failed step, errno and detail ("setns: EPERM (1): Operation not
    ///   permitted: mnt,pid,ipc,uts,net", "exec lookup: ENOENT (2): No such file or directory:
    ///   /bin/nope"), `.invalidSpec` for bad options, `.unsupported` for a sandbox without
    ///   exec.json. On failure no process and no descriptor is left.
    public func exec(_ id: String, _ options: SandboxExecOptions) throws -> SandboxExecResult {
        try startExec(id, options).wait(timeout: options.timeout)
    }

    /// Starts a process inside the running sandbox `id` and returns once it reached execve; the
    /// caller waits for it (`SandboxExecProcess.wait`), forwarding signals meanwhile if it likes.
    /// `options.timeout` is not applied here (pass it to `wait`). Errors as `exec`.
    public func startExec(_ id: String, _ options: SandboxExecOptions) throws -> SandboxExecProcess {
        guard !options.args.isEmpty else { throw SandboxError(.invalidSpec, "args: must name the program to run") }
        let r = try record(id)
        let s = status(r)
        guard s == .running else {
            throw SandboxError(.wrongState, "cannot exec in container \"\(id)\": it is \(s.rawValue)")
        }
        let config = try SandboxExecConfig.read(directory: stateDirectory(id), id: id)
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        let stdio = try Self.execStdio(options.stdio, opened: &fds)
        let target = try ExecTarget.open(r, chroot: config.chroot, opened: &fds)
        var plan = try ExecPlan(config: config, options: options, stdio: stdio, oomScoreAdj: target.oomScoreAdj)
        var c = aegis_exec_config()
        c.pidfd = target.pidfd
        c.ns_flags = target.namespaces
        c.join_cgroupns = target.joinCgroupNamespace ? 1 : 0
        c.cgroup_fd = target.cgroupFD
        c.root_fd = target.rootFD
        var result = aegis_exec_result()
        let rc = withUnsafePointer(to: &plan.process) { process in
            c.process = process
            return aegis_exec_start(&c, &result)
        }
        withExtendedLifetime(plan) {}
        guard rc == 0 else {
            // The process ended between the checks and the setns: it is not running.
            if result.step == Int32(AEGIS_STEP_SETNS_NET.rawValue) && result.err == ESRCH {
                throw SandboxError(.wrongState, "cannot exec in container \"\(id)\": its process \(r.pid) is gone")
            }
            throw SandboxError.shim(step: result.step, err: result.err, detail: result.detail)
        }
        return try SandboxExecProcess(child: result.pid)
    }

    /// The descriptors for 0, 1, 2 of an exec'd process (/dev/null opened here for -1: the
    /// container's own /dev may have none). - Throws: `.unsupported` for log files.
    static func execStdio(_ stdio: SandboxStdio, opened: inout [Int32]) throws -> (Int32, Int32, Int32) {
        let given: (Int32, Int32, Int32)
        switch stdio {
        case .inherit: return (0, 1, 2)
        case let .descriptors(i, o, e): given = (i, o, e)
        case .logFiles, .cappedLogs:
            throw SandboxError(.unsupported, "exec: stdio \(stdio) is the container's own; pass .inherit or .descriptors")
        }
        guard given.0 < 0 || given.1 < 0 || given.2 < 0 else { return given }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw SandboxError.system("open", "/dev/null") }
        opened.append(null)
        return (given.0 < 0 ? null : given.0, given.1 < 0 ? null : given.1, given.2 < 0 ? null : given.2)
    }
}
