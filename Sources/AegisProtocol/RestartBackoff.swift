// RestartBackoff.swift — how long a workload restarted by its restart policy waits before its next
// attempt, as Kubernetes' CrashLoopBackOff: `initial` after the first exit, doubling with each
// further one up to `max`; an agent that ran `resetAfterSeconds` before exiting starts over.

/// A workload's restart back-off (manifest `restartBackoff: {initial: 10s, max: 5m}`).
public struct RestartBackoff: Codable, Sendable, Equatable {
    /// Delay before the first restart, seconds.
    public var initialSeconds: Int
    /// Largest delay, seconds (at least `initialSeconds`).
    public var maxSeconds: Int

    public init(initialSeconds: Int, maxSeconds: Int) {
        self.initialSeconds = initialSeconds
        self.maxSeconds = maxSeconds
    }

    /// Kubernetes' values: 10 s doubling up to 5 min.
    public static let standard = RestartBackoff(initialSeconds: 10, maxSeconds: 300)
    /// Bounds of both values, seconds: 1 s to 1 h.
    public static let allowedSeconds = 1...3600
    /// An agent that ran this long (seconds) before it exited counts as a first exit again: 10 min.
    public static let resetAfterSeconds = 600

    /// The delay before the restart after the `exits`-th consecutive exit (1 = the first), seconds:
    /// initial · 2^(exits-1), at most `maxSeconds`.
    public func delaySeconds(afterExits exits: Int) -> Int {
        var delay = initialSeconds
        for _ in 1..<max(1, exits) {
            if delay >= maxSeconds { break }
            delay *= 2
        }
        return min(delay, maxSeconds)
    }

    /// The consecutive-exit count after an exit: 1 when the agent ran at least `resetAfterSeconds`
    /// (or its run time is unknown: it never started), else `previous` + 1.
    public static func exits(previous: Int, ranMs: Int64?) -> Int {
        guard let ranMs, ranMs < Int64(resetAfterSeconds) * 1000 else { return 1 }
        return previous + 1
    }
}
