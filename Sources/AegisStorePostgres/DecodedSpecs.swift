// DecodedSpecs.swift — decoded workload specs kept next to the JSON text they were decoded from,
// so a row read again (every scheduling pass lists the pending workloads; every update reads its
// row) skips the JSON decode. A hit needs the stored text to be byte-for-byte the cached text: the
// cache never answers with a spec the row does not hold. (The SQLite backend's SpecCache does the
// same for its rows.)
import AegisProtocol
import Synchronization

/// A bounded map of workload id → (spec JSON as stored, the spec it decodes to). Thread-safe.
final class DecodedSpecs: Sendable {
    /// Entries kept at most; at the bound the map starts over (4,096 specs of a few hundred bytes).
    static let capacity = 4096

    private struct Entry {
        var text: String
        var spec: WorkloadSpec
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// The spec cached for `id` when it was cached from exactly `text`; nil otherwise.
    func spec(id: String, text: String) -> WorkloadSpec? {
        entries.withLock { map in
            guard let e = map[id], e.text == text else { return nil }
            return e.spec
        }
    }

    /// Remembers that `text` (the stored spec column of `id`) decodes to `spec`.
    func remember(id: String, text: String, spec: WorkloadSpec) {
        entries.withLock { map in
            if map.count >= Self.capacity && map[id] == nil { map.removeAll(keepingCapacity: true) }
            map[id] = Entry(text: text, spec: spec)
        }
    }
}
