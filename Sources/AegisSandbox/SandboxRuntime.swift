// SandboxRuntime.swift — create / start / state / kill / wait / delete of sandboxes, found again
// from their state directories by any later process (OCI runtime.md § Operations).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisCgroup
import AegisOCI
import AegisSeccomp
import CAegisShim
import AegisSystem

/// How to create a sandbox.
public struct SandboxCreateOptions: Sendable {
    public var stdio: SandboxStdio
    /// A tiny init from the shim is PID 1 and runs the process as its child (AEGIS agents). The OCI
    /// CLI runs the spec's process as PID 1 itself, as runc does.
    public var useInit: Bool
    /// OCI `create`: stop before execve until `start` (exec FIFO). False: run at once.
    public var deferStart: Bool
    /// Testing: use clone + cgroup.procs instead of clone3 with CLONE_INTO_CGROUP.
    public var forceCloneFallback: Bool
    /// Self-fencing (dead man's switch): absolute path of a lease file whose mtime the node daemon
    /// keeps fresh. The sandbox's supervisor stats it at least once a second; when CLOCK_REALTIME −
    /// st_mtim exceeds `leaseGraceMs` (or the file is gone) it kills the sandbox's whole cgroup and
    /// records `fenced` in the outcome. nil: no lease. The file must exist and be fresh at create.
    public var leaseFile: String?
    /// Grace for `leaseFile`, milliseconds (1 ... 86_400_000).
    public var leaseGraceMs: Int

    public init(
        stdio: SandboxStdio = .inherit, useInit: Bool = false, deferStart: Bool = false,
        forceCloneFallback: Bool = false, leaseFile: String? = nil, leaseGraceMs: Int = SandboxLease.defaultGraceMs
    ) {
        self.stdio = stdio
        self.useInit = useInit
        self.deferStart = deferStart
        self.forceCloneFallback = forceCloneFallback
        self.leaseFile = leaseFile
        self.leaseGraceMs = leaseGraceMs
    }
}

/// Runs sandboxes whose state lives under `stateRoot/<id>/` (see SandboxRecord.swift).
///
/// Sandboxes don't depend on the process that created them: a per-sandbox supervisor (C, from the
/// shim) waits for the container process and writes `outcome.json`. Any `SandboxRuntime` on the
/// same `stateRoot` can later report, signal, wait for and delete them.
public final class SandboxRuntime: Sendable {
    public let stateRoot: String
    /// Absolute cgroup2 path under which sandbox leaves are created.
    public let cgroups: Cgroup2Manager
    /// The aegis-supervisor executable, or nil to supervise from the forked copy of this process.
    public let supervisorPath: String?
    /// The aegis-init executable (PID 1 of sandboxes created with `useInit`), held as a sealed memfd.
    let initImage: SandboxInitImage
    /// Where aegis-init was found (next to this executable, or AEGIS_INIT); nil: not found.
    public var initPath: String? { initImage.path }
    let seccompCache = SeccompProgramCache.shared
    /// Compiled filters kept across processes (`<stateRoot>/.seccomp/`).
    let seccompDiskCache: SeccompDiskCache

    /// - Parameters:
    ///   - stateRoot: directory holding one state directory per sandbox (created if missing).
    ///   - cgroupParent: cgroup2 path relative to the hierarchy root under which sandboxes get their
    ///     leaves; default `aegis/` under this process's own cgroup (Cgroup2Manager rules).
    /// - Throws: `SandboxError` when the cgroup2 hierarchy can't be found.
    public init(
        stateRoot: String, cgroupParent: String? = nil,
        supervisorPath: String? = SandboxRuntime.locateSupervisor(),
        initPath: String? = SandboxRuntime.locateHelper("aegis-init", environment: "AEGIS_INIT")
    ) throws {
        self.stateRoot = stateRoot
        self.supervisorPath = supervisorPath
        self.initImage = SandboxInitImage(path: initPath)
        self.seccompDiskCache = SeccompDiskCache(directory: stateRoot + "/.seccomp")
        do { cgroups = try Cgroup2Manager.system(parent: cgroupParent) } catch {
            throw SandboxError(.system, "\(error)", underlying: error)
        }
    }

    /// This build's version (AEGIS_VERSION in aegis_shim.h).
    public static let version = AEGIS_VERSION

    /// The aegis-supervisor next to this executable (or AEGIS_SUPERVISOR).
    public static func locateSupervisor() -> String? {
        locateHelper("aegis-supervisor", environment: "AEGIS_SUPERVISOR")
    }

    /// The helper executable `name` next to this executable (test bundles: one level up), or the
    /// path in the environment variable `environment` when set.
    public static func locateHelper(_ name: String, environment: String) -> String? {
        if let env = getenv(environment) { return String(cString: env) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        var dir = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while let slash = dir.lastIndex(of: "/") {
            dir = String(dir[..<slash])
            let candidate = dir + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
            if !dir.hasSuffix(".xctest") { break }  // test bundles live one level down
        }
        return nil
    }

    public func stateDirectory(_ id: String) -> String { stateRoot + "/" + id }

    // MARK: create

    /// Creates (and, unless `deferStart`, starts) a sandbox from an OCI spec.
    /// - Returns: the record written to state.json.
    /// - Throws: `SandboxError` naming the field, step and errno. On failure nothing is left behind:
    ///   no process, cgroup leaf or state directory.
    @discardableResult
    public func create(
        id: String, spec: Spec, bundle: String, options: SandboxCreateOptions = SandboxCreateOptions()
    ) throws -> SandboxRecord {
        try Self.validateID(id)
        let spec = Self.withoutSELinuxLabels(spec)
        do { try spec.validate() } catch { throw SandboxError(.invalidSpec, "\(error)", underlying: error) }
        let rootfs = try resolveRootfs(spec, bundle: bundle)
        let limits = try Self.cgroupLimits(spec.linux?.resources)
        if let lease = options.leaseFile { try SandboxLease.checkFresh(path: lease, graceMs: options.leaseGraceMs) }

        try SandboxError.os(try FileSystem.makeDirectories(stateRoot, mode: 0o711))
        let dir = stateDirectory(id)
        if mkdir(dir, 0o711) != 0 {
            if errno == EEXIST { throw SandboxError(.alreadyExists, "container \"\(id)\" already exists (\(dir))") }
            throw SandboxError.system("mkdir", dir)
        }
        var cgroup: SandboxCgroup?
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        do {
            let plan = try LaunchPlan(spec: spec, bundle: bundle, rootfs: rootfs) { profile in
                try self.seccompProgram(profile)
            }
            // What a later `exec` needs of this spec (the spec itself is not kept).
            try SandboxExecConfig(spec: spec, plan: plan).write(directory: dir)
            var c = plan.config
            do {
                _ = try cgroups.prepare()
                let leaf = try cgroups.create(id: id, path: spec.linux?.cgroupsPath.flatMap { $0.isEmpty ? nil : $0 }, limits: limits)
                cgroup = leaf
                c.cgroup_fd = try leaf.openDirectoryFD()
                fds.append(c.cgroup_fd)
            } catch { throw SandboxError(.unsupported, error.description) }
            // The device allowlist is in force before the process is cloned into the leaf.
            if let rules = DeviceRules.effective(resources: spec.linux?.resources, devices: spec.linux?.devices) {
                try DeviceRules.attach(rules, cgroupFD: c.cgroup_fd)
            }
            c.state_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard c.state_dir_fd >= 0 else { throw SandboxError.system("open", dir) }
            fds.append(c.state_dir_fd)
            if let idmap = plan.rootIdmap {
                var r = aegis_idmap_result()
                let fd = aegis_idmap_userns(idmap.uidMap, idmap.gidMap, &r)
                guard fd >= 0 else { throw SandboxError.shim(step: r.step, err: r.err, detail: r.detail) }
                fds.append(fd)
                c.root_idmap_userns_fd = fd
            }
            let joinFDs = try JoinedNamespaces.open(plan.joinedNamespaces, opened: &fds)
            c.join_fds = plan.arena.array(joinFDs)
            c.join_types = plan.arena.array(plan.joinedNamespaces.map(\.type))
            c.n_join = Int32(joinFDs.count)
            switch options.stdio {
            case .inherit: (c.stdin_fd, c.stdout_fd, c.stderr_fd) = (0, 1, 2)
            case let .descriptors(i, o, e): (c.stdin_fd, c.stdout_fd, c.stderr_fd) = (i, o, e)
            case .logFiles:
                for (name, slot) in [("stdout.log", 1), ("stderr.log", 2)] {
                    let fd = open(dir + "/" + name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
                    guard fd >= 0 else { throw SandboxError.system("open", dir + "/" + name) }
                    fds.append(fd)
                    if slot == 1 { c.stdout_fd = fd } else { c.stderr_fd = fd }
                }
                c.stdin_fd = -1
            case let .cappedLogs(directory, capBytes):
                fds += try CappedLog.attach(&c, directory: directory, capBytes: capBytes)
            }
            let fifo = dir + "/exec.fifo"
            // Hooks run between create and start: a spec with hooks always stops at the exec FIFO.
            let hasHooks = spec.hooks.map { h in HookPoint.allCases.contains { !$0.hooks(in: h).isEmpty } } ?? false
            let deferStart = options.deferStart || hasHooks
            if deferStart {
                guard mkfifo(fifo, 0o622) == 0 else { throw SandboxError.system("mkfifo", fifo) }
                chmod(fifo, 0o622)  // not narrowed by umask: the container's user opens it
            }
            c.use_init = options.useInit ? 1 : 0
            c.init_fd = options.useInit ? try initImage.descriptor() : -1
            c.force_clone_fallback = options.forceCloneFallback ? 1 : 0
            var result = aegis_spawn_result()
            let started = Self.nowNs()
            c.started_at_ns = started
            if deferStart { c.exec_fifo = plan.arena.string(fifo) }
            c.supervisor_path = plan.arena.string(supervisorPath)
            c.supervisor_exec_delay_ms = 50
            if let lease = options.leaseFile {
                c.lease_file = plan.arena.string(lease)
                c.lease_grace_ms = Int32(options.leaseGraceMs)
            }
            let rc = aegis_spawn(&c, &result)
            withExtendedLifetime(plan) {}
            if rc != 0 { throw SandboxError.shim(result) }
            let record = SandboxRecord(
                id: id, bundle: bundle, rootfs: rootfs, pid: result.pid,
                pidStartTime: ProcFS.startTime(of: result.pid) ?? 0,
                supervisorPid: result.supervisor_pid,
                supervisorStartTime: ProcFS.startTime(of: result.supervisor_pid) ?? 0,
                cgroupPath: cgroup?.path, createdAtNs: started, annotations: spec.annotations,
                ociVersion: spec.ociVersion, useInit: options.useInit, usedClone3: result.used_clone3 != 0,
                leaseFile: options.leaseFile, leaseGraceMs: options.leaseFile == nil ? nil : options.leaseGraceMs,
                hooks: hasHooks ? spec.hooks : nil)
            let bytes = Array(try JSONEncoder().encode(record))
            // No directory fsync: the processes this describes don't outlive a power loss either.
            try SandboxError.os(try FileSystem.writeAtomically(dir + "/state.json", bytes, syncDirectory: false))
            if hasHooks { try runCreateHooks(record, startNow: !options.deferStart) }
            return record
        } catch {
            if let leaf = cgroup {
                try? leaf.remove()
                cgroups.removeEmptyAncestors(of: leaf.path)
            }
            FileSystem.removeTree(dir)
            throw error
        }
    }

    /// The compiled filter: from memory, else from the disk cache, else compiled (≈15 ms).
    func seccompProgram(_ profile: LinuxSeccomp) throws -> SeccompProgram {
        do {
            let program = try seccompCache.program(for: profile) {
                try seccompDiskCache.program(for: profile) { try SeccompCompiler.compile(profile) }
            }
            // Every sandbox with such a profile warns, also when its filter came from a cache.
            for w in program.warnings { Self.warn(w) }
            return program
        } catch let e as SeccompError {
            throw SandboxError(.invalidSpec, e.description)
        }
    }

    // MARK: queries

    /// Reads state.json. Throws `.notFound` for an unknown id.
    public func record(_ id: String) throws -> SandboxRecord {
        try Self.validateID(id)
        let path = stateDirectory(id) + "/state.json"
        guard access(path, F_OK) == 0 else { throw SandboxError(.notFound, "container \"\(id)\" does not exist") }
        do { return try JSONDecoder().decode(SandboxRecord.self, from: Data(try FileSystem.readBytes(path))) } catch {
            throw SandboxError(.system, "\(path): unreadable state: \(error)", underlying: error)
        }
    }

    /// OCI status: created (waiting for `start`), running, or stopped.
    public func status(_ record: SandboxRecord) -> ContainerStatus {
        guard ProcFS.isAlive(record.pid, startTime: record.pidStartTime) else { return .stopped }
        return access(stateDirectory(record.id) + "/exec.fifo", F_OK) == 0 ? .created : .running
    }

    /// The OCI state (runtime.md § State).
    public func state(_ id: String) throws -> ContainerState {
        let r = try record(id)
        let s = status(r)
        return ContainerState(
            ociVersion: r.ociVersion, id: id, status: s, pid: s == .stopped ? 0 : r.pid,
            bundle: r.bundle, annotations: r.annotations)
    }

    /// outcome.json, once the supervisor wrote it.
    public func outcome(_ id: String) -> SandboxOutcome? {
        guard let text = try? FileSystem.readText(stateDirectory(id) + "/outcome.json") else { return nil }
        return try? JSONDecoder().decode(SandboxOutcome.self, from: Data(text.utf8))
    }

    /// Ids of all sandboxes with a state directory.
    public func list() -> [String] {
        guard let d = opendir(stateRoot) else { return [] }
        defer { closedir(d) }
        var ids: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != ".", name != "..", access(stateRoot + "/" + name + "/state.json", F_OK) == 0 { ids.append(name) }
        }
        return ids.sorted()
    }

    // MARK: operations

    /// OCI `start`: releases a created sandbox's process into execve.
    public func start(_ id: String) throws {
        let r = try record(id)
        let s = status(r)
        guard s == .created else { throw SandboxError(.wrongState, "cannot start container \"\(id)\": it is \(s.rawValue)") }
        let fifo = stateDirectory(id) + "/exec.fifo"
        do {
            try HookRunner.run(.startContainer, of: r.hooks, state: hookState(r, .created), containerPid: r.pid)
        } catch {
            try? Self.signal(pid: r.pid, startTime: r.pidStartTime, SIGKILL)
            throw error
        }
        var result = aegis_spawn_result()
        if aegis_start(fifo, &result) != 0 { throw SandboxError.shim(result) }
        unlink(fifo)
        try HookRunner.run(.poststart, of: r.hooks, state: hookState(r, .running), containerPid: r.pid)
    }

    /// The state a hook gets on stdin (runtime.md § State) at a lifecycle point.
    func hookState(_ r: SandboxRecord, _ status: ContainerStatus) -> ContainerState {
        ContainerState(
            ociVersion: r.ociVersion, id: r.id, status: status, pid: status == .stopped ? 0 : r.pid,
            bundle: r.bundle, annotations: r.annotations)
    }

    /// prestart, createRuntime and createContainer after the container process is waiting at the
    /// exec FIFO (runtime.md § Lifecycle steps 5-7); a failing hook deletes the container. With
    /// `startNow` (create without a separate start) the container is started afterwards.
    private func runCreateHooks(_ r: SandboxRecord, startNow: Bool) throws {
        do {
            for point in [HookPoint.prestart, .createRuntime, .createContainer] {
                try HookRunner.run(point, of: r.hooks, state: hookState(r, .created), containerPid: r.pid)
            }
            if startNow { try start(r.id) }
        } catch {
            var quiet = r
            quiet.hooks = nil  // no poststop for a container that never started
            if let bytes = try? JSONEncoder().encode(quiet) {
                try? FileSystem.writeAtomically(stateDirectory(r.id) + "/state.json", Array(bytes), syncDirectory: false)
            }
            try? delete(r.id, force: true)
            throw error
        }
    }

    /// Sends `signal` to the sandbox's process (PID 1 of its namespace), through a pidfd so that a
    /// reused pid is never signalled.
    public func kill(_ id: String, signal: Int32) throws {
        let r = try record(id)
        guard status(r) != .stopped else { throw SandboxError(.wrongState, "container \"\(id)\" is not running") }
        try Self.signal(pid: r.pid, startTime: r.pidStartTime, signal)
    }

    /// Waits until the supervisor has recorded the outcome (or `timeout` passes: nil).
    public func wait(_ id: String, timeout: Duration? = nil) throws -> SandboxOutcome? {
        let r = try record(id)
        if let o = outcome(id) { return o }
        if ProcFS.isAlive(r.supervisorPid, startTime: r.supervisorStartTime) || r.supervisorStartTime == 0 {
            let fd = Syscall.pidfdOpen(r.supervisorPid)
            if fd >= 0 {
                defer { close(fd) }
                // The pidfd refers to the right process only if it still has the recorded start time.
                if r.supervisorStartTime == 0 || ProcFS.isAlive(r.supervisorPid, startTime: r.supervisorStartTime) {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ms = Duration.pollTimeout(timeout)
                    while Glibc.poll(&p, 1, ms) < 0 && errno == EINTR {}
                }
            }
        }
        return outcome(id)
    }

    /// OCI `delete`: kills what is left (cgroup.kill), removes the cgroup leaf and the state
    /// directory. A running sandbox needs `force`.
    public func delete(_ id: String, force: Bool = false) throws {
        let r = try record(id)
        let s = status(r)
        if s == .running && !force {
            throw SandboxError(.wrongState, "cannot delete container \"\(id)\": it is running (stop it first or use --force)")
        }
        if s != .stopped { try? Self.signal(pid: r.pid, startTime: r.pidStartTime, SIGKILL) }
        if let path = r.cgroupPath, access(path, F_OK) == 0 {
            do { try cgroups.open(existingPath: path).remove() } catch {
                throw SandboxError(.system, "delete \(id): \(error.description)", underlying: error)
            }
            cgroups.removeEmptyAncestors(of: path)
        }
        _ = try? wait(id, timeout: .seconds(5))  // the supervisor exits right after the process
        FileSystem.removeTree(stateDirectory(id))
        try HookRunner.run(.poststop, of: r.hooks, state: hookState(r, .stopped), containerPid: 0)
    }

    // MARK: helpers

    static func signal(pid: Int32, startTime: UInt64, _ sig: Int32) throws {
        let fd = Syscall.pidfdOpen(pid)
        guard fd >= 0 else { throw SandboxError.system("pidfd_open", "pid \(pid)") }
        defer { close(fd) }
        guard ProcFS.isAlive(pid, startTime: startTime) else { throw SandboxError(.wrongState, "process \(pid) is gone") }
        guard Syscall.pidfdSendSignal(fd, sig) == 0 else { throw SandboxError.system("pidfd_send_signal", "pid \(pid)") }
    }

    static func validateID(_ id: String) throws {
        let ok =
            !id.isEmpty && id.count <= 128 && id.first != "."
            && id.utf8.allSatisfy {
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46
            }
        guard ok else {
            throw SandboxError(.invalidID, "invalid container id \"\(id)\": use 1-128 of [A-Za-z0-9_.-], not starting with '.'")
        }
    }

    func resolveRootfs(_ spec: Spec, bundle: String) throws -> String {
        guard let root = spec.root?.path else { throw SandboxError(.invalidSpec, "root.path: required") }
        let path = root.hasPrefix("/") ? root : bundle + "/" + root
        guard let real = realpath(path, nil) else {
            throw SandboxError(.invalidSpec, "root.path: \(path): \(Errno.current.explained)")
        }
        defer { free(real) }
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SandboxError(.invalidSpec, "root.path: \(path): not a directory")
        }
        return String(cString: real)
    }

    /// linux.resources → cgroup v2 files (cgroup-v2.rst; OCI swap is memory+swap, as runc converts).
    static func cgroupLimits(_ r: LinuxResources?) throws -> CgroupLimits { try ResourceFiles.limits(r) }

    static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// On a host without SELinux (no /sys/fs/selinux/enforce) labels have no effect at all, and
    /// runc and crun ignore them there: the spec is taken without them and a warning says so. With
    /// SELinux enabled they stay and validation refuses them (AEGIS doesn't apply labels).
    static func withoutSELinuxLabels(_ spec: Spec) -> Spec {
        guard access("/sys/fs/selinux/enforce", F_OK) != 0 else { return spec }
        var spec = spec
        if let label = spec.linux?.mountLabel, !label.isEmpty {
            warn("linux.mountLabel \"\(label)\" ignored: SELinux is not enabled on this host")
            spec.linux?.mountLabel = nil
        }
        if let label = spec.process?.selinuxLabel, !label.isEmpty {
            warn("process.selinuxLabel \"\(label)\" ignored: SELinux is not enabled on this host")
            spec.process?.selinuxLabel = nil
        }
        return spec
    }

    static func warn(_ message: String) {
        let line = "warning: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
