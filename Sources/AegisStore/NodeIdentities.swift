// NodeIdentities.swift — the public key each node name is pinned to. The first join of a name
// records the SHA-256 of its key's SubjectPublicKeyInfo; later joins and renewals under that name
// must present the same key (trust on first use, per name), so a leaked join token cannot be used
// to take over an existing node's name. Removing the identity frees the name.
import GRDB
import AegisProtocol

/// A node's pinned identity: the API type itself (the store adds nothing to it).
public typealias NodeIdentityRecord = NodeIdentityInfo

extension ControlStore {
    /// Pins `name` to `fingerprint` on first use; refreshes role, serial and issue time when the
    /// name is already pinned to the same key.
    ///
    /// - Parameters:
    ///   - fingerprint: 64 lowercase hex characters (SHA-256 of the DER SubjectPublicKeyInfo).
    ///   - serial: hex serial of the certificate issued, if any.
    ///   - tokenID: join token used (recorded on first registration only).
    /// - Returns: the stored record.
    /// - Throws: `StoreError(.conflict)` "node n1 is already joined with another key (fingerprint …);
    ///   remove it first"; `.invalidArgument` for an empty name or a malformed fingerprint; `.database`.
    @discardableResult
    public func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String? = nil,
        tokenID: String? = nil, nowMs: Int64 = ControlStore.nowMs()
    ) throws -> NodeIdentityRecord {
        try write("register identity of node \(name)") { db in
            try Self.pinIdentity(db, name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: nowMs)
        }
    }

    /// Records a renewal: the node must already be pinned, to the same key.
    /// - Returns: the updated record.
    /// - Throws: `StoreError(.notFound)` when the name has no identity; `.conflict` when
    ///   `fingerprint` differs from the pinned key.
    @discardableResult
    public func recordRenewal(
        name: String, fingerprint: String, serial: String,
        nowMs: Int64 = ControlStore.nowMs()
    ) throws -> NodeIdentityRecord {
        try write("record renewal of node \(name)") { db in
            guard let current = try Self.fetchIdentity(db, name) else {
                throw StoreError(
                    .notFound, "node \(name) has no registered identity (never joined, or removed); join it again with a token")
            }
            guard current.keyFingerprint == fingerprint else {
                throw Self.keyConflict(name, pinned: current.keyFingerprint, presented: fingerprint)
            }
            try db.execute(
                sql: "UPDATE node_identities SET last_serial = ?, last_issued_ms = ? WHERE name = ?",
                arguments: [serial, nowMs, name])
            return try Self.fetchIdentity(db, name) ?? current
        }
    }

    /// The identity pinned for `name`, or nil.
    public func identity(name: String) throws -> NodeIdentityRecord? {
        try read("read identity of node \(name)") { try Self.fetchIdentity($0, name) }
    }

    /// All node identities, ordered by name.
    public func listIdentities() throws -> [NodeIdentityRecord] {
        try read("list node identities") { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.identityColumns) FROM node_identities ORDER BY name")).map(
                Self.identity(from:))
        }
    }

    /// Forgets a node's pinned key, so the name can join again with a new key.
    /// - Throws: `StoreError(.notFound)`.
    public func removeIdentity(name: String) throws {
        try write("remove identity of node \(name)") { db in
            try db.cachedStatement(sql: "DELETE FROM node_identities WHERE name = ?").execute(arguments: [name])
            if db.changesCount == 0 { throw StoreError(.notFound, "node \(name) has no registered identity") }
        }
    }

    // MARK: - helpers

    static let identityColumns = "name, key_fingerprint, role, first_joined_ms, last_issued_ms, last_serial, join_token"

    static func pinIdentity(
        _ db: Database, name: String, fingerprint: String, role: NodeRole, serial: String?,
        tokenID: String?, nowMs: Int64
    ) throws -> NodeIdentityRecord {
        guard !name.isEmpty else { throw StoreError(.invalidArgument, "node identity needs a node name") }
        guard fingerprint.utf8.count == 64,
            fingerprint.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw StoreError(
                .invalidArgument, "node \(name): key fingerprint must be 64 lowercase hex characters (SHA-256), got \"\(fingerprint)\"")
        }
        if let current = try fetchIdentity(db, name) {
            guard current.keyFingerprint == fingerprint else {
                throw keyConflict(name, pinned: current.keyFingerprint, presented: fingerprint)
            }
            try db.execute(
                sql: "UPDATE node_identities SET role = ?, last_serial = COALESCE(?, last_serial), last_issued_ms = ? WHERE name = ?",
                arguments: [role.rawValue, serial, nowMs, name])
        } else {
            try db.execute(
                sql: """
                    INSERT INTO node_identities(name, key_fingerprint, role, first_joined_ms, last_issued_ms, last_serial, join_token)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [name, fingerprint, role.rawValue, nowMs, nowMs, serial, tokenID])
        }
        guard let stored = try fetchIdentity(db, name) else {
            throw StoreError(.database, "identity of node \(name) vanished after writing it")
        }
        return stored
    }

    static func keyConflict(_ name: String, pinned: String, presented: String) -> StoreError {
        StoreError(
            .conflict,
            "node \(name) is already joined with another key (fingerprint \(pinned); this request's key is \(presented)); "
                + "remove it first (`aegis node forget \(name)`) or join under another name")
    }

    static func fetchIdentity(_ db: Database, _ name: String) throws -> NodeIdentityRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(identityColumns) FROM node_identities WHERE name = ?"), arguments: [name]).map(
            identity(from:))
    }

    static func identity(from row: Row) throws -> NodeIdentityRecord {
        let name: String = row["name"]
        let roleText: String = row["role"]
        guard let role = NodeRole(rawValue: roleText) else {
            throw StoreError(.encoding, "node identity \(name): unknown role \"\(roleText)\" in the database")
        }
        return NodeIdentityRecord(
            name: name, keyFingerprint: row["key_fingerprint"], role: role, firstJoinedAtMs: row["first_joined_ms"],
            lastIssuedAtMs: row["last_issued_ms"], lastSerial: row["last_serial"], joinToken: row["join_token"])
    }
}
