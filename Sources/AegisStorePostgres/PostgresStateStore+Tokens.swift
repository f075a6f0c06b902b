// PostgresStateStore+Tokens.swift — API bearer tokens: only `hasher.hash(secret)` is stored and
// looked up (unique index), as AegisStore's Tokens.swift does it on SQLite.
import AegisProtocol
import AegisStore
import AegisSystem
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func createToken(kind: TokenKind, tenant: String?, nowMs: Int64) async throws -> (id: String, secret: String) {
        switch (kind, tenant) {
        case (.admin, .some(let t)):
            throw StoreError(.invalidArgument, "admin tokens have no tenant (got tenant \(t))")
        case (.tenant, .none):
            throw StoreError(.invalidArgument, "tenant tokens need a tenant name")
        default: break
        }
        var rng = SystemRandomNumberGenerator()
        let secret = Hex.lowercase((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
        let id = "tok-" + Hex.lowercase((0..<6).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
        let hash = hasher.hash(secret)
        guard !hash.isEmpty, !hash.contains(secret) else {
            throw StoreError(
                .invalidArgument, "token hasher \(type(of: hasher)) returned an empty string or the secret itself; refusing to store it")
        }
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
                switch TokenKind(rawValue: kindText) {
                case .admin: return .admin(tokenID: id)
                case .tenant: return tenant.map { .tenant($0, tokenID: id) }
                case nil: return nil
                }
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
