// BundleSpec.swift — the default config.json for an OCI bundle (`aegis-runtime spec`), in the
// shape `runc spec` writes: rootfs "rootfs", sh as the process, the standard mounts, masked and
// read-only paths, AEGIS's default seccomp profile, a few capabilities.
import AegisOCI
import AegisSeccomp

public enum DefaultBundleSpec {
    /// Capabilities a default OCI container keeps (runc's default set).
    public static let capabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

    /// Masked paths (OCI config-linux.md § Masked Paths), as runc and Docker mask them.
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The standard mounts: /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, /sys.
    public static func standardMounts(sysReadonly: Bool = true) -> [Mount] {
        [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(
                destination: "/dev/pts", type: "devpts", source: "devpts",
                options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            Mount(
                destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(
                destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev"] + (sysReadonly ? ["ro"] : [])),
        ]
    }

    public static func make(args: [String] = ["sh"], rootfs: String = "rootfs") -> Spec {
        // ociVersion 1.1.0: what runc and Debian's crun 1.8 accept (crun refuses 1.2.0).
        Spec(
            ociVersion: "1.1.0",
            process: Process(
                user: User(uid: 0, gid: 0), args: args,
                env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                cwd: "/",
                capabilities: LinuxCapabilities(bounding: capabilities, effective: capabilities, permitted: capabilities),
                rlimits: [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)],
                noNewPrivileges: true),
            root: Root(path: rootfs, readonly: true),
            hostname: "aegis",
            mounts: standardMounts(),
            linux: Linux(
                namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { LinuxNamespace(type: $0) },
                seccomp: DefaultSeccompProfile.profile,
                maskedPaths: maskedPaths,
                readonlyPaths: readonlyPaths))
    }
}
