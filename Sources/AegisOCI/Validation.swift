// What the AEGIS runtime can honour from a decoded config.json. `validate()` checks the spec in
// document order (ociVersion, process, root, [linux.namespaces, which hostname depends on],
// hostname, mounts, hooks, the rest of linux) and throws the first
// problem as a `SpecError` naming the field's JSON path. Anything present that AEGIS would silently
// ignore is an error instead: a tenant's config must not look more isolated than it is.
// Resources and seccomp rules are in ValidationLinux.swift.

/// A spec field AEGIS cannot honour or that is invalid. `description` is `"<path>: <message>"`.
public struct SpecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// JSON path of the field: "linux.namespaces[1].type", "mounts[0].options[2]".
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

extension Spec {
    /// Checks that AEGIS can run this spec exactly as written.
    ///
    /// Rules (OCI runtime spec config.md / config-linux.md, plus AEGIS's limits):
    /// - `ociVersion` starts with "1."; `process` with non-empty `args`, `env` entries "KEY=VALUE",
    ///   absolute `cwd`; `root.path` non-empty; `linux` present (namespaces it doesn't list are
    ///   inherited; without a mount namespace the runtime refuses mounts — see LaunchPlan).
    /// - namespaces: pid, network, mount, ipc, uts, user, cgroup, each at most once, new or joined by
    ///   an absolute `path`; "time" is not supported. `hostname`/`domainname` need a uts namespace (as in runc).
    /// - uid/gid mappings only, and then both required, with a user namespace; sizes > 0.
    /// - mounts: absolute destination, translatable options (`LinuxMountParameters.parse`), a source
    ///   for binds, no ID mappings.
    /// - hooks: absolute paths, positive timeouts.
    /// - not honoured, so rejected: terminal, AppArmor/SELinux labels, oomScoreAdj, ioPriority,
    ///   scheduler, execCPUAffinity, non-namespaced sysctls, intelRdt, personality, timeOffsets, netDevices,
    ///   and the resource fields listed on `validateResources`.
    /// - seccomp actions, architectures, flags and argument operators are libseccomp names;
    ///   rlimit types and capability names are known to Linux; soft <= hard.
    /// - Throws: the first `SpecError` found.
    public func validate() throws {
        guard ociVersion.hasPrefix("1.") else {
            throw SpecError(path: "ociVersion", message: "unsupported version \"\(ociVersion)\" (expected 1.x)")
        }
        try validateProcess()
        guard let root else { throw SpecError(path: "root", message: "required") }
        if root.path.isEmpty { throw SpecError(path: "root.path", message: "must not be empty") }
        guard let linux else {
            throw SpecError(path: "linux", message: "required (AEGIS runs Linux containers only)")
        }
        // The namespace list first: the hostname rule depends on it.
        try linux.validateNamespaces()
        if let hostname, !hostname.isEmpty, !linux.hasNamespace("uts") {
            throw SpecError(path: "hostname", message: "setting the hostname requires a uts namespace")
        }
        if let domainname, !domainname.isEmpty, !linux.hasNamespace("uts") {
            throw SpecError(path: "domainname", message: "setting the domain name requires a uts namespace")
        }
        try validateMounts()
        if let hooks {
            for (name, list) in hooks.all {
                for (i, hook) in (list ?? []).enumerated() {
                    if !hook.path.hasPrefix("/") {
                        throw SpecError(path: "hooks.\(name)[\(i)].path", message: "must be an absolute path, got \"\(hook.path)\"")
                    }
                    if let t = hook.timeout, t <= 0 {
                        throw SpecError(path: "hooks.\(name)[\(i)].timeout", message: "must be greater than 0, got \(t)")
                    }
                    for (j, entry) in (hook.env ?? []).enumerated() where !entry.contains("=") {
                        throw SpecError(path: "hooks.\(name)[\(i)].env[\(j)]", message: "expected \"KEY=VALUE\", got \"\(entry)\"")
                    }
                }
            }
        }
        try linux.validate()
    }

    private func validateProcess() throws {
        guard let process else { throw SpecError(path: "process", message: "required") }
        if process.args?.isEmpty ?? true {
            throw SpecError(path: "process.args", message: "must contain at least the program to run")
        }
        if process.terminal == true {
            throw SpecError(
                path: "process.terminal",
                message: "not supported: use passthrough stdio; --console-socket is not supported")
        }
        if let line = process.commandLine, !line.isEmpty {
            throw SpecError(path: "process.commandLine", message: "is Windows-only; use process.args")
        }
        for (i, entry) in (process.env ?? []).enumerated() {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw SpecError(path: "process.env[\(i)]", message: "expected \"KEY=VALUE\", got \"\(entry)\"")
            }
        }
        guard process.cwd.hasPrefix("/") else {
            throw SpecError(path: "process.cwd", message: "must be an absolute path, got \"\(process.cwd)\"")
        }
        if let umask = process.user.umask, umask > 0o777 {
            throw SpecError(path: "process.user.umask", message: "must be at most 0777 (511), got \(umask)")
        }
        if let caps = process.capabilities {
            for (name, list) in caps.sets {
                for (i, cap) in (list ?? []).enumerated() where LinuxCapabilities.number(of: cap) == nil {
                    throw SpecError(path: "process.capabilities.\(name)[\(i)]", message: "unknown capability \"\(cap)\"")
                }
            }
        }
        var seen: Set<String> = []
        for (i, rlimit) in (process.rlimits ?? []).enumerated() {
            guard rlimit.resource != nil else {
                throw SpecError(path: "process.rlimits[\(i)].type", message: "unknown rlimit type \"\(rlimit.type)\"")
            }
            guard seen.insert(rlimit.type).inserted else {
                throw SpecError(path: "process.rlimits[\(i)].type", message: "duplicate rlimit type \"\(rlimit.type)\"")
            }
            if rlimit.soft > rlimit.hard {
                throw SpecError(
                    path: "process.rlimits[\(i)].soft",
                    message: "soft limit \(rlimit.soft) exceeds hard limit \(rlimit.hard)")
            }
        }
        if let profile = process.apparmorProfile, !profile.isEmpty {
            throw SpecError(path: "process.apparmorProfile", message: "AppArmor is not supported")
        }
        if let adj = process.oomScoreAdj, !(-1000...1000).contains(adj) {
            throw SpecError(path: "process.oomScoreAdj", message: "must be in -1000...1000 (proc(5) oom_score_adj), got \(adj)")
        }
        if let label = process.selinuxLabel, !label.isEmpty {
            throw SpecError(path: "process.selinuxLabel", message: "SELinux is not supported")
        }
        for (name, value) in [
            ("ioPriority", process.ioPriority), ("scheduler", process.scheduler),
            ("execCPUAffinity", process.execCPUAffinity),
        ] {
            if let value, value.isMeaningful {
                throw SpecError(path: "process.\(name)", message: "not supported")
            }
        }
    }

    private func validateMounts() throws {
        for (i, mount) in (mounts ?? []).enumerated() {
            let path = "mounts[\(i)]"
            guard mount.destination.hasPrefix("/") else {
                throw SpecError(path: "\(path).destination", message: "must be an absolute path, got \"\(mount.destination)\"")
            }
            // AEGIS extension: the overlay at "/" (an image's root) may ID-map its image layer.
            let isRootOverlay = i == 0 && mount.destination == "/" && mount.type == "overlay"
            if !isRootOverlay && (!(mount.uidMappings ?? []).isEmpty || !(mount.gidMappings ?? []).isEmpty) {
                let field = (mount.uidMappings ?? []).isEmpty ? "gidMappings" : "uidMappings"
                throw SpecError(path: "\(path).\(field)", message: "ID-mapped mounts are not supported (only on an overlay at \"/\")")
            }
            let params: LinuxMountParameters
            do {
                params = try LinuxMountParameters.parse(type: mount.type, options: mount.options ?? [])
            } catch let e as MountOptionError {
                if let index = e.index { throw SpecError(path: "\(path).options[\(index)]", message: e.message) }
                throw SpecError(path: "\(path).type", message: e.message)
            }
            if params.isBind, (mount.source ?? "").isEmpty {
                throw SpecError(path: "\(path).source", message: "required for a bind mount")
            }
        }
    }
}

extension Linux {
    /// Validates the `linux` object; paths in errors start with "linux.". See `Spec.validate()`.
    /// Namespaces are checked earlier by `Spec.validate()`.
    func validate() throws {
        try validateMappings()
        try validateSysctls()
        if let path = cgroupsPath, !path.isEmpty {
            // Placed below the runtime's cgroup parent (an absolute path too), never outside it.
            if path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                throw SpecError(path: "linux.cgroupsPath", message: "must not contain \".\" or \"..\" components, got \"\(path)\"")
            }
            if !path.hasPrefix("/") && path.contains(":") {
                throw SpecError(
                    path: "linux.cgroupsPath", message: "the systemd \"slice:prefix:name\" form is not supported, got \"\(path)\"")
            }
        }
        if let resources { try resources.validate() }
        if let seccomp { try seccomp.validate() }
        if let propagation = rootfsPropagation, !propagation.isEmpty {
            guard LinuxMountParameters.propagationFlag(named: propagation) != nil else {
                throw SpecError(path: "linux.rootfsPropagation", message: "unknown propagation \"\(propagation)\"")
            }
            if !["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"].contains(propagation) {
                throw SpecError(
                    path: "linux.rootfsPropagation",
                    message: "\"\(propagation)\" is not a propagation for the root (use [r]private, [r]slave, [r]shared or [r]unbindable)")
            }
        }
        for (name, list) in [("maskedPaths", maskedPaths), ("readonlyPaths", readonlyPaths)] {
            for (i, p) in (list ?? []).enumerated() where !p.hasPrefix("/") {
                throw SpecError(path: "linux.\(name)[\(i)]", message: "must be an absolute path, got \"\(p)\"")
            }
        }
        if let mountLabel, !mountLabel.isEmpty {
            throw SpecError(path: "linux.mountLabel", message: "SELinux mount labels are not supported")
        }
        for (name, value) in [
            ("intelRdt", intelRdt), ("personality", personality),
            ("timeOffsets", timeOffsets), ("netDevices", netDevices),
        ] {
            if let value, value.isMeaningful {
                throw SpecError(path: "linux.\(name)", message: "not supported")
            }
        }
        for (i, d) in (devices ?? []).enumerated() {
            let path = "linux.devices[\(i)]"
            guard d.path.hasPrefix("/"), !d.path.split(separator: "/").contains("..") else {
                throw SpecError(path: "\(path).path", message: "must be an absolute path without \"..\", got \"\(d.path)\"")
            }
            guard ["c", "b", "u", "p"].contains(d.type) else {
                throw SpecError(path: "\(path).type", message: "unknown device type \"\(d.type)\" (expected c, b, u or p)")
            }
            if d.type != "p" {
                for (name, value) in [("major", d.major), ("minor", d.minor)] {
                    guard let value else { throw SpecError(path: "\(path).\(name)", message: "required for type \(d.type)") }
                    guard (0...Int64(UInt32.max)).contains(value) else {
                        throw SpecError(path: "\(path).\(name)", message: "must be in 0...4294967295, got \(value)")
                    }
                }
            }
            if let mode = d.fileMode, mode > 0o7777 {
                throw SpecError(path: "\(path).fileMode", message: "must be at most 07777, got \(mode)")
            }
        }
    }

    /// Sysctls the container's own namespaces scope (the kernel's list, as runc's): IPC
    /// (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) with a new or joined ipc namespace, net.*
    /// with a network namespace, kernel.hostname/domainname with a uts namespace. Any other key
    /// would change the host and is refused by name.
    func validateSysctls() throws {
        let ipc: Set<String> = [
            "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
            "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
        ]
        for key in (sysctl ?? [:]).keys.sorted() {
            let path = "linux.sysctl.\(key)"
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard !parts.isEmpty,
                parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } })
            else {
                throw SpecError(path: path, message: "not a sysctl name (dot-separated letters, digits, '_' and '-')")
            }
            let needs: String
            if ipc.contains(key) || key.hasPrefix("fs.mqueue.") {
                needs = "ipc"
            } else if key.hasPrefix("net.") {
                needs = "network"
            } else if key == "kernel.hostname" || key == "kernel.domainname" {
                needs = "uts"
            } else {
                throw SpecError(
                    path: path,
                    message:
                        "not a namespaced sysctl: it would change the host (allowed: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.hostname, kernel.domainname)"
                )
            }
            guard hasNamespace(needs) else {
                throw SpecError(path: path, message: "needs a \(needs) namespace of the container's own (it would change the host's)")
            }
        }
    }

    func validateNamespaces() throws {
        var seen: Set<String> = []
        for (i, ns) in (namespaces ?? []).enumerated() {
            let path = "linux.namespaces[\(i)]"
            if ns.type == "time" {
                throw SpecError(path: "\(path).type", message: "time namespaces are not supported")
            }
            guard ns.cloneFlag != nil else {
                throw SpecError(path: "\(path).type", message: "unknown namespace type \"\(ns.type)\"")
            }
            guard seen.insert(ns.type).inserted else {
                throw SpecError(path: "\(path).type", message: "duplicate namespace type \"\(ns.type)\"")
            }
            if let p = ns.path, !p.isEmpty {
                guard p.hasPrefix("/") else { throw SpecError(path: "\(path).path", message: "must be an absolute path") }
            }
        }
        let joinsUser = (namespaces ?? []).contains { $0.type == "user" && !($0.path ?? "").isEmpty }
        if seen.contains("user"), !joinsUser,
            let i = (namespaces ?? []).firstIndex(where: { $0.type != "user" && $0.type != "pid" && !($0.path ?? "").isEmpty })
        {
            // The container process would setns(2) from inside its new user namespace, which holds
            // no capability over a namespace owned by another user namespace (EPERM).
            throw SpecError(
                path: "linux.namespaces[\(i)].path",
                message: "joining a \((namespaces ?? [])[i].type) namespace together with a new user namespace is not supported")
        }
    }

    private func validateMappings() throws {
        let hasUserNS = hasNamespace("user")
        let joinsUserNS = (namespaces ?? []).contains { $0.type == "user" && !($0.path ?? "").isEmpty }
        for (name, list) in [("uidMappings", uidMappings), ("gidMappings", gidMappings)] {
            let mappings = list ?? []
            if !mappings.isEmpty && !hasUserNS {
                throw SpecError(path: "linux.\(name)", message: "ID mappings require a user namespace")
            }
            if !mappings.isEmpty && joinsUserNS {
                throw SpecError(path: "linux.\(name)", message: "a user namespace joined by path keeps its own mappings; remove them")
            }
            if mappings.isEmpty && hasUserNS && !joinsUserNS {
                throw SpecError(path: "linux.\(name)", message: "a user namespace requires at least one mapping")
            }
            for (i, m) in mappings.enumerated() {
                if m.size == 0 {
                    throw SpecError(path: "linux.\(name)[\(i)].size", message: "must be greater than 0")
                }
                if UInt64(m.containerID) + UInt64(m.size) > 1 << 32 || UInt64(m.hostID) + UInt64(m.size) > 1 << 32 {
                    throw SpecError(path: "linux.\(name)[\(i)].size", message: "mapping extends past ID 4294967295")
                }
            }
        }
    }
}
