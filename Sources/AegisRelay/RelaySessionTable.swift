// RelaySessionTable.swift — the relay's live sessions, one per edge. Each registration gets the
// next generation; registering an edge that already has a session returns the old one so that
// the caller closes it at once (a redial wins over a half-open predecessor), and a session's
// teardown removes the entry only while it still holds that generation, so an old session ending
// late never removes its successor.
import Synchronization

/// Who a relay session belongs to: the ticket's tenant and edge.
public struct RelayEdgeKey: Hashable, Sendable, CustomStringConvertible {
    public let tenant: String
    public let edge: String

    public init(tenant: String, edge: String) {
        self.tenant = tenant
        self.edge = edge
    }

    public var description: String { tenant + "/" + edge }
}

/// One live session as `RelayServer.sessions()` reports it.
public struct RelaySessionInfo: Sendable, Equatable {
    public let key: RelayEdgeKey
    /// Increases with every session the relay accepts (any edge); the newest session of an edge has the highest.
    public let generation: UInt64
    /// The hex id of the ticket the session was opened with.
    public let ticketID: String
    /// The upstream `HOST:PORT` its bytes go to.
    public let upstream: String
}

/// Sessions by edge; thread-safe.
public final class RelaySessionTable: Sendable {
    struct Entry: Sendable {
        let info: RelaySessionInfo
        /// Ends the session (closes its WebSocket and upstream connection).
        let close: @Sendable () -> Void
    }

    private let state = Mutex<(next: UInt64, entries: [RelayEdgeKey: Entry])>((1, [:]))

    public init() {}

    /// Assigns the next generation to a session of `key` and makes it the edge's session.
    /// - Returns: the generation and the session it replaced, if any (the caller closes that one;
    ///   it is no longer in the table, so its own teardown finds nothing to remove).
    func register(
        _ key: RelayEdgeKey, ticketID: String, upstream: String, close: @escaping @Sendable () -> Void
    ) -> (generation: UInt64, replaced: Entry?) {
        state.withLock { s in
            let generation = s.next
            s.next += 1
            let entry = Entry(
                info: RelaySessionInfo(key: key, generation: generation, ticketID: ticketID, upstream: upstream), close: close)
            let replaced = s.entries.updateValue(entry, forKey: key)
            return (generation, replaced)
        }
    }

    /// Removes `key`'s session only if it is still generation `generation`.
    /// - Returns: whether it removed it.
    @discardableResult
    func remove(_ key: RelayEdgeKey, generation: UInt64) -> Bool {
        state.withLock { s in
            guard s.entries[key]?.info.generation == generation else { return false }
            s.entries[key] = nil
            return true
        }
    }

    /// The live sessions, by tenant and edge.
    public var sessions: [RelaySessionInfo] {
        state.withLock { s in s.entries.values.map(\.info) }.sorted { ($0.key.tenant, $0.key.edge) < ($1.key.tenant, $1.key.edge) }
    }

    /// Closes every session (the relay is stopping).
    func closeAll() {
        let entries = state.withLock { s in
            defer { s.entries = [:] }
            return Array(s.entries.values)
        }
        for e in entries { e.close() }
    }
}
