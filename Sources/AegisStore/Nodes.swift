// Nodes.swift — the nodes the controller knows (capabilities and allocation as JSON columns).
import GRDB
import AegisProtocol

extension ControlStore {
    /// Inserts or replaces a node's record. With `keepCordon` (default) an existing row keeps its
    /// `cordoned` flag (an operator's cordon survives the node re-registering); `node.cordoned` is
    /// used for new rows or when `keepCordon` is false.
    /// - Returns: the stored record.
    @discardableResult
    public func upsertNode(_ node: NodeInfo, keepCordon: Bool = true, nowMs: Int64 = ControlStore.nowMs()) throws -> NodeInfo {
        let caps = try Self.encodeJSON(node.capabilities, "node \(node.name) capabilities")
        let alloc = try Self.encodeJSON(node.allocated, "node \(node.name) allocation")
        return try write("upsert node \(node.name)") { db in
            try db.execute(
                sql: """
                    INSERT INTO nodes(name, role, state, cordoned, capabilities, allocated, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET role = excluded.role, state = excluded.state,
                        cordoned = CASE WHEN ? THEN nodes.cordoned ELSE excluded.cordoned END,
                        capabilities = excluded.capabilities, allocated = excluded.allocated, updated_ms = excluded.updated_ms
                    """, arguments: [node.name, node.role.rawValue, node.state.rawValue, node.cordoned, caps, alloc, nowMs, keepCordon])
            guard let n = try fetchNode(db, node.name) else { throw StoreError(.database, "node \(node.name) vanished after upsert") }
            return n
        }
    }

    /// The node, or nil.
    public func node(name: String) throws -> NodeInfo? {
        try read("read node \(name)") { try fetchNode($0, name) }
    }

    /// All nodes, ordered by name (the JSON columns of a row unchanged since the last read are
    /// not decoded again: `nodeCache`).
    public func listNodes() throws -> [NodeInfo] {
        try read("list nodes") { db in
            try Array(Row.fetchCursor(db.cachedStatement(sql: "SELECT \(Self.nodeColumns) FROM nodes ORDER BY name")).map(node(from:)))
        }
    }

    /// Sets or clears the cordon (a cordoned node gets no new placements). - Throws: `.notFound`.
    public func setCordoned(name: String, _ cordoned: Bool) throws {
        try write("cordon node \(name)") { db in
            try db.cachedStatement(sql: "UPDATE nodes SET cordoned = ? WHERE name = ?").execute(arguments: [cordoned, name])
            if db.changesCount == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
    }

    /// Sets the node's condition (stored as its raw string). - Throws: `.notFound`.
    public func setNodeState(name: String, _ state: NodeCondition, nowMs: Int64 = ControlStore.nowMs()) throws {
        try write("set state of node \(name)") { db in
            try db.cachedStatement(sql: "UPDATE nodes SET state = ?, updated_ms = ? WHERE name = ?").execute(arguments: [
                state.rawValue, nowMs, name,
            ])
            if db.changesCount == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
    }

    /// Forgets a node. - Throws: `.notFound`.
    public func deleteNode(name: String) throws {
        try write("delete node \(name)") { db in
            try db.cachedStatement(sql: "DELETE FROM nodes WHERE name = ?").execute(arguments: [name])
            if db.changesCount == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
        nodeCache.forget(name: name)
    }

    /// The columns `node(from:)` reads, by position.
    static let nodeColumns = "name, role, state, cordoned, capabilities, allocated"

    func fetchNode(_ db: Database, _ name: String) throws -> NodeInfo? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.nodeColumns) FROM nodes WHERE name = ?"), arguments: [name]).map(
            node(from:))
    }

    /// A node row decoded; its capabilities and allocation come from `nodeCache` when the row's
    /// texts are the cached ones.
    func node(from row: Row) throws -> NodeInfo {
        let name: String = row[0]
        let roleText: String = row[1]
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "node \(name): unknown role \"\(roleText)\" in the database")
        }
        let capabilitiesText: String = row[4]
        let allocatedText: String = row[5]
        var info = NodeInfo(
            name: name, role: role, state: NodeCondition(stored: row[2]), cordoned: row[3], capabilities: NodeCapabilities())
        if let (capabilities, allocated) = nodeCache.decoded(name: name, capabilities: capabilitiesText, allocated: allocatedText) {
            info.capabilities = capabilities
            info.allocated = allocated
        } else {
            info.capabilities = try Self.decodeJSON(NodeCapabilities.self, capabilitiesText, "node \(name) capabilities")
            info.allocated = try Self.decodeJSON(Allocation.self, allocatedText, "node \(name) allocation")
            nodeCache.remember(
                name: name,
                .init(
                    capabilitiesText: capabilitiesText, allocatedText: allocatedText, capabilities: info.capabilities,
                    allocated: info.allocated))
        }
        return info
    }
}
