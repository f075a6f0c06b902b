// Sink.swift — committing decisions in group commits.
//
// A sink receives a batch of decisions and returns once they are committed (main.swift passes the
// controller's own path: PlacementWriter.commit on a SQLiteStateStore, one SQLite WAL transaction
// per batch, run on the store's queue; the store's synchronous=NORMAL
// survives a process crash, a power loss can lose what the last checkpoint didn't cover). The group
// committer calls it when a batch is big enough or its oldest decision has waited long enough.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AegisScheduler
import Foundation

/// One decision to persist.
struct PlacementRecord: Sendable {
    var workloadID: String
    var tenant: String
    /// nil when pending.
    var node: String?
    var gpus: [String]
    var score: Double
    /// The pending reason, when pending.
    var reason: String?
    /// Monotonic ns when the decision was made.
    var decidedAtNs: UInt64
}

/// Makes a batch durable; returns only when every record in it is.
typealias PlacementSink = ([PlacementRecord]) async throws -> Void

func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPU time this thread has used, ns (what "on one core" means when other processes compete for it).
func threadCPUNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPU time of the whole process, ns (every thread: the placement loop and the store's client).
func processCPUNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Buffers decisions and flushes them to the sink in groups.
struct GroupCommitter {
    let sink: PlacementSink
    /// Flush when this many decisions wait.
    let maxBatch: Int
    /// Flush when the oldest waiting decision is this old (ns).
    let maxDelayNs: UInt64
    var buffer: [PlacementRecord] = []
    /// Decision → durable, ns, per record.
    var latenciesNs: [UInt64] = []
    var flushes = 0
    var flushNs: UInt64 = 0

    init(sink: @escaping PlacementSink, maxBatch: Int, maxDelayNs: UInt64) {
        self.sink = sink
        self.maxBatch = maxBatch
        self.maxDelayNs = maxDelayNs
        buffer.reserveCapacity(maxBatch)
    }

    mutating func add(_ r: PlacementRecord) async throws {
        buffer.append(r)
        if buffer.count >= maxBatch || r.decidedAtNs - buffer[0].decidedAtNs >= maxDelayNs { try await flush() }
    }

    mutating func flush() async throws {
        if buffer.isEmpty { return }
        let start = monotonicNs()
        try await sink(buffer)
        let done = monotonicNs()
        flushes += 1
        flushNs += done - start
        for r in buffer { latenciesNs.append(done - r.decidedAtNs) }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Placements the store applied, counted from the sink (a @Sendable closure).
final class CommitCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
