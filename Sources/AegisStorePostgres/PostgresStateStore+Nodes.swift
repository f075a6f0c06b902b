// PostgresStateStore+Nodes.swift — the nodes the controller knows (capabilities and allocation as
// JSON text), as AegisStore's Nodes.swift does it on SQLite.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStateStore {
    public func upsertNode(_ node: NodeInfo, keepCordon: Bool, nowMs: Int64) async throws -> NodeInfo {
        let caps = try Self.encodeJSON(node.capabilities, "node \(node.name) capabilities")
        let alloc = try Self.encodeJSON(node.allocated, "node \(node.name) allocation")
        let logger = self.logger
        return try await write("upsert node \(node.name)") { [self] connection in
            let rows = try await connection.query(
                """
                INSERT INTO nodes (name, role, state, cordoned, capabilities, allocated, updated_ms)
                VALUES (\(node.name), \(node.role.rawValue), \(node.state.rawValue), \(node.cordoned), \(caps), \(alloc), \(nowMs))
                ON CONFLICT (name) DO UPDATE SET role = excluded.role, state = excluded.state,
                    cordoned = CASE WHEN \(keepCordon) THEN nodes.cordoned ELSE excluded.cordoned END,
                    capabilities = excluded.capabilities, allocated = excluded.allocated, updated_ms = excluded.updated_ms
                RETURNING \(unescaped: Self.nodeColumns)
                """, logger: logger)
            for try await row in rows { return try Self.node(from: row) }
            throw StoreError(.database, "node \(node.name) vanished after upsert")
        }
    }

    public func node(name: String) async throws -> NodeInfo? {
        let logger = self.logger
        return try await read("read node \(name)") { [self] connection in
            let rows = try await connection.query("SELECT \(unescaped: Self.nodeColumns) FROM nodes WHERE name = \(name)", logger: logger)
            for try await row in rows { return try Self.node(from: row) }
            return nil
        }
    }

    public func listNodes() async throws -> [NodeInfo] {
        let logger = self.logger
        return try await read("list nodes") { [self] connection in
            let rows = try await connection.query("SELECT \(unescaped: Self.nodeColumns) FROM nodes ORDER BY name", logger: logger)
            var out: [NodeInfo] = []
            for try await row in rows { out.append(try Self.node(from: row)) }
            return out
        }
    }

    public func setCordoned(name: String, _ cordoned: Bool) async throws {
        let logger = self.logger
        try await write("cordon node \(name)") { [self] connection in
            let changed = try await Self.count(
                connection,
                "WITH u AS (UPDATE nodes SET cordoned = \(cordoned) WHERE name = \(name) RETURNING 1) SELECT COUNT(*) FROM u", logger)
            if changed == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
    }

    public func setNodeState(name: String, _ state: NodeCondition, nowMs: Int64) async throws {
        let logger = self.logger
        try await write("set state of node \(name)") { [self] connection in
            let changed = try await Self.count(
                connection,
                """
                WITH u AS (UPDATE nodes SET state = \(state.rawValue), updated_ms = \(nowMs) WHERE name = \(name) RETURNING 1)
                SELECT COUNT(*) FROM u
                """, logger)
            if changed == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
    }

    public func deleteNode(name: String) async throws {
        let logger = self.logger
        try await write("delete node \(name)") { [self] connection in
            let deleted = try await Self.count(
                connection, "WITH d AS (DELETE FROM nodes WHERE name = \(name) RETURNING 1) SELECT COUNT(*) FROM d", logger)
            if deleted == 0 { throw StoreError(.notFound, "node \(name) does not exist") }
        }
    }

    // MARK: - helpers

    static let nodeColumns = "name, role, state, cordoned, capabilities, allocated"

    static func node(from row: PostgresRow) throws -> NodeInfo {
        let (name, roleText, state, cordoned, capabilities, allocated) = try row.decode(
            (String, String, String, Bool, String, String).self)
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "node \(name): unknown role \"\(roleText)\" in the database")
        }
        var info = NodeInfo(
            name: name, role: role, state: NodeCondition(stored: state), cordoned: cordoned, capabilities: NodeCapabilities())
        info.capabilities = try decodeJSON(NodeCapabilities.self, capabilities, "node \(name) capabilities")
        info.allocated = try decodeJSON(Allocation.self, allocated, "node \(name) allocation")
        return info
    }

    /// Stored JSON: `CompactJSONEncoder`, as the SQLite backend writes it.
    static func encodeJSON<T: Encodable>(_ value: T, _ what: String) throws -> String {
        do { return try CompactJSONEncoder().encodeString(value) } catch {
            throw StoreError(.encoding, "\(what): cannot encode JSON: \(error)")
        }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw StoreError(.encoding, "\(what): stored JSON does not decode as \(T.self): \(error)")
        }
    }
}
