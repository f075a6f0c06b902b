// WorkerMessages.swift — what a worker reports about the workloads placed on it. In a hybrid node
// these are direct calls; across nodes they travel over the worker's connection.

/// How a sandbox ended (from the supervisor's outcome record).
public struct ExitReport: Codable, Sendable, Equatable {
    /// Exit code, or 128 + signal number when killed by a signal.
    public var exitCode: Int32
    /// Terminating signal, 0 when the agent exited.
    public var signal: Int32
    /// memory.events oom_kill > 0 for the sandbox's cgroup.
    public var oomKilled: Bool
    /// Wall time in µs; CPU time (user + system) in µs.
    public var wallTimeUs: Int64
    public var cpuTimeUs: Int64
    /// Peak memory in bytes when the memory controller reports it.
    public var peakMemoryBytes: Int64?
    /// Stopped by the worker because the workload's timeout passed.
    public var timedOut: Bool
    /// Stopped because it was cancelled.
    public var cancelled: Bool
    /// A sandbox step that failed after start, if any ("execve: ENOENT …").
    public var error: String?
    /// Self-fencing: true when the sandbox's supervisor killed it because the node's lease lapsed,
    /// false when it ended otherwise; nil when the sandbox had no lease.
    public var fenced: Bool?
    /// Stopped because its worker was shut down with its agents (`aegis down` on a worker): the
    /// controller places it again by its restart policy, as after a drain.
    public var evicted: Bool?

    public init(
        exitCode: Int32, signal: Int32 = 0, oomKilled: Bool = false, wallTimeUs: Int64 = 0, cpuTimeUs: Int64 = 0,
        peakMemoryBytes: Int64? = nil, timedOut: Bool = false, cancelled: Bool = false, error: String? = nil,
        fenced: Bool? = nil, evicted: Bool? = nil
    ) {
        self.exitCode = exitCode
        self.signal = signal
        self.oomKilled = oomKilled
        self.wallTimeUs = wallTimeUs
        self.cpuTimeUs = cpuTimeUs
        self.peakMemoryBytes = peakMemoryBytes
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.error = error
        self.fenced = fenced
        self.evicted = evicted
    }
}

/// A worker's report about one placement (workload id + generation).
public enum WorkerEvent: Codable, Sendable, Equatable {
    case started(id: String, generation: Int64, pid: Int32)
    case exited(id: String, generation: Int64, report: ExitReport)
    case failedToStart(id: String, generation: Int64, error: String)
    /// The sandbox vanished without an outcome.
    case lost(id: String, generation: Int64)
    /// The workload's image could not be pulled (nothing was started). `error` names the
    /// reference, the step and the registry's answer; `retryable`: a later attempt may succeed
    /// (a connection, a registry error, a missing tag), unlike a bad reference, policy Never
    /// without the image, or content refused as unsafe.
    case imagePullFailed(id: String, generation: Int64, error: String, retryable: Bool)

    public var workloadID: String {
        switch self {
        case let .started(id, _, _), let .exited(id, _, _), let .failedToStart(id, _, _), let .lost(id, _),
            let .imagePullFailed(id, _, _, _):
            return id
        }
    }

    public var generation: Int64 {
        switch self {
        case let .started(_, g, _), let .exited(_, g, _), let .failedToStart(_, g, _), let .lost(_, g),
            let .imagePullFailed(_, g, _, _):
            return g
        }
    }
}
