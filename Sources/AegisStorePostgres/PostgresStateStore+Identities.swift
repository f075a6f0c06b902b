// PostgresStateStore+Identities.swift — the public key each node name is pinned to (trust on first
// use per name), as AegisStore's NodeIdentities.swift does it on SQLite.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String?, tokenID: String?, nowMs: Int64
    ) async throws -> NodeIdentityRecord {
        let logger = self.logger
        return try await write("register identity of node \(name)") { [self] connection in
            try await Self.pinIdentity(
                connection, name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: nowMs, logger)
        }
    }

    public func recordRenewal(name: String, fingerprint: String, serial: String, nowMs: Int64) async throws -> NodeIdentityRecord {
        let logger = self.logger
        return try await write("record renewal of node \(name)") { [self] connection in
            guard let current = try await Self.fetchIdentity(connection, name, lock: true, logger) else {
                throw StoreError(
                    .notFound, "node \(name) has no registered identity (never joined, or removed); join it again with a token")
            }
            guard current.keyFingerprint == fingerprint else {
                throw Self.keyConflict(name, pinned: current.keyFingerprint, presented: fingerprint)
            }
            let rows = try await connection.query(
                """
                UPDATE node_identities SET last_serial = \(serial), last_issued_ms = \(nowMs) WHERE name = \(name)
                RETURNING \(unescaped: Self.identityColumns)
                """, logger: logger)
            for try await row in rows { return try Self.identity(from: row) }
            return current
        }
    }

    public func identity(name: String) async throws -> NodeIdentityRecord? {
        let logger = self.logger
        return try await read("read identity of node \(name)") { try await Self.fetchIdentity($0, name, lock: false, logger) }
    }

    public func listIdentities() async throws -> [NodeIdentityRecord] {
        let logger = self.logger
        return try await read("list node identities") { [self] connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.identityColumns) FROM node_identities ORDER BY name", logger: logger)
            var out: [NodeIdentityRecord] = []
            for try await row in rows { out.append(try Self.identity(from: row)) }
            return out
        }
    }

    public func removeIdentity(name: String) async throws {
        let logger = self.logger
        try await write("remove identity of node \(name)") { [self] connection in
            let removed = try await Self.count(
                connection, "WITH d AS (DELETE FROM node_identities WHERE name = \(name) RETURNING 1) SELECT COUNT(*) FROM d", logger)
            if removed == 0 { throw StoreError(.notFound, "node \(name) has no registered identity") }
        }
    }

    // MARK: - helpers

    static let identityColumns = "name, key_fingerprint, role, first_joined_ms, last_issued_ms, last_serial, join_token"

    /// Pins `name` to `fingerprint` on first use, or refreshes role, serial and issue time of the
    /// same key. A first pin racing another transaction's is settled by the primary key: the loser
    /// reads the winner's row and compares keys.
    static func pinIdentity(
        _ connection: PostgresConnection, name: String, fingerprint: String, role: NodeRole, serial: String?,
        tokenID: String?, nowMs: Int64, _ logger: Logger
    ) async throws -> NodeIdentityRecord {
        guard !name.isEmpty else { throw StoreError(.invalidArgument, "node identity needs a node name") }
        guard fingerprint.utf8.count == 64,
            fingerprint.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw StoreError(
                .invalidArgument, "node \(name): key fingerprint must be 64 lowercase hex characters (SHA-256), got \"\(fingerprint)\"")
        }
        let inserted = try await connection.query(
            """
            INSERT INTO node_identities (name, key_fingerprint, role, first_joined_ms, last_issued_ms, last_serial, join_token)
            VALUES (\(name), \(fingerprint), \(role.rawValue), \(nowMs), \(nowMs), \(serial), \(tokenID))
            ON CONFLICT (name) DO NOTHING
            RETURNING \(unescaped: identityColumns)
            """, logger: logger)
        for try await row in inserted { return try identity(from: row) }
        guard let current = try await fetchIdentity(connection, name, lock: true, logger) else {
            throw StoreError(.database, "identity of node \(name) vanished while pinning it")
        }
        guard current.keyFingerprint == fingerprint else {
            throw keyConflict(name, pinned: current.keyFingerprint, presented: fingerprint)
        }
        let rows = try await connection.query(
            """
            UPDATE node_identities SET role = \(role.rawValue), last_serial = COALESCE(\(serial), last_serial), last_issued_ms = \(nowMs)
            WHERE name = \(name)
            RETURNING \(unescaped: identityColumns)
            """, logger: logger)
        for try await row in rows { return try identity(from: row) }
        throw StoreError(.database, "identity of node \(name) vanished after writing it")
    }

    static func keyConflict(_ name: String, pinned: String, presented: String) -> StoreError {
        StoreError(
            .conflict,
            "node \(name) is already joined with another key (fingerprint \(pinned); this request's key is \(presented)); "
                + "remove it first (`aegis node forget \(name)`) or join under another name")
    }

    static func fetchIdentity(
        _ connection: PostgresConnection, _ name: String, lock: Bool, _ logger: Logger
    ) async throws
        -> NodeIdentityRecord?
    {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: identityColumns) FROM node_identities WHERE name = \(name)\(unescaped: lock ? " FOR UPDATE" : "")
            """, logger: logger)
        for try await row in rows { return try identity(from: row) }
        return nil
    }

    static func identity(from row: PostgresRow) throws -> NodeIdentityRecord {
        let (name, fingerprint, roleText, first, last, serial, token) = try row.decode(
            (String, String, String, Int64, Int64, String?, String?).self)
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "node identity \(name): unknown role \"\(roleText)\" in the database")
        }
        return NodeIdentityRecord(
            name: name, keyFingerprint: fingerprint, role: role, firstJoinedAtMs: first, lastIssuedAtMs: last, lastSerial: serial,
            joinToken: token)
    }
}
