// PostgresStateStore+Tokens.swift — API bearer tokens: only `hasher.hash(secret)` is stored and
// looked up (unique index), as AegisStore's Tokens.swift does it on SQLite; the token's making
// (kind/tenant rule, secret, id, hash) and a row's principal come from there (`ControlStore.newAPIToken`,
// `ControlStore.principal`).
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func createToken(kind: TokenKind, tenant: String?, nowMs: Int64) async throws -> (id: String, secret: String) {
        let (id, secret, hash) = try ControlStore.newAPIToken(kind: kind, tenant: tenant, hasher: hasher)
        let logger = self.logger
        try await write("create \(kind.rawValue) token") { [self] connection in
            if let t = tenant, try await !Self.tenantExists(connection, t, logger) {
                throw StoreError(.notFound, "tenant \(t) does not exist")
            }
            try await connection.query(
                """
                INSERT INTO tokens (id, hash, kind, tenant, created_ms, revoked)
                VALUES (\(id), \(hash), \(kind.rawValue), \(tenant), \(nowMs), FALSE)
                """, logger: logger)
        }
        return (id, secret)
    }

    public func authenticate(token: String) async throws -> Principal? {
        let statement = AuthenticateStatement(hash: hasher.hash(token))
        let logger = self.logger
        return try await read("authenticate token") { [self] connection in
            for try await (id, kindText, tenant) in try await connection.execute(statement, logger: logger) {
                return ControlStore.principal(tokenID: id, kind: kindText, tenant: tenant)
            }
            return nil
        }
    }

    public func revokeToken(id: String) async throws {
        let logger = self.logger
        try await write("revoke token \(id)") { [self] connection in
            let found = try await Self.count(
                connection, "WITH r AS (UPDATE tokens SET revoked = TRUE WHERE id = \(id) RETURNING 1) SELECT COUNT(*) FROM r", logger)
            if found == 0 { throw StoreError(.notFound, "token \(id) does not exist") }
        }
    }

    public func listTokens(kind: TokenKind?, tenant: String?, includeRevoked: Bool) async throws -> [TokenRecord] {
        let logger = self.logger
        return try await read("list tokens") { [self] connection in
            let rows = try await connection.query(
                """
                SELECT id, hash, kind, tenant, created_ms, revoked FROM tokens
                WHERE (\(kind?.rawValue)::text IS NULL OR kind = \(kind?.rawValue))
                  AND (\(tenant)::text IS NULL OR tenant = \(tenant))
                  AND (\(includeRevoked) OR NOT revoked)
                ORDER BY created_ms, id
                """, logger: logger)
            var out: [TokenRecord] = []
            for try await (id, hash, kindText, tenant, created, revoked) in rows.decode(
                (String, String, String, String?, Int64, Bool).self)
            {
                out.append(
                    TokenRecord(
                        id: id, hash: hash, kind: TokenKind(rawValue: kindText) ?? .tenant, tenant: tenant, createdAtMs: created,
                        revoked: revoked))
            }
            return out
        }
    }
}

/// `authenticate`'s lookup, prepared once per connection (every API request runs it).
struct AuthenticateStatement: PostgresPreparedStatement {
    static let name = "aegis_authenticate"
    static let sql = "SELECT id, kind, tenant FROM tokens WHERE hash = $1 AND NOT revoked"
    typealias Row = (String, String, String?)

    var hash: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(hash)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
