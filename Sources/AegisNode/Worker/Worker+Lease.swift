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

/// Where the worker's lease file lives and how it is kept fresh.
public struct WorkerLease: Sendable, Equatable {
    /// Absolute path of the lease file (created 0644 if missing).
    public var path: String
    /// How old the lease may get before the sandboxes' supervisors kill them, ms.
    public var graceMs: Int
    /// How often the worker refreshes the lease while renewing automatically, ms.
    public var refreshEveryMs: Int

    public init(path: String, graceMs: Int = SandboxLease.defaultGraceMs, refreshEveryMs: Int = 1000) {
        self.path = path
        self.graceMs = graceMs
        self.refreshEveryMs = refreshEveryMs
    }

    /// The node's standard lease: `<dataDir>/lease`.
    public init(paths: AegisPaths, graceMs: Int = SandboxLease.defaultGraceMs, refreshEveryMs: Int = 1000) {
        self.init(path: paths.dataDir + "/lease", graceMs: graceMs, refreshEveryMs: refreshEveryMs)
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
    private let state = Mutex<(renewing: Bool, epoch: UInt64, failing: Bool)>((false, 0, false))

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
            throw SandboxError(.invalidSpec, "lease.refreshEveryMs: must be 1...\(lease.graceMs - 1) ms (below the grace), got \(lease.refreshEveryMs)")
        }
        self.lease = lease
        self.logger = logger
        try refresh()
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
        try writeFileAtomically(path, [], mode: 0o644)
    }
}

extension Worker {
    /// Refreshes the lease file now (mtime = now; re-created 0644 if missing). For cluster code:
    /// call it when the controller acknowledged a lease renewal. No-op without a lease.
    /// - Throws: `SandboxError(.system)` naming the syscall (utimensat, open, rename), path and errno.
    public func renewLease() throws {
        try leaseKeeper?.refresh()
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

    /// True while the lease is refreshed automatically.
    public var isRenewingLease: Bool { leaseKeeper?.isRenewing ?? false }

    /// What `runtime.create` gets for every sandbox: the lease file and its grace.
    func createOptions(stdout: Int32, stderr: Int32) -> SandboxCreateOptions {
        SandboxCreateOptions(stdio: .descriptors(stdin: -1, stdout: stdout, stderr: stderr), useInit: true,
                             leaseFile: lease?.path, leaseGraceMs: lease?.graceMs ?? SandboxLease.defaultGraceMs)
    }
}
