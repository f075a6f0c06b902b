// SpecCache.swift — decoded workload specs kept next to the JSON text they were decoded from, so a
// row read again (every scheduling pass reads the pending rows; an update reads its row) is not
// JSON-decoded again. A hit needs the stored text to be byte-for-byte the cached text, so the cache
// can never return a spec the row does not hold; it only skips a decode whose result is known.
// Public: the PostgreSQL backend (AegisStorePostgres) keeps one for its rows too.
import AegisProtocol
import Synchronization

/// A bounded map of workload id → (spec JSON as stored, the spec it decodes to). Thread-safe.
public final class SpecCache: Sendable {
    /// Entries kept at most; at the bound the map starts over (the next reads refill it). Sized for
    /// the pending and recently submitted workloads a scheduling pass reads (4,096 specs of a few
    /// hundred bytes each: ~2 MiB).
    public static let capacity = 4096

    private struct Entry {
        var text: String
        var spec: WorkloadSpec
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The spec cached for `id` when it was cached from exactly `text`; nil otherwise.
    public func spec(id: String, text: String) -> WorkloadSpec? {
        entries.withLock { map in
            guard let e = map[id], e.text == text else { return nil }
            return e.spec
        }
    }

    /// Remembers that `text` (the stored spec column of `id`) decodes to `spec`.
    public func remember(id: String, text: String, spec: WorkloadSpec) {
        entries.withLock { map in
            if map.count >= Self.capacity && map[id] == nil { map.removeAll(keepingCapacity: true) }
            map[id] = Entry(text: text, spec: spec)
        }
    }

    /// Forgets `id` (its row was deleted).
    public func forget(id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// Entries held now (for tests).
    public var count: Int { entries.withLock { $0.count } }
}
