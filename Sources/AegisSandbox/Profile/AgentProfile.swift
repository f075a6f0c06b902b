// AgentProfile.swift — the default sandbox for AEGIS agents, for callers that don't write a spec.
//
// The host's system directories read-only (/usr, /bin, /sbin, /lib*, /etc with secrets masked);
// never /root, /home, /var/lib, /run or the AEGIS data dir. A private writable working directory
// (/work) and /tmp. New pid, mount, uts, ipc, cgroup and network (loopback only) namespaces; no
// capabilities; no_new_privs; an unprivileged uid chosen by the caller (distinct per tenant); the
// standard masked paths; AEGIS's default seccomp allowlist (AegisSeccomp.DefaultSeccompProfile).
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSeccomp
import AegisSystem

/// What an agent sandbox needs from its caller.
public struct AgentSandboxRequest: Sendable, Equatable {
    /// Network modes.
    public enum Network: String, Sendable, Equatable {
        /// A new network namespace with only `lo` (up).
        case none
        /// Same as `none` today: the sandbox's own loopback, never the host's.
        case loopback
        /// The host's network namespace (admin only: exposes the host's loopback services).
        case host
        /// A namespace the node prepared (veth to its bridge, address, route, nft policy; see
        /// AegisNet.EgressNetwork), joined through `netnsPath`; `resolvConf` is bound at
        /// /etc/resolv.conf.
        case egress
    }

    /// Program and arguments; args[0] is looked up through PATH when it has no '/'.
    public var args: [String]
    /// Extra `KEY=VALUE` entries; PATH, HOME, LANG and TMPDIR get defaults when absent.
    public var env: [String]
    /// Host directory bound read-write at /work (the agent's cwd); must be writable by `uid`.
    /// Unused when `workDevice` is set.
    public var workDir: String
    /// A block device holding an ext4 file system mounted read-write at /work instead of binding
    /// `workDir` (a volume of the sandbox's own: its size is the agent's disk limit). The device
    /// cgroup must allow it (`allowedDevices`): the mount opens it from inside the sandbox's cgroup.
    public var workDevice: String?
    /// Size of /tmp (tmpfs), bytes; nil: 1 GiB.
    public var tmpSizeBytes: Int64?
    /// Unprivileged uid/gid the agent runs as (a host id: there is no user namespace by default).
    public var uid: UInt32
    public var gid: UInt32
    public var hostname: String
    public var network: Network
    /// Limits the sandbox's cgroup enforces (OCI linux.resources).
    public var resources: LinuxResources?
    /// Extra mounts (e.g. GPU device nodes, read-only input directories).
    public var extraMounts: [Mount]
    /// Further paths to hide behind /dev/null or an empty tmpfs.
    public var extraMaskedPaths: [String]
    /// Network `egress`: the namespace to join (OCI linux.namespaces[].path) and the host file
    /// bound read-only at /etc/resolv.conf.
    public var netnsPath: String?
    public var resolvConf: String?
    /// Device nodes the agent may open beyond the defaults (`DeviceRules.defaultAllowed`): its
    /// assigned GPUs' nodes (`DeviceRules.allowRule(forNode:)`). The device cgroup denies every
    /// other node, also one bound in by mistake.
    public var allowedDevices: [LinuxDeviceCgroup]
    /// The root from an OCI image instead of the host's system directories (`ImageRoot`).
    public var image: ImageRoot?

    public init(
        args: [String], env: [String] = [], workDir: String, uid: UInt32, gid: UInt32,
        hostname: String = "agent", network: Network = .none, resources: LinuxResources? = nil,
        extraMounts: [Mount] = [], extraMaskedPaths: [String] = [], netnsPath: String? = nil,
        resolvConf: String? = nil, allowedDevices: [LinuxDeviceCgroup] = [], workDevice: String? = nil,
        tmpSizeBytes: Int64? = nil, image: ImageRoot? = nil
    ) {
        self.image = image
        self.args = args
        self.env = env
        self.workDir = workDir
        self.uid = uid
        self.gid = gid
        self.hostname = hostname
        self.network = network
        self.resources = resources
        self.extraMounts = extraMounts
        self.extraMaskedPaths = extraMaskedPaths
        self.netnsPath = netnsPath
        self.resolvConf = resolvConf
        self.allowedDevices = allowedDevices
        self.workDevice = workDevice
        self.tmpSizeBytes = tmpSizeBytes
    }
}

public enum AgentProfile {
    /// Host directories visible read-only (those that exist; merged-/usr symlinks are mirrored).
    public static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]
    /// The PATH an agent gets unless its environment sets one.
    public static let defaultPATH = "/usr/local/bin:/usr/bin:/bin"
    /// Secrets under /etc that an agent must not read.
    public static let maskedSecrets = [
        "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh", "/etc/sudoers",
        "/etc/sudoers.d", "/etc/security/opasswd", "/etc/aegis", "/etc/ssl/private",
    ]
    /// Working directory inside the sandbox.
    public static let workMount = "/work"

    /// Creates (once) the skeleton root shared by all agent sandboxes at `path`: empty mount
    /// points plus the host's merged-/usr symlinks (/bin → usr/bin, …). Mounts happen only inside
    /// each sandbox's mount namespace; the skeleton itself is never written by agents (the root is
    /// remounted read-only).
    /// - Throws: `SandboxError` when the directory can't be created.
    public static func prepareRootfs(at path: String) throws {
        try SandboxError.os(try FileSystem.makeDirectories(path, mode: 0o755))
        for dir in systemDirectories {
            var st = stat()
            guard lstat(dir, &st) == 0 else { continue }
            let target = path + dir
            if (st.st_mode & S_IFMT) == S_IFLNK {
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink(dir, &buf, buf.count - 1)
                guard n > 0 else { continue }
                if symlink(buf, target) != 0 && errno != EEXIST { throw SandboxError.system("symlink", target) }
            } else if mkdir(target, 0o755) != 0 && errno != EEXIST {
                throw SandboxError.system("mkdir", target)
            }
        }
        for dir in ["/proc", "/dev", "/sys", "/tmp", workMount] {
            if mkdir(path + dir, 0o755) != 0 && errno != EEXIST { throw SandboxError.system("mkdir", path + dir) }
        }
    }

    /// The name of a `KEY=VALUE` environment entry.
    static func variableName(_ entry: String) -> Substring { entry.prefix(while: { $0 != "=" }) }

    /// RLIMIT_NOFILE 65536, or this process's hard limit when lower (raising a hard limit needs
    /// CAP_SYS_RESOURCE, which a daemon may lack).
    static func nofileLimit() -> POSIXRlimit {
        var rl = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        let n = min(UInt64(65536), UInt64(rl.rlim_max))
        return POSIXRlimit(type: "RLIMIT_NOFILE", hard: n, soft: n)
    }

    /// The OCI spec of an agent sandbox whose skeleton root is at `rootfs` (see `prepareRootfs`),
    /// or, with `r.image`, whose root is that image's overlay (`rootfs` unused; `ImageRoot.prepare`
    /// made its directories).
    public static func spec(_ r: AgentSandboxRequest, rootfs: String) -> Spec {
        var mounts: [Mount] = []
        var root = Root(path: rootfs, readonly: true)
        var cwd = workMount
        var env = r.env
        if let image = r.image {
            mounts.append(image.rootMount())
            root = Root(path: image.mountPoint, readonly: image.mode == .readOnly)
            cwd = image.workingDir ?? workMount
            // The image's Env below the request's: a request entry replaces the image's of that name.
            let given = Set(env.map(variableName))
            env = image.env.filter { !given.contains(variableName($0)) } + env
        } else {
            for dir in systemDirectories {
                var st = stat()
                guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                mounts.append(Mount(destination: dir, type: "bind", source: dir, options: ["rbind", "ro", "nosuid", "nodev"]))
            }
        }
        mounts += DefaultBundleSpec.standardMounts()
        let tmpSize = r.tmpSizeBytes.map { "size=\($0)" } ?? "size=1g"
        mounts.append(Mount(destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", tmpSize]))
        if let device = r.workDevice {
            mounts.append(Mount(destination: workMount, type: "ext4", source: device, options: ["rw", "nosuid", "nodev"]))
        } else {
            mounts.append(Mount(destination: workMount, type: "bind", source: r.workDir, options: ["rbind", "rw", "nosuid", "nodev"]))
        }
        mounts += r.extraMounts
        if r.network == .egress, let rc = r.resolvConf {
            mounts.append(
                Mount(destination: "/etc/resolv.conf", type: "bind", source: rc, options: ["bind", "ro", "nosuid", "nodev", "noexec"]))
        }

        let defaults = ["PATH=\(defaultPATH)", "HOME=\(workMount)", "LANG=C.UTF-8", "TMPDIR=/tmp"]
        let present = Set(env.map(variableName))
        for d in defaults where !present.contains(variableName(d)) { env.append(d) }

        var namespaces = ["pid", "mount", "uts", "ipc", "cgroup"].map { LinuxNamespace(type: $0) }
        if r.network == .egress {
            namespaces.append(LinuxNamespace(type: "network", path: r.netnsPath))
        } else if r.network != .host {
            namespaces.append(LinuxNamespace(type: "network"))
        }
        let none: [String] = []
        var resources = r.resources ?? LinuxResources()
        resources.devices = [LinuxDeviceCgroup(allow: false, access: "rwm")] + r.allowedDevices
        return Spec(
            process: Process(
                user: User(uid: r.uid, gid: r.gid, additionalGids: []),
                args: r.args, env: env, cwd: cwd,
                capabilities: LinuxCapabilities(bounding: none, effective: none, inheritable: none, permitted: none, ambient: none),
                rlimits: [nofileLimit()],
                noNewPrivileges: true),
            root: root,
            hostname: r.hostname,
            mounts: mounts,
            linux: Linux(
                namespaces: namespaces,
                resources: resources,
                seccomp: DefaultSeccompProfile.profile,
                maskedPaths: DefaultBundleSpec.maskedPaths + maskedSecrets + r.extraMaskedPaths,
                readonlyPaths: DefaultBundleSpec.readonlyPaths))
    }
}
