// Worker+Lease.swift — the worker's half of self-fencing. The worker keeps a lease file's mtime
// fresh; every sandbox's supervisor (a separate process) kills its sandbox once the mtime is older
// than the grace (AegisSandbox SandboxCreateOptions.leaseFile, CAegisShim lease.c). A daemon that is
// SIGKILLed, SIGSTOPped or wedged stops refreshing by construction, so its agents fence themselves.
// Cluster code refreshes only after the controller acknowledged a lease renewal:
// `stopRenewingLease()` ends the automatic refresh, `renewLease()` refreshes once.
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import AegisSandbox
import Logging
import Synchronization
import AegisSystem

/// Where the worker's lease file lives and how it is kept fresh.
public struct WorkerLease: Sendable, Equatable {
    /// Absolute path of the lease file (created 0644 if missing).
    public var path: String
    /// How old the lease may get before the sandboxes' supervisors kill them, ms.
    public var graceMs: Int
    /// How often the worker refreshes the lease while renewing automatically, ms.
    public var refreshEveryMs: Int
    /// true (a hybrid node): the worker refreshes the lease itself from the start. false (a
    /// worker of a cluster): only `renewLease(sentAt:)` refreshes it, after the controller
    /// acknowledged a renewal; at start an existing lease file is left as it is (a restarted
    /// worker that can't reach its controller must not extend its agents' lives) and a missing one
    /// is created already expired.
    public var automatic: Bool

    public init(path: String, graceMs: Int = SandboxLease.defaultGraceMs, refreshEveryMs: Int = 1000, automatic: Bool = true) {
        self.path = path
        self.graceMs = graceMs
        self.refreshEveryMs = refreshEveryMs
        self.automatic = automatic
    }

    /// The node's standard lease: `<dataDir>/lease`.
    public init(paths: AegisPaths, graceMs: Int = SandboxLease.defaultGraceMs, refreshEveryMs: Int = 1000, automatic: Bool = true) {
        self.init(path: paths.dataDir + "/lease", graceMs: graceMs, refreshEveryMs: refreshEveryMs, automatic: automatic)
    }
}

/// Refreshes the lease file: once on request, and on a timer thread while renewing. A refresh sets
/// the mtime to now (utimensat(2) with NULL times); a missing file is re-created atomically (temp
/// file 0644, fsync, rename(2)), so a supervisor never sees it half-way.
final class LeaseKeeper: Sendable {
    let lease: WorkerLease
    private let logger: Logger
    /// `renewing`: the timer refreshes; `epoch`: identifies the current timer thread; `failing`:
    /// a refresh failure was logged (log once per failure streak). The lock is held across a
    /// refresh, so no automatic refresh happens after `stopRenewing()` returns.
    private let state = Mutex<(renewing: Bool, epoch: UInt64, failing: Bool, lastSentAtNs: Int64)>((false, 0, false, 0))

    /// Validates the lease and refreshes it once (creating the file if needed).
    /// - Throws: `SandboxError(.invalidSpec)` for a relative path, a grace outside
    ///   1 ... `SandboxLease.maxGraceMs` or a refresh period not shorter than the grace;
    ///   `SandboxError(.system)` when the file can't be created or touched.
    init(_ lease: WorkerLease, logger: Logger) throws {
        guard lease.path.hasPrefix("/") else {
            throw SandboxError(.invalidSpec, "lease.path: must be an absolute path, got \"\(lease.path)\"")
        }
        guard lease.graceMs > 0, lease.graceMs <= SandboxLease.maxGraceMs else {
            throw SandboxError(.invalidSpec, "lease.graceMs: must be 1...\(SandboxLease.maxGraceMs) ms, got \(lease.graceMs)")
        }
        guard lease.refreshEveryMs > 0, lease.refreshEveryMs < lease.graceMs else {
            throw SandboxError(
                .invalidSpec, "lease.refreshEveryMs: must be 1...\(lease.graceMs - 1) ms (below the grace), got \(lease.refreshEveryMs)")
        }
        self.lease = lease
        self.logger = logger
        if lease.automatic {
            try refresh()
        } else if access(lease.path, F_OK) != 0 {
            try SandboxError.os(try FileSystem.writeAtomically(lease.path, [], mode: 0o644))
            var expired = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
            guard utimensat(AT_FDCWD, lease.path, &expired, 0) == 0 else { throw SandboxError.system("utimensat", lease.path) }
        }
    }

    /// Sets the lease's mtime to `sentAtNs` (CLOCK_REALTIME ns: when the acknowledged renewal was
    /// sent, so the supervisors' deadline is never later than the controller's) unless a later
    /// renewal already set it; re-creates a missing file.
    func refresh(sentAtNs: Int64) throws {
        try state.withLock { s in
            guard sentAtNs > s.lastSentAtNs else { return }
            if access(lease.path, F_OK) != 0 { try SandboxError.os(try FileSystem.writeAtomically(lease.path, [], mode: 0o644)) }
            var times = [
                timespec(tv_sec: Int(sentAtNs / 1_000_000_000), tv_nsec: Int(sentAtNs % 1_000_000_000)),
                timespec(tv_sec: Int(sentAtNs / 1_000_000_000), tv_nsec: Int(sentAtNs % 1_000_000_000)),
            ]
            guard utimensat(AT_FDCWD, lease.path, &times, 0) == 0 else { throw SandboxError.system("utimensat", lease.path) }
            s.lastSentAtNs = sentAtNs
        }
    }

    /// Sets the lease's mtime to now, re-creating the file when it is missing.
    /// - Throws: `SandboxError(.system)` naming the syscall, path and errno.
    func refresh() throws {
        try state.withLock { _ in try Self.touch(lease.path) }
    }

    /// Starts (or keeps) the automatic refresh every `refreshEveryMs`.
    func startRenewing() {
        let epoch: UInt64? = state.withLock { s in
            guard !s.renewing else { return nil }
            s.renewing = true
            s.epoch += 1
            return s.epoch
        }
        guard let epoch else { return }
        Thread { [weak self] in self?.renewLoop(epoch) }.start()
    }

    /// Ends the automatic refresh; no automatic refresh happens after this returns.
    func stopRenewing() {
        state.withLock { $0.renewing = false }
    }

    var isRenewing: Bool { state.withLock { $0.renewing } }

    private func renewLoop(_ epoch: UInt64) {
        let ms = lease.refreshEveryMs
        while true {
            var left = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
            var rest = timespec()
            while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
            let keepGoing: Bool = state.withLock { s in
                guard s.renewing, s.epoch == epoch else { return false }
                do {
                    try Self.touch(lease.path)
                    if s.failing { logger.info("lease refresh works again", metadata: ["lease": "\(lease.path)"]) }
                    s.failing = false
                } catch {
                    if !s.failing { logger.error("lease refresh failed", metadata: ["lease": "\(lease.path)", "error": "\(error)"]) }
                    s.failing = true
                }
                return true
            }
            if !keepGoing { return }
        }
    }

    static func touch(_ path: String) throws {
        if utimensat(AT_FDCWD, path, nil, 0) == 0 { return }
        guard errno == ENOENT else { throw SandboxError.system("utimensat", path) }
        try SandboxError.os(try FileSystem.writeAtomically(path, [], mode: 0o644))
    }
}

extension Worker {
    /// Refreshes the lease file now (mtime = now; re-created 0644 if missing). For cluster code:
    /// call it when the controller acknowledged a lease renewal. No-op without a lease.
    /// - Throws: `SandboxError(.system)` naming the syscall (utimensat, open, rename), path and errno.
    public func renewLease() throws {
        try leaseKeeper?.refresh()
    }

    /// Refreshes the lease file to `sentAtNs` (CLOCK_REALTIME, ns), the moment a renewal the
    /// controller has now acknowledged was sent; never moves it back. No-op without a lease.
    /// - Throws: `SandboxError(.system)` naming the syscall, path and errno.
    public func renewLease(sentAtNs: Int64) throws {
        try leaseKeeper?.refresh(sentAtNs: sentAtNs)
    }

    /// CLOCK_REALTIME now, ns (the clock lease files are compared against).
    public static func realtimeNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Stops refreshing the lease automatically. Unless `renewLease()` is called, every sandbox of
    /// this worker is killed by its supervisor once the lease is older than `lease.graceMs`, and
    /// `create` refuses new sandboxes from then on.
    public func stopRenewingLease() {
        leaseKeeper?.stopRenewing()
    }

    /// Resumes the automatic refresh every `lease.refreshEveryMs` (the state after `init`).
    public func resumeRenewingLease() {
        leaseKeeper?.startRenewing()
    }

    /// The longest lease grace any of this worker's sandboxes carries, ms: its own `lease.graceMs`
    /// and that of sandboxes created by an earlier start with another grace. nil without a lease.
    public var longestLeaseGraceMs: Int? {
        guard let own = lease?.graceMs else { return nil }
        return runtime.list().compactMap { try? runtime.record($0).leaseGraceMs }.reduce(own) { max($0, $1) }
    }

    /// True while the lease is refreshed automatically.
    public var isRenewingLease: Bool { leaseKeeper?.isRenewing ?? false }

    /// What `runtime.create` gets for every sandbox: capped logs in `logDirectory`, the lease file
    /// and its grace.
    func createOptions(logDirectory: String) -> SandboxCreateOptions {
        SandboxCreateOptions(
            stdio: .cappedLogs(directory: logDirectory, capBytes: logCapBytes), useInit: true,
            leaseFile: lease?.path, leaseGraceMs: lease?.graceMs ?? SandboxLease.defaultGraceMs)
    }
}
