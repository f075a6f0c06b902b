// LaunchPlan.swift — turns an OCI spec into the shim's C configuration (aegis_spawn_config).
// Everything the child needs is resolved here, in Swift, before fork: paths, flags, capability
// masks, rlimit numbers, the compiled seccomp program. The child only executes the plan.
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSeccomp
import CAegisShim
import AegisSystem

/// Where the container's stdin/stdout/stderr go.
public enum SandboxStdio: Sendable, Equatable {
    /// The caller's own descriptors 0, 1, 2 (runc's pass-through mode).
    case inherit
    /// `stdout.log` and `stderr.log` in the sandbox's state directory; stdin is /dev/null.
    case logFiles
    /// Explicit descriptors of the caller (-1: /dev/null).
    case descriptors(stdin: Int32, stdout: Int32, stderr: Int32)
    /// `stdout.log` and `stderr.log` in `directory`, written by the sandbox's supervisor from
    /// pipes and each kept at most `capBytes` long as it is written (CappedLog.swift); stdin is
    /// /dev/null.
    case cappedLogs(directory: String, capBytes: Int)
}

/// Standard device nodes bound from the host when /dev is a tmpfs (OCI config-linux.md § Default
/// Devices).
let defaultDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

struct LaunchPlan {
    let arena = CArena()
    var config = aegis_spawn_config()
    /// Kept alive for `config.seccomp_filter`.
    var seccomp: SeccompProgram?
    /// linux.namespaces[].path: the namespaces to join, as (CLONE_NEW* type, path); the caller opens
    /// them (`config.join_fds`).
    var joinedNamespaces: [(type: UInt64, path: String)] = []
    /// The root mount's ID mapping (its `uidMappings`/`gidMappings`): the overlay's lowest layer
    /// (`path`) is ID-mapped by a user namespace with these maps, which the caller creates
    /// (`config.root_idmap_userns_fd`).
    var rootIdmap: (path: String, uidMap: String, gidMap: String)?

    /// Builds the plan. Throws `SandboxError.invalidSpec` naming the field for what the shim can't do.
    init(spec: Spec, bundle: String, rootfs: String, compiler: (LinuxSeccomp) throws -> SeccompProgram) throws {
        guard let process = spec.process, let args = process.args, !args.isEmpty else {
            throw SandboxError(.invalidSpec, "process.args: must name the program to run")
        }
        let linux = spec.linux ?? Linux()
        var c = aegis_spawn_config()
        c.cgroup_fd = -1
        c.state_dir_fd = -1
        c.stdin_fd = -1; c.stdout_fd = -1; c.stderr_fd = -1
        c.init_fd = -1

        // Namespaces (config-linux.md § Namespaces): each type becomes a CLONE_NEW* flag; a
        // network namespace with a path is joined instead (setns in the child).
        var flags: UInt64 = 0
        var joins: [(type: UInt64, path: String)] = []
        for (i, ns) in (linux.namespaces ?? []).enumerated() {
            guard let flag = ns.cloneFlag else {
                throw SandboxError(.invalidSpec, "linux.namespaces[\(i)].type: unknown namespace type \"\(ns.type)\"")
            }
            if let path = ns.path, !path.isEmpty {  // spec.validate(): absolute
                joins.append((flag, path))
                continue
            }
            flags |= flag
        }
        joinedNamespaces = joins
        c.clone_flags = flags
        let newMount = flags & UInt64(CLONE_NEWNS) != 0 || joins.contains { $0.type == UInt64(CLONE_NEWNS) }
        if flags & UInt64(CLONE_NEWUSER) != 0 {
            c.uid_map = arena.string(Self.idMap(linux.uidMappings))
            c.gid_map = arena.string(Self.idMap(linux.gidMappings))
        }
        c.loopback_up = flags & UInt64(CLONE_NEWNET) != 0 || joins.contains { $0.type == UInt64(CLONE_NEWNET) } ? 1 : 0

        // Filesystem.
        c.rootfs = arena.string(rootfs)
        c.root_readonly = spec.root?.readonly == true ? 1 : 0
        (c.root_propagation, c.root_propagation_final) = try Self.propagation(linux.rootfsPropagation)
        var mounts: [aegis_mount] = []
        var devTmpfs = false
        for (i, given) in (spec.mounts ?? []).enumerated() {
            var m = given
            if m.destination == "/" { try takeTmpfsUpper(&m, into: &c) }
            let parsed = try mount(m, index: i, bundle: bundle)
            if m.destination == "/" {
                // An AEGIS extension (runc has none): the root's own file system, e.g. an image's
                // overlay, mounted on root.path in the sandbox's mount namespace before any other.
                guard i == 0, parsed.kind == Int32(AEGIS_MOUNT_FS.rawValue) else {
                    throw SandboxError(
                        .invalidSpec, "mounts[\(i)].destination: \"/\" must be the first mount and a file system (e.g. overlay), not a bind"
                    )
                }
                c.root_mount = arena.array([parsed])
                rootIdmap = try Self.rootIdmap(m)
                if let rootIdmap { c.root_idmap_path = arena.string(rootIdmap.path) }
                continue
            }
            mounts.append(parsed)
            if m.destination == "/dev" && m.type == "tmpfs" { devTmpfs = true }
        }
        c.mounts = arena.array(mounts)
        c.n_mounts = Int32(mounts.count)
        let specDevices = linux.devices ?? []
        let nodes = Self.deviceNodes(specDevices, arena: arena)
        c.dev_nodes = arena.array(nodes)
        c.n_dev_nodes = Int32(nodes.count)
        if devTmpfs {
            let listed = Set(specDevices.map(\.path))
            let devices = defaultDevices.filter { access($0, F_OK) == 0 && !listed.contains($0) }.map {
                aegis_device(host_path: arena.string($0), target: arena.string($0))
            }
            c.devices = arena.array(devices)
            c.n_devices = Int32(devices.count)
            c.setup_dev_symlinks = 1
        }
        let masked = linux.maskedPaths ?? [], readonly = linux.readonlyPaths ?? []
        c.masked_paths = masked.isEmpty ? nil : arena.stringArray(masked)
        c.n_masked = Int32(masked.count)
        c.readonly_paths = readonly.isEmpty ? nil : arena.stringArray(readonly)
        c.n_readonly = Int32(readonly.count)
        if !newMount {
            // An unlisted namespace is inherited (config-linux.md § Namespaces). In the runtime's own
            // mount namespace nothing may be mounted — it would change the host's — so the rootfs is
            // only chroot'ed into, and what needs a mount is refused by name.
            var needs: [String] = []
            if !(spec.mounts ?? []).isEmpty { needs.append("mounts") }
            if !masked.isEmpty { needs.append("linux.maskedPaths") }
            if !readonly.isEmpty { needs.append("linux.readonlyPaths") }
            if spec.root?.readonly == true { needs.append("root.readonly") }
            if !specDevices.isEmpty { needs.append("linux.devices") }
            if let field = needs.first {
                throw SandboxError(
                    .invalidSpec,
                    "\(field): needs a mount namespace of the container's own (linux.namespaces lists none; mounting in the runtime's would change the host)"
                )
            }
            c.chroot_rootfs = rootfs != "/" ? 1 : 0
        }

        // Identity.
        let utsNamespace = flags & UInt64(CLONE_NEWUTS) != 0 || joins.contains { $0.type == UInt64(CLONE_NEWUTS) }
        if let h = spec.hostname {
            guard utsNamespace else {
                throw SandboxError(.invalidSpec, "hostname: setting a hostname needs a uts namespace")
            }
            c.hostname = arena.string(h)
        }
        if let d = spec.domainname {
            guard utsNamespace else {
                throw SandboxError(.invalidSpec, "domainname: setting a domainname needs a uts namespace")
            }
            c.domainname = arena.string(d)
        }
        var limits: [aegis_rlimit] = []
        for (i, r) in (process.rlimits ?? []).enumerated() {
            guard let res = r.resource else {
                throw SandboxError(.invalidSpec, "process.rlimits[\(i)].type: unknown rlimit \"\(r.type)\"")
            }
            limits.append(aegis_rlimit(resource: res, name: arena.string(r.type), soft: r.soft, hard: r.hard))
        }
        c.rlimits = arena.array(limits)
        c.n_rlimits = Int32(limits.count)

        // Before the filesystem: oom_score_adj and namespaced sysctls (validated by spec.validate()).
        if let adj = process.oomScoreAdj {
            c.has_oom_score_adj = 1
            c.oom_score_adj = Int32(adj)
        }
        let sysctls = (linux.sysctl ?? [:]).sorted { $0.key < $1.key }
        c.sysctl_paths = arena.stringArray(sysctls.map { "/proc/sys/" + String($0.key.map { $0 == "." ? "/" : $0 }) })
        c.sysctl_values = arena.stringArray(sysctls.map(\.value))
        c.n_sysctl = Int32(sysctls.count)

        // Process.
        let env = process.env ?? []
        c.cwd = arena.string(process.cwd)
        c.argv = arena.stringArray(args)
        c.envp = arena.stringArray(env)
        c.path_env = arena.string(env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) })
        c.uid = process.user.uid
        c.gid = process.user.gid
        let gids = process.user.additionalGids ?? []
        c.additional_gids = arena.array(gids)
        c.n_additional_gids = Int32(gids.count)
        c.no_new_privs = process.noNewPrivileges == true ? 1 : 0
        let caps = process.capabilities ?? LinuxCapabilities()
        c.cap_bounding = try Self.capMask(caps.bounding, field: "process.capabilities.bounding")
        c.cap_effective = try Self.capMask(caps.effective, field: "process.capabilities.effective")
        c.cap_permitted = try Self.capMask(caps.permitted, field: "process.capabilities.permitted")
        c.cap_inheritable = try Self.capMask(caps.inheritable, field: "process.capabilities.inheritable")
        c.cap_ambient = try Self.capMask(caps.ambient, field: "process.capabilities.ambient")
        if c.chroot_rootfs != 0 {
            // Only chroot'ed, in the runtime's mount namespace: CAP_SYS_CHROOT leaves a chroot
            // (chroot to a subdirectory, then climb) and CAP_SYS_ADMIN mounts in the host's namespace.
            let all = c.cap_bounding | c.cap_effective | c.cap_permitted | c.cap_inheritable | c.cap_ambient
            for (bit, name) in [(UInt64(CAP_SYS_CHROOT), "CAP_SYS_CHROOT"), (UInt64(CAP_SYS_ADMIN), "CAP_SYS_ADMIN")]
            where all & (1 << bit) != 0 {
                throw SandboxError(
                    .invalidSpec,
                    "process.capabilities: \(name) with no mount namespace of the container's own would let it leave its chroot or mount on the host; give it a mount namespace or drop \(name)"
                )
            }
        }
        c.last_cap = Self.lastCap

        // Seccomp: compiled (and cached) by the caller's compiler; the child only installs it.
        if let profile = linux.seccomp {
            let program = try compiler(profile)
            seccomp = program
            c.seccomp_len = UInt16(program.count)
            c.seccomp_filter = arena.array(program.instructions)
            c.seccomp_flags = program.installFlags
        }
        config = c
    }

    private func mount(_ m: Mount, index i: Int, bundle: String) throws -> aegis_mount {
        guard m.destination.hasPrefix("/") else {
            throw SandboxError(.invalidSpec, "mounts[\(i)].destination: must be absolute, got \"\(m.destination)\"")
        }
        let p: LinuxMountParameters
        do { p = try LinuxMountParameters.parse(type: m.type, options: m.options ?? []) } catch {
            throw SandboxError(.invalidSpec, "mounts[\(i)].options: \(error)", underlying: error)
        }
        var out = aegis_mount()
        out.target = arena.string(m.destination)
        out.flags = p.flags
        out.propagation = p.propagation
        out.data = p.data.isEmpty ? nil : arena.string(p.data)
        if p.isBind {
            guard let src = m.source else { throw SandboxError(.invalidSpec, "mounts[\(i)].source: a bind mount needs a source") }
            let path = src.hasPrefix("/") ? src : bundle + "/" + src
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw SandboxError(.invalidSpec, "mounts[\(i)].source: \(path): \(Errno.current.explained)")
            }
            out.kind = Int32(AEGIS_MOUNT_BIND.rawValue)
            out.source = arena.string(path)
            out.remount_flags_needed = p.needsRemount ? 1 : 0
            out.target_is_file = (st.st_mode & S_IFMT) == S_IFDIR ? 0 : 1
        } else {
            guard let type = m.type else { throw SandboxError(.invalidSpec, "mounts[\(i)].type: required for a non-bind mount") }
            out.kind = Int32(AEGIS_MOUNT_FS.rawValue)
            // cgroup v1 isn't offered to sandboxes: a "cgroup" mount is the sandbox's cgroup2 view.
            let fstype = type == "cgroup" ? "cgroup2" : type
            out.fstype = arena.string(fstype)
            out.source = arena.string(m.source ?? fstype)
        }
        return out
    }

    /// AEGIS option of the overlay at "/": `x-aegis.tmpfs-upper=BYTES` puts its `upperdir` and
    /// `workdir` (which must share a parent directory) in a tmpfs of that size, mounted on that
    /// parent in the sandbox's mount namespace first.
    static let tmpfsUpperOption = "x-aegis.tmpfs-upper"

    /// Removes `tmpfsUpperOption` from the root mount's options and sets the shim's tmpfs upper.
    /// - Throws: `.invalidSpec` for a size that is not a positive integer, or an upperdir and a
    ///   workdir in different directories.
    private mutating func takeTmpfsUpper(_ m: inout Mount, into c: inout aegis_spawn_config) throws {
        let prefix = Self.tmpfsUpperOption + "="
        guard let option = m.options?.first(where: { $0.hasPrefix(prefix) }) else { return }
        m.options?.removeAll { $0.hasPrefix(prefix) }
        guard let size = Int64(option.dropFirst(prefix.count)), size > 0 else {
            throw SandboxError(.invalidSpec, "mounts[0].options: \(option): the size must be a positive number of bytes")
        }
        func dir(_ key: String) -> String? {
            m.options?.first { $0.hasPrefix(key + "=") }.map { FileSystem.parentDirectory(of: String($0.dropFirst(key.count + 1))) }
        }
        guard let upper = dir("upperdir"), upper == dir("workdir"), upper.hasPrefix("/") else {
            throw SandboxError(.invalidSpec, "mounts[0].options: \(option) needs an upperdir and a workdir in one absolute directory")
        }
        c.root_upper_tmpfs = arena.string(upper)
        c.root_upper_tmpfs_data = arena.string("size=\(size),mode=0700")
    }

    /// The ID mapping of the root mount's lowest overlay layer (AEGIS: `uidMappings`/`gidMappings`
    /// on the overlay at "/" map its last `lowerdir`, the image), or nil without mappings.
    /// - Throws: `.invalidSpec` when only one of the two is given, the mount is not an overlay, or
    ///   it names no lowerdir.
    static func rootIdmap(_ m: Mount) throws -> (path: String, uidMap: String, gidMap: String)? {
        let uids = m.uidMappings ?? [], gids = m.gidMappings ?? []
        if uids.isEmpty && gids.isEmpty { return nil }
        guard !uids.isEmpty, !gids.isEmpty else {
            throw SandboxError(.invalidSpec, "mounts[0]: an ID mapping needs both uidMappings and gidMappings")
        }
        guard m.type == "overlay", let lower = (m.options ?? []).last(where: { $0.hasPrefix("lowerdir=") }),
            let lowest = lower.dropFirst("lowerdir=".count).split(separator: ":").last, lowest.hasPrefix("/")
        else {
            throw SandboxError(.invalidSpec, "mounts[0]: uidMappings apply to an overlay's lowest lowerdir (an absolute path); none given")
        }
        return (String(lowest), idMap(uids) ?? "", idMap(gids) ?? "")
    }

    static func idMap(_ maps: [LinuxIDMapping]?) -> String? {
        guard let maps, !maps.isEmpty else { return nil }
        return maps.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
    }

    /// `linux.rootfsPropagation` → (flags for "/" during the set-up, flags applied after pivot_root).
    /// pivot_root(2) refuses a shared mount as the new root's parent, so shared and unbindable roots
    /// are set up as slaves and get their propagation once pivoted (as runc does).
    static func propagation(_ value: String?) throws -> (setup: UInt, final: UInt) {
        switch value {
        case nil, "", "rprivate": return (UInt(MS_PRIVATE | MS_REC), 0)
        case "private": return (UInt(MS_PRIVATE), 0)
        case "rslave": return (UInt(MS_SLAVE | MS_REC), 0)
        case "slave": return (UInt(MS_SLAVE), 0)
        case "rshared": return (UInt(MS_SLAVE | MS_REC), UInt(MS_SHARED | MS_REC))
        case "shared": return (UInt(MS_SLAVE | MS_REC), UInt(MS_SHARED))
        case "runbindable": return (UInt(MS_SLAVE | MS_REC), UInt(MS_UNBINDABLE | MS_REC))
        case "unbindable": return (UInt(MS_SLAVE | MS_REC), UInt(MS_UNBINDABLE))
        default: throw SandboxError(.invalidSpec, "linux.rootfsPropagation: unknown value \"\(value!)\"")
        }
    }

    /// linux.devices → the nodes the container process creates (glibc's makedev encoding).
    static func deviceNodes(_ devices: [LinuxDevice], arena: CArena) -> [aegis_dev_node] {
        devices.map { d in
            let kind: UInt32 = d.type == "b" ? UInt32(S_IFBLK) : d.type == "p" ? UInt32(S_IFIFO) : UInt32(S_IFCHR)
            let major = UInt64(d.major ?? 0), minor = UInt64(d.minor ?? 0)
            let rdev = ((major & 0xfffff000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffffff00) << 12) | (minor & 0xff)
            return aegis_dev_node(
                path: arena.string(d.path), mode: kind | ((d.fileMode ?? 0o666) & 0o7777), rdev: rdev,
                uid: d.uid ?? 0, gid: d.gid ?? 0)
        }
    }

    /// Capability names → bit mask, through libcap's cap_from_name (capabilities(7) numbering).
    static func capMask(_ names: [String]?, field: String) throws -> UInt64 {
        var mask: UInt64 = 0
        for (i, name) in (names ?? []).enumerated() {
            var value: cap_value_t = 0
            guard cap_from_name(name.lowercased(), &value) == 0, value >= 0, value < 64, Int32(value) <= lastCap else {
                throw SandboxError(.invalidSpec, "\(field)[\(i)]: unknown capability \"\(name)\"")
            }
            mask |= 1 << UInt64(value)
        }
        return mask
    }

    /// Highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
    static let lastCap: Int32 = ProcFS.lastCapability() ?? 40
}
