// NodeCache.swift — decoded node columns (capabilities, allocation) kept next to the JSON text
// they were decoded from, so a node row read again is not JSON-decoded again: every scrape of the
// controller's /metrics lists every node (5,000 rows decoded cost ~110 ms; compared, a few), as do
// `aegis node ls` and a controller's start. As with `SpecCache`, a hit needs the stored text to be
// byte-for-byte the cached text, so the cache never returns what the row does not hold.
import AegisProtocol
import Synchronization

/// A bounded map of node name → (its JSON columns as stored, what they decode to). Thread-safe.
final class NodeCache: Sendable {
    /// Entries kept at most; at the bound the map starts over (the next reads refill it). Well
    /// above the nodes of a cluster (5,000 nodes of ~1 KiB text and decoded value each: ~10 MiB).
    static let capacity = 16_384

    struct Entry {
        var capabilitiesText: String
        var allocatedText: String
        var capabilities: NodeCapabilities
        var allocated: Allocation
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// The decoded columns of `name` when they were cached from exactly these texts; nil otherwise.
    func decoded(name: String, capabilities: String, allocated: String) -> (NodeCapabilities, Allocation)? {
        entries.withLock { map in
            guard let e = map[name], e.capabilitiesText == capabilities, e.allocatedText == allocated else { return nil }
            return (e.capabilities, e.allocated)
        }
    }

    /// Remembers what the stored columns of `name` decode to.
    func remember(name: String, _ entry: Entry) {
        entries.withLock { map in
            if map.count >= Self.capacity && map[name] == nil { map.removeAll(keepingCapacity: true) }
            map[name] = entry
        }
    }

    /// Forgets `name` (its row was deleted).
    func forget(name: String) {
        _ = entries.withLock { $0.removeValue(forKey: name) }
    }

    /// Entries held now (for tests).
    var count: Int { entries.withLock { $0.count } }
}
