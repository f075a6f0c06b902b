// Placements.swift — persisting scheduler decisions. `recordPlacements` applies many decisions in
// one transaction; `PlacementWriter` batches decisions from the scheduling loop (group commit) so
// the loop never waits on SQLite and each decision is committed within `maxDelay` plus one commit.
import GRDB
import AegisProtocol
import ServiceLifecycle

/// One scheduler decision: run `workloadID` on `node` as placement `generation` with these GPUs.
public struct Placement: Sendable, Equatable {
    public var workloadID: String
    public var node: String
    /// Must exceed the workload's stored generation, or the decision is refused as stale.
    public var generation: Int64
    /// Assigned GPUs (PCI addresses).
    public var gpus: [String]
    /// Limits the node accepts but cannot enforce (`Workload.unenforcedLimits`).
    public var unenforcedLimits: [String]
    /// Apply only to a workload that is still `pending` (the controller's rule: a pass places
    /// only what it read as pending, and a workload that started meanwhile is not placed again).
    public var onlyIfPending: Bool

    public init(
        workloadID: String, node: String, generation: Int64, gpus: [String] = [], unenforcedLimits: [String] = [],
        onlyIfPending: Bool = false
    ) {
        self.workloadID = workloadID
        self.node = node
        self.generation = generation
        self.gpus = gpus
        self.unenforcedLimits = unenforcedLimits
        self.onlyIfPending = onlyIfPending
    }
}

extension ControlStore {
    /// Applies decisions in ONE write transaction. Each sets state `scheduled`, `node`,
    /// `generation`, `gpus`, `unenforcedLimits`, clears `reason` and the restart back-off
    /// (`nextAttemptAtMs`), and appends a "scheduled" event — but only when the stored generation
    /// is lower, the workload is not final (succeeded/failed/cancelled/lost) and, with
    /// `onlyIfPending`, it is pending.
    /// - Returns: ids refused (stale generation, final state, or unknown workload).
    /// - Throws: `.database` (nothing is applied then).
    @discardableResult
    public func recordPlacements(_ placements: [Placement], nowMs: Int64 = ControlStore.nowMs()) throws -> [String] {
        try write("record \(placements.count) placement(s)") { try Self.applyPlacements($0, placements, nowMs) }
    }

    static func applyPlacements(_ db: Database, _ placements: [Placement], _ nowMs: Int64) throws -> [String] {
        let finals = WorkloadState.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        let update = try db.cachedStatement(
            sql: """
                UPDATE workloads SET state = 'scheduled', node = ?, generation = ?, gpus = ?, reason = NULL,
                    next_attempt_ms = NULL, unenforced_limits = ?
                WHERE id = ? AND generation < ? AND state NOT IN (\(finals)) AND (? = 0 OR state = 'pending')
                """)
        var rejected: [String] = []
        let encoder = makeEncoder()
        for p in placements {
            let gpus = p.gpus.isEmpty ? "[]" : try encodeJSON(p.gpus, "placement of \(p.workloadID) gpus", using: encoder)
            let unenforced =
                p.unenforcedLimits.isEmpty
                ? "[]" : try encodeJSON(p.unenforcedLimits, "placement of \(p.workloadID) unenforcedLimits", using: encoder)
            try update.execute(arguments: [p.node, p.generation, gpus, unenforced, p.workloadID, p.generation, p.onlyIfPending])
            if db.changesCount == 1 {
                let gpuText = p.gpus.isEmpty ? "" : ", gpus \(p.gpus.joined(separator: ","))"
                try insertEvent(
                    db, p.workloadID,
                    WorkloadEvent(
                        timeMs: nowMs, type: WorkloadEventType.scheduled.rawValue,
                        message: "placed on node \(p.node) (generation \(p.generation)\(gpuText))"))
            } else {
                rejected.append(p.workloadID)
            }
        }
        return rejected
    }
}

/// Counters of a PlacementWriter.
public struct PlacementWriterStats: Sendable, Equatable {
    /// Decisions handed to `submit`.
    public var submitted: UInt64
    /// Decisions committed (applied or refused as stale).
    public var committed: UInt64
    /// Transactions committed.
    public var transactions: UInt64
    /// Description of the last failed commit, nil once a commit succeeds again.
    public var lastError: String?
}

/// Group commit for scheduler decisions. `submit` only appends to a buffer; a commit starts when
/// `maxBatch` decisions are waiting, the oldest has waited `maxDelay`, or `flush()` asks, and
/// decisions that arrive while a commit runs go into the next transaction right after it. A decision
/// is therefore durable (SQLite WAL, synchronous=NORMAL) within `maxDelay` + commit time. A failed
/// commit keeps the decisions and retries with backoff (`maxDelay`·2^n, at most 5 s); `flush()`
/// reports the failure.
///
/// The writer is a Service: commits happen only while `run()` runs (in a ServiceGroup or a task
/// group); it owns no other task. Cancelling `run()` commits what is buffered once more, then fails
/// the waiting `flush()` calls.
public actor PlacementWriter: Service {
    public nonisolated let maxBatch: Int
    public nonisolated let maxDelay: Duration
    private let store: any ControlStateStore
    private let onRejected: (@Sendable ([String]) -> Void)?
    private var buffer: [Placement] = []
    private var oldest: ContinuousClock.Instant?
    private var submitted: UInt64 = 0
    private var committed: UInt64 = 0
    private var transactions: UInt64 = 0
    private var lastError: StoreError?
    private var consecutiveFailures = 0
    /// After a failed commit: no commit before this instant (unless `flush()` asks).
    private var retryAt: ContinuousClock.Instant?
    /// `flush()` asked for a commit now.
    private var flushAsked = false
    /// The run loop waiting for work or a deadline; rung by `submit`, `flush` and its own timer.
    private var doorbell: CheckedContinuation<Void, Never>?
    private var waiters: [(target: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    /// `commit(_:)`: group commit without a timer (its counters are added to these in `stats()`).
    private let direct: GroupCommit<Placement, Bool>

    /// - Parameters:
    ///   - maxBatch: decisions per transaction (also the count that triggers an immediate commit), ≥ 1.
    ///   - maxDelay: longest time a decision waits in the buffer before a commit starts.
    ///   - onRejected: called (on the writer) with ids `recordPlacements` refused as stale.
    public init(
        store: any ControlStateStore, maxBatch: Int = 500, maxDelay: Duration = .milliseconds(50),
        onRejected: (@Sendable ([String]) -> Void)? = nil
    ) {
        self.store = store
        self.maxBatch = max(1, maxBatch)
        self.maxDelay = maxDelay
        self.onRejected = onRejected
        self.direct = GroupCommit("placement writer", maxBatch: maxBatch) { batch in
            let refused = Set(try await store.recordPlacements(batch))
            return batch.map { refused.contains($0.workloadID) }
        }
    }

    /// Buffers one decision; never waits on SQLite.
    public func submit(_ placement: Placement) {
        submit([placement])
    }

    /// Buffers decisions in order; never waits on SQLite. Decisions for the same workload commit in
    /// submission order (the stale-generation rule then keeps the newest).
    public func submit(_ placements: [Placement]) {
        guard !placements.isEmpty else { return }
        if buffer.isEmpty { oldest = .now }
        buffer.append(contentsOf: placements)
        submitted += UInt64(placements.count)
        ring()
    }

    /// Commits everything submitted before the call and waits for it (use at shutdown, or before a
    /// write that must follow the placements). Needs `run()` running.
    /// - Throws: the `StoreError` of a failed commit covering those decisions (they stay buffered
    ///   and are retried); `CancellationError` when `run()` ended first.
    public func flush() async throws {
        let target = submitted
        if committed >= target { return }
        flushAsked = true
        ring()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            waiters.append((target, c))
        }
    }

    /// Commits `placements` and returns the ids refused (stale generation, final state, unknown),
    /// with group commit and no timer: when no commit is running the caller commits at once; calls
    /// that arrive while one runs wait, and the first of them then commits all the waiting
    /// decisions (up to `maxBatch`) in one transaction (`GroupCommit`). This is the controller's
    /// path (one transaction per scheduling pass, shared when passes overlap with other callers)
    /// and the one placement-bench measures. Needs no `run()`.
    /// - Throws: the `StoreError` of the transaction that held them (nothing of it is applied; the
    ///   decisions are not kept: the caller decides whether to retry).
    public nonisolated func commit(_ placements: [Placement]) async throws -> [String] {
        let refused = try await direct.commit(placements)
        return zip(placements, refused).filter(\.1).map(\.0.workloadID)
    }

    /// Current counters.
    public func stats() async -> PlacementWriterStats {
        let d = await direct.stats()
        return PlacementWriterStats(
            submitted: submitted + d.submitted, committed: committed + d.applied,
            transactions: transactions + d.batches, lastError: lastError?.description ?? d.lastError)
    }

    /// Commits buffered decisions as they become due, until cancelled.
    public func run() async throws {
        while !Task.isCancelled {
            if let deadline = nextCommit(), deadline <= .now {
                await commitBuffered()
            } else {
                await waitForDoorbell(until: nextCommit())
            }
        }
        if !buffer.isEmpty { await commitBuffered() }
        let left = waiters
        waiters.removeAll()
        for w in left { w.continuation.resume(throwing: CancellationError()) }
    }

    /// When the next commit is due: now for a full batch or a flush, the oldest decision's
    /// deadline otherwise, the retry instant after a failure; nil with nothing buffered.
    private func nextCommit() -> ContinuousClock.Instant? {
        guard !buffer.isEmpty, let oldest else { return nil }
        if flushAsked { return .now }
        if let retryAt { return retryAt }
        return buffer.count >= maxBatch ? .now : oldest + maxDelay
    }

    /// Sleeps until `deadline` (nil: until rung) or until `submit`/`flush` ring; the timer is a
    /// child task, cancelled as soon as the wait ends.
    private func waitForDoorbell(until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline ?? .now + .seconds(3600), clock: .continuous)
                await self.ring()
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in doorbell = c }
            group.cancelAll()
        }
    }

    private func ring() {
        doorbell?.resume()
        doorbell = nil
    }

    private func commitBuffered() async {
        flushAsked = false
        while !buffer.isEmpty {
            let n = min(buffer.count, maxBatch)
            let batch = Array(buffer.prefix(n))
            do {
                let rejected = try await store.recordPlacements(batch)
                // Only appends happened during the await: the first n are still this batch.
                buffer.removeFirst(n)
                committed += UInt64(n)
                transactions += 1
                lastError = nil
                consecutiveFailures = 0
                retryAt = nil
                if !rejected.isEmpty { onRejected?(rejected) }
                let done = waiters.filter { $0.target <= committed }
                waiters.removeAll { $0.target <= committed }
                for w in done { w.continuation.resume() }
            } catch {
                let e = StoreError.wrapping(error, "placement writer")
                lastError = e
                let failed = waiters
                waiters.removeAll()
                for w in failed { w.continuation.resume(throwing: e) }
                oldest = .now
                // Retry with backoff: maxDelay · 2^failures, at most 5 s.
                consecutiveFailures += 1
                retryAt = .now + min(maxDelay * (1 << min(consecutiveFailures, 7)), .seconds(5))
                return
            }
        }
        oldest = nil
    }
}
