// DetectionOptions.swift — what capability detection reads and runs.

#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox

/// Settings of a `CapabilityDetector`.
///
/// All host paths (procfs, sysfs, /dev, PATH directories) are read below `root`, so tests can point
/// detection at a fixture tree; commands found under `root` are executed from there.
public struct DetectionOptions: Sendable {
    /// Prefix for every file read and every executable looked up ("/" = the real host).
    /// CPU affinity (sched_getaffinity) is only consulted when this is "/".
    public var root: String
    /// PATH directories (host paths, searched in order below `root`) for runtimes and nvidia-smi.
    public var path: [String]
    /// Operator labels copied into `NodeCapabilities.labels`.
    public var labels: [String: String]
    /// nvidia-smi to run for NVIDIA GPU names/UUIDs/memory: a name looked up on `path`, or a host
    /// path containing "/"; nil = never run it. Only run when sysfs/procfs found an NVIDIA GPU.
    public var nvidiaSMI: String?
    /// Deadline for nvidia-smi; on expiry its process group is SIGKILLed.
    public var commandTimeout: Duration
    /// Deadline for each runtime version probe (`python3 --version`).
    public var runtimeTimeout: Duration
    /// Reported as `IsolationFeatures.allowUnenforcedLimits` (the --allow-unenforced-limits flag).
    public var allowUnenforcedLimits: Bool
    /// When set, reported as the usable cgroup controllers instead of reading cgroup.controllers.
    public var cgroupControllersOverride: [String]?
    /// Runtimes to look for.
    public var runtimeProbes: [RuntimeProbe]
    /// How agents see the host: runtimes are advertised only when found there.
    public var agentView: AgentView

    /// - Parameters:
    ///   - path: nil = the `PATH` environment variable of this process (see `environmentPATH()`).
    public init(
        root: String = "/",
        path: [String]? = nil,
        labels: [String: String] = [:],
        nvidiaSMI: String? = "nvidia-smi",
        commandTimeout: Duration = .seconds(5),
        runtimeTimeout: Duration = .seconds(2),
        allowUnenforcedLimits: Bool = false,
        cgroupControllersOverride: [String]? = nil,
        runtimeProbes: [RuntimeProbe] = RuntimeProbe.defaults,
        agentView: AgentView = .agentProfile
    ) {
        self.root = root
        self.path = path ?? Self.environmentPATH()
        self.labels = labels
        self.nvidiaSMI = nvidiaSMI
        self.commandTimeout = commandTimeout
        self.runtimeTimeout = runtimeTimeout
        self.allowUnenforcedLimits = allowUnenforcedLimits
        self.cgroupControllersOverride = cgroupControllersOverride
        self.runtimeProbes = runtimeProbes
        self.agentView = agentView
    }

    /// This process's `PATH` split on ":" (empty and relative entries dropped), or
    /// "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" when unset.
    public static func environmentPATH() -> [String] {
        let value = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return value.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
    }
}

/// The host as an agent sees it: the host directories its sandbox binds and its PATH.
public struct AgentView: Sendable, Equatable {
    /// Host directories visible inside a sandbox (absolute paths).
    public var directories: [String]
    /// The agent's PATH directories, in lookup order.
    public var path: [String]

    public init(directories: [String], path: [String]) {
        self.directories = directories
        self.path = path
    }

    /// The agent profile's view: `AgentProfile.systemDirectories` and `AgentProfile.defaultPATH`.
    public static let agentProfile = AgentView(
        directories: AgentProfile.systemDirectories,
        path: AgentProfile.defaultPATH.split(separator: ":").map(String.init))

    /// Whether an absolute path (symlinks already resolved) lies in one of `directories`.
    public func contains(_ path: String) -> Bool {
        directories.contains { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    /// "/usr, /bin, /sbin, …" for messages.
    var directoryList: String { directories.joined(separator: ", ") }
}
