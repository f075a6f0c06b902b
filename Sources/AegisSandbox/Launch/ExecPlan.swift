// ExecPlan.swift — what the shim needs for one `exec` (aegis_exec_config, exec.c): the container's
// process verified through a pidfd, the namespaces to join, its cgroup, and the exec'd process
// described as the process part of an aegis_spawn_config, built from exec.json exactly as
// LaunchPlan builds the container's.
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSeccomp
import CAegisShim
import AegisSystem

/// The container's process, verified, and what is joined of it.
struct ExecTarget {
    /// pidfd of the container's process: opened before its start time was checked, so it refers
    /// to that process and never to a later one with its pid (setns through it fails with ESRCH
    /// once the process is gone).
    var pidfd: Int32 = -1
    /// CLONE_NEW* joined before the fork: mnt, pid, ipc, uts, net, and user when the container's
    /// differs from the runtime's (joining one's own user namespace is EINVAL).
    var namespaces: UInt64 = 0
    /// The container's cgroup namespace differs from the runtime's: joined once in the cgroup.
    var joinCgroupNamespace = false
    /// The container process's root (/proc/PID/root) for a container that is only chroot'ed; -1.
    var rootFD: Int32 = -1
    /// The container process's oom_score_adj.
    var oomScoreAdj: Int32?
    /// The sandbox's cgroup leaf (O_DIRECTORY), -1 without one.
    var cgroupFD: Int32 = -1

    /// Opens and verifies the container's process of `r`; every descriptor is appended to `opened`.
    /// - Throws: `.wrongState` when the process is gone or its pid belongs to another process now,
    ///   `.system` when a descriptor can't be opened.
    static func open(_ r: SandboxRecord, chroot: Bool, opened: inout [Int32]) throws -> ExecTarget {
        var t = ExecTarget()
        let gone = SandboxError(.wrongState, "container \"\(r.id)\" is not running: its process \(r.pid) is gone")
        t.pidfd = Syscall.pidfdOpen(r.pid)
        guard t.pidfd >= 0 else {
            if errno == ESRCH { throw gone }
            throw SandboxError.system("pidfd_open", "pid \(r.pid)")
        }
        opened.append(t.pidfd)
        // The pidfd was opened first: if the start time matches now, it is the container's process.
        guard ProcFS.isAlive(r.pid, startTime: r.pidStartTime) else { throw gone }
        let proc = "/proc/\(r.pid)"
        t.namespaces = UInt64(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET)
        if try !sameNamespace(proc, "user") { t.namespaces |= UInt64(CLONE_NEWUSER) }
        t.joinCgroupNamespace = try !sameNamespace(proc, "cgroup")
        if let text = try? FileSystem.readText(proc + "/oom_score_adj") { t.oomScoreAdj = Int32(text.filter { !$0.isWhitespace }) }
        if chroot {
            t.rootFD = Glibc.open(proc + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard t.rootFD >= 0 else { throw SandboxError.system("open", proc + "/root") }
            opened.append(t.rootFD)
        }
        // Still running after those reads (its pidfd not readable): they were all of that process.
        var p = pollfd(fd: t.pidfd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, 0) == 0 else { throw gone }
        if let path = r.cgroupPath {
            t.cgroupFD = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard t.cgroupFD >= 0 else { throw SandboxError.system("open cgroup", path) }
            opened.append(t.cgroupFD)
        }
        return t
    }

    /// Whether /proc/PID/ns/`name` is the runtime's own namespace (nsfs identity).
    static func sameNamespace(_ proc: String, _ name: String) throws -> Bool {
        var theirs = stat(), ours = stat()
        guard stat(proc + "/ns/" + name, &theirs) == 0 else { throw SandboxError.system("stat", proc + "/ns/" + name) }
        guard stat("/proc/self/ns/" + name, &ours) == 0 else { throw SandboxError.system("stat", "/proc/self/ns/" + name) }
        return theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino
    }
}

/// The exec'd process as the shim's aegis_spawn_config (its process fields only).
struct ExecPlan {
    let arena = CArena()
    var process = aegis_spawn_config()
    /// Kept alive for `process.seccomp_filter`.
    var seccomp: SeccompProgram?

    /// - Parameters:
    ///   - stdio: open descriptors for 0, 1, 2.
    /// - Throws: `.invalidSpec` naming the option (args, cwd) or the exec.json field.
    init(config: SandboxExecConfig, options: SandboxExecOptions, stdio: (Int32, Int32, Int32), oomScoreAdj: Int32?) throws {
        guard !options.args.isEmpty else { throw SandboxError(.invalidSpec, "args: must name the program to run") }
        let cwd = options.cwd ?? config.cwd
        guard cwd.hasPrefix("/") else { throw SandboxError(.invalidSpec, "cwd: must be absolute, got \"\(cwd)\"") }
        var p = aegis_spawn_config()
        p.cgroup_fd = -1
        p.state_dir_fd = -1
        p.init_fd = -1
        (p.stdin_fd, p.stdout_fd, p.stderr_fd) = stdio
        if let adj = oomScoreAdj {
            p.has_oom_score_adj = 1
            p.oom_score_adj = adj
        }
        let env = options.env ?? config.env
        p.cwd = arena.string(cwd)
        p.argv = arena.stringArray(options.args)
        p.envp = arena.stringArray(env)
        p.path_env = arena.string(env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) })

        // Identity: the caller may pick another user; never other privileges.
        var user = config.user
        if let u = options.user {
            user = User(uid: u.uid, gid: u.gid, additionalGids: u.additionalGids ?? config.user.additionalGids)
        }
        p.uid = user.uid
        p.gid = user.gid
        let gids = user.additionalGids ?? []
        p.additional_gids = arena.array(gids)
        p.n_additional_gids = Int32(gids.count)

        // Confinement: exactly the container's (exec.json), as LaunchPlan computed it at create.
        p.no_new_privs = config.noNewPrivileges ? 1 : 0
        let caps = config.capabilities ?? LinuxCapabilities()
        let field = SandboxExecConfig.fileName + " capabilities"
        p.cap_bounding = try LaunchPlan.capMask(caps.bounding, field: field + ".bounding")
        p.cap_effective = try LaunchPlan.capMask(caps.effective, field: field + ".effective")
        p.cap_permitted = try LaunchPlan.capMask(caps.permitted, field: field + ".permitted")
        p.cap_inheritable = try LaunchPlan.capMask(caps.inheritable, field: field + ".inheritable")
        p.cap_ambient = try LaunchPlan.capMask(caps.ambient, field: field + ".ambient")
        p.last_cap = LaunchPlan.lastCap
        var limits: [aegis_rlimit] = []
        for (i, r) in config.rlimits.enumerated() {
            guard let res = r.resource else {
                throw SandboxError(.invalidSpec, "\(SandboxExecConfig.fileName) rlimits[\(i)].type: unknown rlimit \"\(r.type)\"")
            }
            limits.append(aegis_rlimit(resource: res, name: arena.string(r.type), soft: r.soft, hard: r.hard))
        }
        p.rlimits = arena.array(limits)
        p.n_rlimits = Int32(limits.count)
        if let program = try config.seccompProgram() {
            seccomp = program
            p.seccomp_len = UInt16(program.count)
            p.seccomp_filter = arena.array(program.instructions)
            p.seccomp_flags = program.installFlags
        }
        process = p
    }
}
