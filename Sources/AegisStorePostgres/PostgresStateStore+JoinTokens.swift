// PostgresStateStore+JoinTokens.swift — join tokens (id + secret, only the secret's hash kept),
// with AegisStore's JoinTokens.swift rules, taken from there (`ControlStore.checkJoinTokenArguments`,
// `verifyJoinToken`, `randomTokenText`): TTL 1 s … 365 days, validation order (known id, secret,
// revoked, expired), one use counted per completed join, revocation idempotent.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String, nowMs: Int64
    ) async throws -> (record: JoinTokenRecord, secret: String) {
        try ControlStore.checkJoinTokenArguments(ttlSeconds: ttlSeconds, description: description)
        let secret = ControlStore.randomTokenText(length: ControlStore.joinTokenSecretLength)
        let hash = hasher.hash(secret)
        let logger = self.logger
        let made = try await write("create join token") { connection -> JoinTokenRecord in
            // 36^6 ids: a collision is rare but possible; draw again (the secret stays).
            for _ in 0..<16 {
                let id = ControlStore.randomTokenText(length: ControlStore.joinTokenIDLength)
                let record = JoinTokenRecord(
                    id: id, role: role, description: description, createdAtMs: nowMs, expiresAtMs: nowMs + ttlSeconds * 1000)
                let inserted = try await Self.count(
                    connection,
                    """
                    WITH i AS (
                        INSERT INTO join_tokens (id, secret_hash, role, description, created_ms, expires_ms, uses)
                        VALUES (\(id), \(hash), \(role.rawValue), \(description), \(nowMs), \(record.expiresAtMs), 0)
                        ON CONFLICT (id) DO NOTHING RETURNING 1)
                    SELECT COUNT(*) FROM i
                    """, logger)
                if inserted == 1 { return record }
            }
            throw StoreError(.database, "create join token: no free id after 16 random draws")
        }
        return (made, secret)
    }

    public func listJoinTokens() async throws -> [JoinTokenRecord] {
        let logger = self.logger
        return try await read("list join tokens") { [self] connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.joinTokenColumns) FROM join_tokens ORDER BY created_ms, id", logger: logger)
            var out: [JoinTokenRecord] = []
            for try await row in rows { out.append(try Self.joinToken(from: row)) }
            return out
        }
    }

    public func joinToken(id: String) async throws -> JoinTokenRecord? {
        let logger = self.logger
        return try await read("read join token \(id)") { try await Self.fetchJoinToken($0, id, logger) }
    }

    public func revokeJoinToken(id: String, nowMs: Int64) async throws -> JoinTokenRecord {
        let logger = self.logger
        return try await write("revoke join token \(id)") { [self] connection in
            let rows = try await connection.query(
                """
                UPDATE join_tokens SET revoked_ms = COALESCE(revoked_ms, \(nowMs)) WHERE id = \(id)
                RETURNING \(unescaped: Self.joinTokenColumns)
                """, logger: logger)
            for try await row in rows { return try Self.joinToken(from: row) }
            throw StoreError(.notFound, "join token \(id) does not exist")
        }
    }

    public func validateJoinToken(id: String, secret: String, nowMs: Int64) async throws -> JoinTokenRecord {
        let hash = hasher.hash(secret)
        let logger = self.logger
        return try await read("validate join token \(id)") { [self] connection in
            try await Self.checkJoinToken(connection, id: id, hash: hash, nowMs: nowMs, lock: false, logger)
        }
    }

    public func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole, serial: String,
        nowMs: Int64
    ) async throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord) {
        let hash = hasher.hash(secret)
        let logger = self.logger
        let done = try await write("complete join of node \(nodeName)") { connection -> JoinDone in
            // The token row is locked: a revocation committing meanwhile is seen, or waits for us.
            _ = try await Self.checkJoinToken(connection, id: tokenID, hash: hash, nowMs: nowMs, lock: true, logger)
            let identity = try await Self.pinIdentity(
                connection, name: nodeName, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: nowMs,
                logger)
            let rows = try await connection.query(
                """
                UPDATE join_tokens SET uses = uses + 1, last_used_ms = \(nowMs) WHERE id = \(tokenID)
                RETURNING \(unescaped: Self.joinTokenColumns)
                """, logger: logger)
            for try await row in rows { return JoinDone(token: try Self.joinToken(from: row), identity: identity) }
            throw StoreError(.database, "join token \(tokenID) vanished during the join")
        }
        return (done.token, done.identity)
    }

    // MARK: - helpers

    static let joinTokenColumns = "id, role, description, created_ms, expires_ms, revoked_ms, uses, last_used_ms"

    /// The token if `hash` matches and it is neither revoked nor expired (`ControlStore.verifyJoinToken`).
    static func checkJoinToken(
        _ connection: PostgresConnection, id: String, hash: String, nowMs: Int64, lock: Bool, _ logger: Logger
    ) async throws -> JoinTokenRecord {
        let rows = try await connection.query(
            """
            SELECT secret_hash, \(unescaped: joinTokenColumns) FROM join_tokens WHERE id = \(id)\(unescaped: lock ? " FOR UPDATE" : "")
            """, logger: logger)
        var stored: (secretHash: String, record: JoinTokenRecord)?
        for try await row in rows {
            stored = (try row.decode(String.self), try joinToken(from: row, offset: 1))
        }
        return try ControlStore.verifyJoinToken(id: id, stored: stored, hash: hash, nowMs: nowMs)
    }

    static func fetchJoinToken(_ connection: PostgresConnection, _ id: String, _ logger: Logger) async throws -> JoinTokenRecord? {
        let rows = try await connection.query("SELECT \(unescaped: joinTokenColumns) FROM join_tokens WHERE id = \(id)", logger: logger)
        for try await row in rows { return try joinToken(from: row) }
        return nil
    }

    /// A record from `joinTokenColumns`, starting at column `offset`.
    static func joinToken(from row: PostgresRow, offset: Int = 0) throws -> JoinTokenRecord {
        let all = row.makeRandomAccess()
        let id = try all[offset].decode(String.self)
        let roleText = try all[offset + 1].decode(String.self)
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "join token \(id): unknown role \"\(roleText)\" in the database")
        }
        return JoinTokenRecord(
            id: id, role: role, description: try all[offset + 2].decode(String.self),
            createdAtMs: try all[offset + 3].decode(Int64.self), expiresAtMs: try all[offset + 4].decode(Int64.self),
            revokedAtMs: try all[offset + 5].decode(Int64?.self), uses: Int(try all[offset + 6].decode(Int64.self)),
            lastUsedAtMs: try all[offset + 7].decode(Int64?.self))
    }
}

/// `completeJoin`'s result (a tuple is not Sendable-checked through `write`).
private struct JoinDone: Sendable {
    let token: JoinTokenRecord
    let identity: NodeIdentityRecord
}
