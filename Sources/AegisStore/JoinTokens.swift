// JoinTokens.swift — tokens that let a node join the cluster (`AEG1<ca-sha256>::<id>.<secret>`,
// see AegisPKI.JoinToken). The store issues the id and the secret and keeps only the SHA-256 of the
// secret; the CA fingerprint part is added by the controller, which owns the CA.
//
// A token is usable while it is known, its secret matches, it has not expired and it has not been
// revoked; every successful join counts one use. The idea (short-lived id.secret bootstrap tokens
// with a TTL, listed without their secrets) follows kubeadm's bootstrap tokens.
import AegisSystem
import GRDB
import AegisProtocol
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// A stored join token (never its secret): the API's `JoinTokenInfo` (AegisProtocol), kept in the
/// `join_tokens` table.
public typealias JoinTokenRecord = JoinTokenInfo

/// Why a presented join token was refused. `description` names the token id and the reason, never
/// the secret; the API answers these with 401.
public struct JoinTokenError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// No token has this id (never created, or a different cluster's token).
        case unknown
        /// The id exists but the secret does not hash to the stored hash.
        case wrongSecret
        /// The token expired at this Unix ms time.
        case expired(atMs: Int64)
        /// The token was revoked at this Unix ms time.
        case revoked(atMs: Int64)
    }

    public var tokenID: String
    public var reason: Reason
    /// Check time (Unix ms), for the message.
    public var nowMs: Int64

    public init(tokenID: String, reason: Reason, nowMs: Int64) {
        self.tokenID = tokenID
        self.reason = reason
        self.nowMs = nowMs
    }

    public var description: String {
        switch reason {
        case .unknown:
            return "join token \(tokenID) is unknown to this cluster (never issued here, or mistyped)"
        case .wrongSecret:
            return "join token \(tokenID): the secret does not match (mistyped or altered token)"
        case .expired(let at):
            return "join token \(tokenID) expired at \(ControlStore.utcTimestamp(ms: at)) (now \(ControlStore.utcTimestamp(ms: nowMs)))"
        case .revoked(let at):
            return "join token \(tokenID) was revoked at \(ControlStore.utcTimestamp(ms: at))"
        }
    }
}

extension ControlStore {
    /// Length of a join token id.
    public static let joinTokenIDLength = 6
    /// Length of a join token secret (36^16 ≈ 2^82.7 possibilities).
    public static let joinTokenSecretLength = 16

    /// Issues a join token: id (6) and secret (16) drawn uniformly from `[a-z0-9]` with
    /// SystemRandomNumberGenerator (getrandom(2)); stores the SHA-256 of the secret.
    ///
    /// - Parameters:
    ///   - role: role granted to nodes joining with it.
    ///   - ttlSeconds: lifetime in seconds, 1 … 31_536_000 (365 days).
    ///   - description: free text, at most 200 characters, no control characters.
    /// - Returns: the record and the secret (shown once; only its hash is kept).
    /// - Throws: `StoreError(.invalidArgument)` for a TTL or description out of range, `.database`.
    public func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String = "",
        nowMs: Int64 = ControlStore.nowMs()
    ) throws -> (record: JoinTokenRecord, secret: String) {
        try Self.checkJoinTokenArguments(ttlSeconds: ttlSeconds, description: description)
        let secret = Self.randomTokenText(length: Self.joinTokenSecretLength)
        let hash = hasher.hash(secret)
        return try write("create join token") { db in
            // 36^6 ids: a collision is rare but possible; draw again (the secret stays).
            for _ in 0..<16 {
                let id = Self.randomTokenText(length: Self.joinTokenIDLength)
                if try Row.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM join_tokens WHERE id = ?"), arguments: [id]) != nil { continue }
                let record = JoinTokenRecord(
                    id: id, role: role, description: description, createdAtMs: nowMs,
                    expiresAtMs: nowMs + ttlSeconds * 1000)
                try db.execute(
                    sql: """
                        INSERT INTO join_tokens(id, secret_hash, role, description, created_ms, expires_ms, uses)
                        VALUES (?, ?, ?, ?, ?, ?, 0)
                        """, arguments: [id, hash, role.rawValue, description, nowMs, record.expiresAtMs])
                return (record, secret)
            }
            throw StoreError(.database, "create join token: no free id after 16 random draws")
        }
    }

    /// Join tokens, oldest first (expired and revoked ones included: they are kept for audit).
    public func listJoinTokens() throws -> [JoinTokenRecord] {
        try read("list join tokens") { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.joinTokenColumns) FROM join_tokens ORDER BY created_ms, id"))
                .map(Self.joinToken(from:))
        }
    }

    /// The join token with this id, or nil.
    public func joinToken(id: String) throws -> JoinTokenRecord? {
        try read("read join token \(id)") { try Self.fetchJoinToken($0, id) }
    }

    /// Revokes a join token (kept for audit). Idempotent: a second call keeps the first time.
    /// - Returns: the record after revocation.
    /// - Throws: `StoreError(.notFound)` when no join token has that id.
    @discardableResult
    public func revokeJoinToken(id: String, nowMs: Int64 = ControlStore.nowMs()) throws -> JoinTokenRecord {
        try write("revoke join token \(id)") { db in
            try db.cachedStatement(sql: "UPDATE join_tokens SET revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ?").execute(arguments: [
                nowMs, id,
            ])
            guard db.changesCount > 0, let record = try Self.fetchJoinToken(db, id) else {
                throw StoreError(.notFound, "join token \(id) does not exist")
            }
            return record
        }
    }

    /// Checks a presented join token without using it up. Order: known id, matching secret
    /// (constant-time comparison of the hashes), not revoked, not expired — so a wrong secret
    /// learns nothing about the token's state.
    /// - Returns: the record (role, uses).
    /// - Throws: `JoinTokenError` (`.unknown`, `.wrongSecret`, `.revoked(atMs:)`, `.expired(atMs:)`),
    ///   `StoreError(.database)`.
    @discardableResult
    public func validateJoinToken(id: String, secret: String, nowMs: Int64 = ControlStore.nowMs()) throws -> JoinTokenRecord {
        let hash = hasher.hash(secret)
        return try tokenTransaction("validate join token \(id)", writing: false) { db in
            try Self.checkJoinToken(db, id: id, hash: hash, nowMs: nowMs)
        }
    }

    /// Completes a join in one transaction: validates the token again (it may have been revoked
    /// since `validateJoinToken`), registers or refreshes the node's identity (key pinning, see
    /// `registerIdentity`) and counts one use of the token.
    /// - Parameters:
    ///   - serial: hex serial number of the certificate just issued.
    ///   - role: the role granted (the token's).
    /// - Returns: the token and identity records after the update.
    /// - Throws: `JoinTokenError`; `StoreError(.conflict)` when the name is pinned to another key;
    ///   `.invalidArgument`, `.database`.
    public func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole,
        serial: String, nowMs: Int64 = ControlStore.nowMs()
    ) throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord) {
        let hash = hasher.hash(secret)
        return try tokenTransaction("complete join of node \(nodeName)", writing: true) { db in
            _ = try Self.checkJoinToken(db, id: tokenID, hash: hash, nowMs: nowMs)
            let identity = try Self.pinIdentity(
                db, name: nodeName, fingerprint: fingerprint, role: role, serial: serial,
                tokenID: tokenID, nowMs: nowMs)
            try db.cachedStatement(sql: "UPDATE join_tokens SET uses = uses + 1, last_used_ms = ? WHERE id = ?").execute(arguments: [
                nowMs, tokenID,
            ])
            guard let token = try Self.fetchJoinToken(db, tokenID) else {
                throw StoreError(.database, "join token \(tokenID) vanished during the join")
            }
            return (token, identity)
        }
    }

    /// Lowercase hex SHA-256 of the secret's UTF-8 bytes (equal to AegisPKI's `JoinToken.secretHash`,
    /// and to what the controller's `SHA256TokenHasher` stores). The store itself hashes join-token
    /// secrets with its `TokenHasher`, as it does API tokens.
    public static func joinSecretHash(_ secret: String) -> String {
        Hex.lowercase(SHA256.hash(data: Array(secret.utf8)))
    }

    /// RFC 3339 UTC with second precision ("2025-01-02T03:04:05Z") for Unix ms (gmtime_r).
    public static func utcTimestamp(ms: Int64) -> String {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "\(ms) ms" }
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }

    // MARK: - helpers

    /// `read`/`write`, but a `JoinTokenError` thrown inside passes through unwrapped.
    func tokenTransaction<T>(_ what: String, writing: Bool, _ body: (Database) throws -> T) throws -> T {
        do {
            return writing ? try pool.write(body) : try pool.read(body)
        } catch let e as JoinTokenError {
            throw e
        } catch {
            throw StoreError.wrapping(error, what)
        }
    }

    static let joinTokenColumns = "id, role, description, created_ms, expires_ms, revoked_ms, uses, last_used_ms"

    static func checkJoinToken(_ db: Database, id: String, hash: String, nowMs: Int64) throws -> JoinTokenRecord {
        let row = try Row.fetchOne(
            db, sql: "SELECT secret_hash, \(joinTokenColumns) FROM join_tokens WHERE id = ?", arguments: [id])
        let stored = try row.map { (secretHash: $0["secret_hash"] as String, record: try joinToken(from: $0)) }
        return try verifyJoinToken(id: id, stored: stored, hash: hash, nowMs: nowMs)
    }

    static func fetchJoinToken(_ db: Database, _ id: String) throws -> JoinTokenRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(joinTokenColumns) FROM join_tokens WHERE id = ?"), arguments: [id]).map(
            joinToken(from:))
    }

    static func joinToken(from row: Row) throws -> JoinTokenRecord {
        let id: String = row["id"]
        let roleText: String = row["role"]
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "join token \(id): unknown role \"\(roleText)\" in the database")
        }
        return JoinTokenRecord(
            id: id, role: role, description: row["description"], createdAtMs: row["created_ms"],
            expiresAtMs: row["expires_ms"], revokedAtMs: row["revoked_ms"], uses: row["uses"],
            lastUsedAtMs: row["last_used_ms"])
    }

    // MARK: - shared with the PostgreSQL backend

    /// Checks `createJoinToken`'s arguments: a TTL of 1 s … 365 days, a description of at most
    /// 200 characters without control characters. - Throws: `StoreError(.invalidArgument)`.
    public static func checkJoinTokenArguments(ttlSeconds: Int64, description: String) throws {
        guard ttlSeconds >= 1, ttlSeconds <= Bounds.maxJoinTokenTTLSeconds else {
            throw StoreError(
                .invalidArgument, "join token ttl \(ttlSeconds) s is out of range: 1 s to 365 days (\(Bounds.maxJoinTokenTTLSeconds) s)")
        }
        guard description.count <= 200 else {
            throw StoreError(.invalidArgument, "join token description is \(description.count) characters; at most 200 allowed")
        }
        if let bad = description.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw StoreError(
                .invalidArgument, "join token description contains control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
    }

    /// A presented join token checked against its stored row (nil: no row has this id). Order:
    /// known id, matching secret (`hash` is the presented secret's, compared in constant time with
    /// the stored one), not revoked, not expired — so a wrong secret learns nothing of the state.
    /// - Returns: the record. - Throws: `JoinTokenError`.
    public static func verifyJoinToken(
        id: String, stored: (secretHash: String, record: JoinTokenRecord)?, hash: String, nowMs: Int64
    ) throws(JoinTokenError) -> JoinTokenRecord {
        guard let stored else { throw JoinTokenError(tokenID: id, reason: .unknown, nowMs: nowMs) }
        guard constantTimeEqual(stored.secretHash, hash) else { throw JoinTokenError(tokenID: id, reason: .wrongSecret, nowMs: nowMs) }
        let record = stored.record
        if let revoked = record.revokedAtMs { throw JoinTokenError(tokenID: id, reason: .revoked(atMs: revoked), nowMs: nowMs) }
        if nowMs >= record.expiresAtMs { throw JoinTokenError(tokenID: id, reason: .expired(atMs: record.expiresAtMs), nowMs: nowMs) }
        return record
    }

    /// Uniform over `[a-z0-9]` (rejection-free: `Int.random(in:using:)` is unbiased), from
    /// SystemRandomNumberGenerator (getrandom(2)): join token ids and secrets.
    public static func randomTokenText(length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var rng = SystemRandomNumberGenerator()
        return String(decoding: (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }, as: UTF8.self)
    }

    /// Equal-length strings compared without an early exit.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
