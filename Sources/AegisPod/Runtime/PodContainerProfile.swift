// PodContainerProfile.swift — the OCI spec of one pod container and of the pod's infra sandbox.
//
// A container: its image's overlay root (read-only with `readOnlyRootFilesystem`, else a private
// tmpfs upper), below a per-container skeleton layer holding the mount points its volumes need (so
// a hostile image's symlink at a mount path is hidden before anything resolves); its own pid, mount
// and cgroup namespaces; the infra's IPC and UTS namespaces, and its network namespace unless the
// pod uses the host's; Kubernetes' command/args/env/workingDir rules over the image config; the
// container's securityContext, AEGIS's default being no capabilities, no_new_privs and the default
// seccomp allowlist; `resources.limits` as cgroup limits.
#if canImport(Glibc)
import Glibc
#endif
import AegisImage
import AegisOCI
import AegisSandbox
import AegisSeccomp
import AegisSystem

/// What a container's spec is built from, besides its `ContainerSpec`.
public struct PodContainerInputs: Sendable {
    /// The pulled image and where its rootfs is.
    public var image: ImageRecord
    public var imageRootfs: String
    /// The container's skeleton layer (`PodContainerProfile.prepareSkeleton`).
    public var skeleton: String
    /// This attempt's overlay scratch directory.
    public var scratch: String
    /// /proc/<infra pid>/ns/ of the pod's infra process.
    public var infraNamespaces: String
    public var hostNetwork: Bool
    /// Host directory of each volume by name.
    public var volumes: [String: String]
    public var hostname: String

    public init(
        image: ImageRecord, imageRootfs: String, skeleton: String, scratch: String, infraNamespaces: String,
        hostNetwork: Bool, volumes: [String: String], hostname: String
    ) {
        self.image = image
        self.imageRootfs = imageRootfs
        self.skeleton = skeleton
        self.scratch = scratch
        self.infraNamespaces = infraNamespaces
        self.hostNetwork = hostNetwork
        self.volumes = volumes
        self.hostname = hostname
    }
}

public enum PodContainerProfile {
    /// Kubernetes' default PATH when neither the image nor the container sets one.
    static let defaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The argv: `command` replaces the image's Entrypoint and drops its Cmd; `args` replaces the
    /// Cmd (Kubernetes: "Define a Command and Arguments for a Container").
    /// - Throws: `PodError(.sandbox)` when that leaves nothing to run.
    /// `$(NAME)` in `command` and `args` is replaced by the container's variables (`variables`,
    /// see `EnvExpansion`); the image's Entrypoint and Cmd are taken as written.
    public static func argv(
        _ c: ContainerSpec, entrypoint: [String]?, cmd: [String]?, variables: [String: String] = [:]
    ) throws(PodError) -> [String] {
        let command = c.command.map { $0.map { EnvExpansion.expand($0, variables) } }
        let args = c.args.map { $0.map { EnvExpansion.expand($0, variables) } }
        let argv: [String]
        if let command {
            argv = command + (args ?? [])
        } else {
            argv = (entrypoint ?? []) + (args ?? cmd ?? [])
        }
        guard let first = argv.first, !first.isEmpty else {
            throw PodError(.sandbox, "container \(c.name): the image has no Entrypoint or Cmd and the container gives no command")
        }
        return argv
    }

    /// The environment: the image's `Env` below the container's `env` (a container entry replaces
    /// the image's of that name), then PATH and HOSTNAME when neither sets them.
    public static func environment(_ c: ContainerSpec, imageEnv: [String], hostname: String) -> [String] {
        var names = Set<Substring>()
        var out: [String] = []
        let given = EnvExpansion.expand(env: c.env).map { "\($0.name)=\($0.value)" }
        for entry in given.reversed() where names.insert(name(entry)).inserted { out.insert(entry, at: 0) }
        for entry in imageEnv.reversed() where entry.contains("=") && names.insert(name(entry)).inserted { out.insert(entry, at: 0) }
        if !names.contains("PATH") { out.append("PATH=\(defaultPATH)") }
        if !names.contains("HOSTNAME") { out.append("HOSTNAME=\(hostname)") }
        return out
    }

    static func name(_ entry: String) -> Substring { entry.prefix(while: { $0 != "=" }) }

    /// RLIMIT_NOFILE 1,048,576 (containerd's default), or this process's hard limit when lower
    /// (raising a hard limit needs CAP_SYS_RESOURCE).
    static func nofileLimit() -> POSIXRlimit {
        var rl = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        let n = min(UInt64(1_048_576), UInt64(rl.rlim_max))
        return POSIXRlimit(type: "RLIMIT_NOFILE", hard: n, soft: n)
    }

    /// The capability set of a container: every known one when privileged, else those it adds.
    static func capabilities(_ s: ContainerSecurityContext) -> [String] {
        s.privileged ? LinuxCapabilities.knownNames : s.addCapabilities.map { "CAP_" + $0 }
    }

    /// Creates the container's skeleton layer: the image skeleton's mount points plus every
    /// directory on the way to each volume mount path (a file mount point for a hostPath file).
    /// - Throws: `PodError(.volume)` naming the path.
    public static func prepareSkeleton(_ c: ContainerSpec, at path: String, fileMounts: Set<String>) throws(PodError) {
        do { try AgentProfile.prepareImageSkeleton(at: path) } catch {
            throw PodError(.volume, "container \(c.name): skeleton \(path): \(error)", underlying: error)
        }
        for m in c.volumeMounts {
            let target = path + m.mountPath
            let isFile = fileMounts.contains(m.mountPath)
            let dir = isFile ? FileSystem.parentDirectory(of: target) : target
            do { try FileSystem.makeDirectories(dir, mode: 0o755) } catch {
                throw PodError(.volume, "container \(c.name): volumeMounts \(m.mountPath): \(error)", underlying: error)
            }
            if isFile {
                let fd = open(target, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard fd >= 0 else {
                    throw PodError(.volume, "container \(c.name): volumeMounts \(m.mountPath): \(SystemError("open", target))")
                }
                close(fd)
            }
        }
    }

    /// The container's spec. `user` is the uid/gid it runs as (runAsUser/runAsGroup, else the
    /// image's User resolved in its /etc/passwd).
    public static func spec(_ c: ContainerSpec, _ i: PodContainerInputs, user: ImageUser, root: ImageRoot) -> Spec {
        let s = c.securityContext
        let config = i.image.config.config
        let env = environment(c, imageEnv: config?.Env ?? [], hostname: i.hostname)
        var mounts = [root.rootMount()] + DefaultBundleSpec.standardMounts()
        for m in c.volumeMounts {
            guard let source = i.volumes[m.name] else { continue }  // validated: every mount names a volume
            mounts.append(
                Mount(
                    destination: m.mountPath, type: "bind", source: source, options: ["rbind", m.readOnly ? "ro" : "rw", "nosuid", "nodev"])
            )
        }
        if i.hostNetwork, access("/etc/resolv.conf", R_OK) == 0 {
            mounts.append(
                Mount(
                    destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf",
                    options: ["bind", "ro", "nosuid", "nodev", "noexec"]))
        }
        var namespaces = ["pid", "mount", "cgroup"].map { LinuxNamespace(type: $0) }
        namespaces.append(LinuxNamespace(type: "ipc", path: i.infraNamespaces + "/ipc"))
        namespaces.append(LinuxNamespace(type: "uts", path: i.infraNamespaces + "/uts"))
        if !i.hostNetwork { namespaces.append(LinuxNamespace(type: "network", path: i.infraNamespaces + "/net")) }
        let caps = capabilities(s)
        var resources = LinuxResources()
        if let bytes = c.resources.limitMemoryBytes { resources.memory = LinuxMemory(limit: bytes, swap: bytes) }
        if let millis = c.resources.limitCPUMillis { resources.cpu = LinuxCPU(quota: millis * 100, period: 100_000) }
        if !s.privileged { resources.devices = [LinuxDeviceCgroup(allow: false, access: "rwm")] }
        return Spec(
            process: Process(
                user: User(uid: user.uid, gid: user.gid, additionalGids: []),
                args: (try? argv(c, entrypoint: config?.Entrypoint, cmd: config?.Cmd, variables: EnvExpansion.variables(c.env))) ?? [],
                env: env,
                cwd: c.workingDir ?? root.workingDir ?? "/",
                capabilities: LinuxCapabilities(bounding: caps, effective: caps, inheritable: [], permitted: caps, ambient: []),
                rlimits: [nofileLimit()],
                noNewPrivileges: !s.allowPrivilegeEscalation && !s.privileged),
            root: Root(path: root.mountPoint, readonly: root.mode == .readOnly),
            mounts: mounts,
            linux: Linux(
                namespaces: namespaces,
                resources: resources,
                seccomp: s.privileged || s.seccompProfile == "Unconfined" ? nil : DefaultSeccompProfile.profile,
                maskedPaths: s.privileged ? [] : DefaultBundleSpec.maskedPaths,
                readonlyPaths: s.privileged ? [] : DefaultBundleSpec.readonlyPaths))
    }

    /// The infra sandbox's root at `path`: /pause (a copy of the static aegis-init, run as
    /// `/pause pause`) and the mount points of the standard mounts.
    /// - Throws: `PodError(.sandbox)` naming the file.
    public static func prepareInfraRoot(at path: String, initBinary: String) throws(PodError) {
        do {
            try FileSystem.makeDirectories(path, mode: 0o755)
            for dir in ["/proc", "/dev", "/sys"] { try FileSystem.makeDirectories(path + dir, mode: 0o755) }
            let bytes = try FileSystem.readBytes(initBinary, limit: 64 << 20)
            try FileSystem.writeAtomically(path + "/pause", bytes, mode: 0o755)
        } catch {
            throw PodError(.sandbox, "infra root \(path): \(error)", underlying: error)
        }
    }

    /// The infra's spec: `/pause pause` as PID 1 of new pid, mount, IPC, UTS and cgroup namespaces
    /// (and network, loopback only, unless `hostNetwork`), read-only root, no capabilities,
    /// no_new_privs, the default seccomp profile.
    public static func infraSpec(root: String, hostname: String, hostNetwork: Bool) -> Spec {
        var namespaces = ["pid", "mount", "ipc", "uts", "cgroup"].map { LinuxNamespace(type: $0) }
        if !hostNetwork { namespaces.append(LinuxNamespace(type: "network")) }
        let none: [String] = []
        return Spec(
            process: Process(
                user: User(uid: 0, gid: 0, additionalGids: []), args: ["/pause", "pause"], env: ["PATH=/"], cwd: "/",
                capabilities: LinuxCapabilities(bounding: none, effective: none, inheritable: none, permitted: none, ambient: none),
                noNewPrivileges: true),
            root: Root(path: root, readonly: true),
            hostname: hostname,
            mounts: [
                Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
                Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755", "size=64k"]),
            ],
            linux: Linux(
                namespaces: namespaces,
                resources: LinuxResources(devices: [LinuxDeviceCgroup(allow: false, access: "rwm")]),
                seccomp: DefaultSeccompProfile.profile,
                maskedPaths: DefaultBundleSpec.maskedPaths,
                readonlyPaths: DefaultBundleSpec.readonlyPaths))
    }
}
