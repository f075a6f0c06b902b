// GroupCommit.swift — group commit without a timer, for any batch write of the store. A caller
// that finds no commit running applies its items at once; callers that arrive while one runs wait,
// and the first of them then applies everything waiting (up to `maxBatch` items) in one call of
// `apply` — one transaction. Each caller gets the outcomes of its own items. Used
// for the controller's placements (`PlacementWriter.commit`) and submissions (`insertWorkloads`).

/// Counters of a GroupCommit.
public struct GroupCommitStats: Sendable, Equatable {
    /// Items handed to `commit`.
    public var submitted: UInt64 = 0
    /// Items applied (whatever their outcome).
    public var applied: UInt64 = 0
    /// Successful calls of `apply` (transactions).
    public var batches: UInt64 = 0
    /// The last failure of `apply`, nil once one succeeds again.
    public var lastError: String?
}

public actor GroupCommit<Item: Sendable, Outcome: Sendable> {
    /// Applies a batch in one transaction; returns one outcome per item, in order. A throw fails
    /// every caller whose items were in the batch (the batch must then have applied nothing).
    public typealias Apply = @Sendable ([Item]) async throws -> [Outcome]

    public nonisolated let maxBatch: Int
    private let apply: Apply
    private let what: String
    /// A commit is running (its caller, or the caller it handed over to, holds it).
    private var committing = false
    /// Callers waiting for the running commit to end, oldest first.
    private var queued: [Queued] = []
    private var counters = GroupCommitStats()

    private enum Turn: Sendable {
        case done([Outcome])
        case lead
    }

    private struct Queued {
        let items: [Item]
        let continuation: CheckedContinuation<Turn, any Error>
    }

    /// - Parameters:
    ///   - what: names the batch in errors ("placement writer", "submissions").
    ///   - maxBatch: items per `apply`, ≥ 1 (a caller's own items are never split, so one caller
    ///     alone may pass it).
    public init(_ what: String, maxBatch: Int = 500, apply: @escaping Apply) {
        self.what = what
        self.maxBatch = max(1, maxBatch)
        self.apply = apply
    }

    /// Applies `items` (with whatever else is waiting) and returns their outcomes, in order.
    /// - Throws: the `StoreError` of the batch that held them.
    public func commit(_ items: [Item]) async throws -> [Outcome] {
        guard !items.isEmpty else { return [] }
        counters.submitted += UInt64(items.count)
        if committing {
            let turn = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Turn, any Error>) in
                queued.append(Queued(items: items, continuation: c))
            }
            if case let .done(outcomes) = turn { return outcomes }
            // .lead: the previous committer handed over; `committing` stayed true.
        }
        committing = true
        var batch = items
        var taken = 0
        for next in queued {
            guard batch.count + next.items.count <= maxBatch else { break }
            batch += next.items
            taken += 1
        }
        let joined = Array(queued.prefix(taken))
        queued.removeFirst(taken)
        let result: Result<[Outcome], StoreError>
        do {
            let outcomes = try await apply(batch)
            guard outcomes.count == batch.count else {
                throw StoreError(.database, "\(what): \(outcomes.count) outcomes for \(batch.count) items")
            }
            counters.applied += UInt64(batch.count)
            counters.batches += 1
            counters.lastError = nil
            result = .success(outcomes)
        } catch {
            let e = StoreError.wrapping(error, "\(what): commit of \(batch.count) item(s)")
            counters.lastError = e.description
            result = .failure(e)
        }
        // Hand over before answering: callers that queued meanwhile are committed next.
        if queued.isEmpty {
            committing = false
        } else {
            queued.removeFirst().continuation.resume(returning: .lead)
        }
        switch result {
        case let .success(outcomes):
            var offset = items.count
            for q in joined {
                q.continuation.resume(returning: .done(Array(outcomes[offset..<(offset + q.items.count)])))
                offset += q.items.count
            }
            return Array(outcomes[0..<items.count])
        case let .failure(e):
            for q in joined { q.continuation.resume(throwing: e) }
            throw e
        }
    }

    /// Current counters.
    public func stats() -> GroupCommitStats { counters }
}
