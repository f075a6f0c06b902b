// Tokens.swift — API bearer tokens. Only `hasher.hash(secret)` is stored; the secret is returned
// once by createToken and cannot be recovered. Lookup is by the (unique, indexed) hash, so no
// secret-dependent comparison happens in this process.
import AegisSystem
import GRDB
import AegisProtocol

/// Who a token belongs to.
public enum TokenKind: String, Codable, Sendable, CaseIterable {
    /// Cluster administrator: all tenants, nodes, quotas.
    case admin
    /// One tenant's workloads only.
    case tenant
}

/// A stored token (never the secret).
public struct TokenRecord: Codable, Sendable, Equatable {
    /// "tok-" + 12 hex digits; safe to show and log.
    public var id: String
    /// `TokenHasher.hash(secret)`.
    public var hash: String
    public var kind: TokenKind
    /// Owning tenant for `.tenant` tokens, nil for `.admin`.
    public var tenant: String?
    /// Unix milliseconds.
    public var createdAtMs: Int64
    public var revoked: Bool

    public init(id: String, hash: String, kind: TokenKind, tenant: String?, createdAtMs: Int64, revoked: Bool) {
        self.id = id
        self.hash = hash
        self.kind = kind
        self.tenant = tenant
        self.createdAtMs = createdAtMs
        self.revoked = revoked
    }
}

/// The authenticated caller of an API request.
public enum Principal: Sendable, Equatable, Hashable {
    case admin(tokenID: String)
    case tenant(String, tokenID: String)

    /// The token that authenticated the caller (for audit logs).
    public var tokenID: String {
        switch self {
        case .admin(let id), .tenant(_, let id): return id
        }
    }

    /// The tenant for tenant principals, nil for admin.
    public var tenantName: String? {
        if case .tenant(let name, _) = self { return name }
        return nil
    }
}

extension ControlStore {
    /// Issues a token: 32 bytes from SystemRandomNumberGenerator, as 64 lowercase hex digits.
    /// - Parameters:
    ///   - kind: `.admin` (tenant must be nil) or `.tenant` (tenant must exist).
    /// - Returns: the token id and the plaintext secret — shown once, never stored.
    /// - Throws: `.invalidArgument` (kind/tenant mismatch, or the hasher returned the secret
    ///   itself or an empty string), `.notFound` (tenant), `.database`.
    public func createToken(
        kind: TokenKind, tenant: String? = nil,
        nowMs: Int64 = ControlStore.nowMs()
    ) throws -> (id: String, secret: String) {
        let (id, secret, hash) = try Self.newAPIToken(kind: kind, tenant: tenant, hasher: hasher)
        try write("create \(kind.rawValue) token") { db in
            if let t = tenant, try !Self.tenantExists(db, t) { throw StoreError(.notFound, "tenant \(t) does not exist") }
            try db.execute(
                sql: "INSERT INTO tokens(id, hash, kind, tenant, created_ms, revoked) VALUES (?, ?, ?, ?, ?, 0)",
                arguments: [id, hash, kind.rawValue, tenant, nowMs])
        }
        return (id, secret)
    }

    /// Looks a presented token up by its hash.
    /// - Returns: the principal, or nil when the token is unknown or revoked (or its tenant was deleted).
    public func authenticate(token: String) throws -> Principal? {
        let hash = hasher.hash(token)
        return try read("authenticate token") { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT id, kind, tenant FROM tokens WHERE hash = ? AND revoked = 0"),
                    arguments: [hash])
            else { return nil }
            return Self.principal(tokenID: row["id"], kind: row["kind"], tenant: row["tenant"])
        }
    }

    /// Marks a token revoked (kept for audit). Idempotent.
    /// - Throws: `.notFound` when no token has that id.
    public func revokeToken(id: String) throws {
        try write("revoke token \(id)") { db in
            try db.cachedStatement(sql: "UPDATE tokens SET revoked = 1 WHERE id = ?").execute(arguments: [id])
            if db.changesCount == 0 { throw StoreError(.notFound, "token \(id) does not exist") }
        }
    }

    /// Token records, oldest first, optionally filtered.
    public func listTokens(kind: TokenKind? = nil, tenant: String? = nil, includeRevoked: Bool = true) throws -> [TokenRecord] {
        var sql = "SELECT id, hash, kind, tenant, created_ms, revoked FROM tokens WHERE 1"
        var args: [(any DatabaseValueConvertible)?] = []
        if let kind { sql += " AND kind = ?"; args.append(kind.rawValue) }
        if let tenant { sql += " AND tenant = ?"; args.append(tenant) }
        if !includeRevoked { sql += " AND revoked = 0" }
        sql += " ORDER BY created_ms, id"
        return try read("list tokens") { db in
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(args)).map { row in
                TokenRecord(
                    id: row["id"], hash: row["hash"], kind: TokenKind(rawValue: row["kind"]) ?? .tenant,
                    tenant: row["tenant"], createdAtMs: row["created_ms"], revoked: row["revoked"])
            }
        }
    }

    // MARK: - shared with the PostgreSQL backend

    /// A new API token, not yet stored: the secret is 32 bytes from SystemRandomNumberGenerator as
    /// 64 lowercase hex digits, the id "tok-" + 12 hex digits, `hash` what the store keeps.
    /// - Throws: `.invalidArgument` when `kind` and `tenant` do not match (an admin token with a
    ///   tenant, a tenant token without), or when `hasher` returned an empty string or the secret itself.
    public static func newAPIToken(
        kind: TokenKind, tenant: String?, hasher: any TokenHasher
    ) throws -> (id: String, secret: String, hash: String) {
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
        return (id, secret, hash)
    }

    /// The principal of a stored, unrevoked token row (its id, kind and tenant columns); nil for a
    /// kind this version does not know, or a tenant token without a tenant.
    public static func principal(tokenID: String, kind: String, tenant: String?) -> Principal? {
        switch TokenKind(rawValue: kind) {
        case .admin: return .admin(tokenID: tokenID)
        case .tenant: return tenant.map { .tenant($0, tokenID: tokenID) }
        case nil: return nil
        }
    }
}
