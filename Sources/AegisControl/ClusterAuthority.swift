// ClusterAuthority.swift — the controller side of joining: the cluster CA (kept in
// <dataDir>/pki), join tokens that pin it, certificate issuance for joining and renewing nodes, and
// the per-name key pinning kept in the store. Transport-agnostic: the HTTP routes (AegisAPI) and
// the TLS worker connection call the same methods; errors are `ControllerError`s with their HTTP status.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisPKI
import AegisProtocol
import AegisStore
import Logging

/// The cluster CA plus the store's join tokens and node identities. Thread-safe (a value over a
/// thread-safe store); signing runs on the caller's task, not on the controller actor.
public struct ClusterAuthority: Sendable {
    /// The CA (certificate and key).
    public let ca: ClusterCA
    /// Where the join tokens and identities are kept.
    public let store: any ControlStateStore
    let logger: Logger

    /// Lifetime of issued node certificates, seconds (default `ClusterCA.defaultCertificateValidity`, 90 days).
    public var certificateValidity: TimeInterval = ClusterCA.defaultCertificateValidity

    /// The CA certificate, PEM.
    public var caPEM: String { ca.certificatePEM }
    /// Hex SHA-256 of the CA certificate DER (what join tokens pin).
    public var fingerprint: String { ca.fingerprint }

    public init(ca: ClusterCA, store: any ControlStateStore, logger: Logger) {
        self.ca = ca
        self.store = store
        self.logger = logger
    }

    /// Loads the CA from `directory` (`ca.crt`, `ca.key`) or creates it there on first start
    /// (`ClusterCA.loadOrCreate`: directory 0700, key 0600, never overwrites).
    /// - Throws: `PKIError` (file pair incomplete, unreadable, key mismatch, …).
    public static func open(directory: String, store: any ControlStateStore, logger: Logger) throws -> ClusterAuthority {
        ClusterAuthority(ca: try ClusterCA.loadOrCreate(directory: directory), store: store, logger: logger)
    }

    // MARK: tokens

    /// Issues a join token pinning this CA.
    /// - Returns: the full token text (`AEG1<fingerprint>::<id>.<secret>`, shown once) and its record.
    /// - Throws: `ControllerError` 400 for a TTL out of 1 s … 365 d or a bad description, 500 for store failures.
    public func createJoinToken(
        role: AegisProtocol.NodeRole, ttlSeconds: Int64, description: String,
        nowMs: Int64 = ControlStore.nowMs()
    ) async throws(ControllerError) -> (token: String, record: JoinTokenRecord) {
        let created: (record: JoinTokenRecord, secret: String)
        do {
            created = try await store.createJoinToken(role: role, ttlSeconds: ttlSeconds, description: description, nowMs: nowMs)
        } catch let e as StoreError where e.kind == .invalidArgument {
            throw .invalid(e.message, underlying: e)
        } catch {
            throw .internalError(underlying: error)
        }
        let token: JoinToken
        do { token = try JoinToken(caFingerprint: ca.fingerprint, id: created.record.id, secret: created.secret) } catch {
            throw .internalError("issued join token is malformed", underlying: error)
        }
        logger.notice(
            "join token created",
            metadata: [
                "token": "\(token.id)", "role": "\(role.rawValue)",
                "expires": "\(ControlStore.utcTimestamp(ms: created.record.expiresAtMs))",
            ])
        return (token.description, created.record)
    }

    // MARK: join

    /// What a join or renewal issued.
    public struct Issued: Sendable, Equatable {
        public var certificatePEM: String
        public var caPEM: String
        public var nodeName: String
        public var role: AegisProtocol.NodeRole
        /// Hex serial number.
        public var serial: String
        public var notValidAfter: Date
        /// Hex SHA-256 of the node key's SubjectPublicKeyInfo (the pinned key).
        public var keyFingerprint: String
    }

    /// Admits a node: checks the join token, signs its CSR and pins its key.
    ///
    /// In order: the token parses as `AEG1…` (API bearer tokens are not join tokens); its CA
    /// fingerprint is this CA's; its id is known and its secret matches; it is neither revoked nor
    /// expired; `role`, if given, is the token's; the CSR verifies and names `nodeName`
    /// (`ClusterCA.sign`, role from the token, 90-day client certificate). Then, in one store
    /// transaction, the token is checked again, the name is pinned to the CSR's key (or must
    /// already be pinned to it) and the token's use is counted.
    ///
    /// - Throws: `ControllerError` 401 (token malformed, other cluster's CA, unknown, wrong secret,
    ///   expired, revoked — the message names the token id and reason), 403 (role differs from the
    ///   token's), 400 (bad node name or CSR), 409 (name pinned to another key), 500.
    public func join(
        token text: String, csrPEM: String, nodeName: String, role requested: AegisProtocol.NodeRole?,
        now: Date = Date()
    ) async throws(ControllerError) -> Issued {
        let token: JoinToken
        do { token = try JoinToken(parsing: text) } catch let error as PKIError {
            if error.code == .tokenPrefix {
                throw ControllerError.unauthenticated(
                    "not a join token: join tokens start with \"\(JoinToken.prefix)\" (an API token cannot join a node; create one with `aegis token create`)"
                )
            }
            throw ControllerError.unauthenticated("malformed join token: \(error.description)", underlying: error)
        } catch {
            throw ControllerError.unauthenticated("malformed join token: \(error)", underlying: error)
        }
        guard token.caFingerprint == ca.fingerprint else {
            throw ControllerError.unauthenticated(
                "join token \(token.id) pins cluster CA \(token.caFingerprint), but this controller's CA is \(ca.fingerprint): "
                    + "the token was issued by another cluster, or altered")
        }
        let nowMs = Self.ms(now)
        let record: JoinTokenRecord
        do { record = try await store.validateJoinToken(id: token.id, secret: token.secret, nowMs: nowMs) } catch {
            throw Self.tokenError(error, tokenID: token.id)
        }
        if let requested, requested != record.role {
            throw .forbidden("join token \(token.id) is for role \(record.role.rawValue), not \(requested.rawValue)")
        }
        let issued = try sign(csrPEM: csrPEM, nodeName: nodeName, role: record.role, now: now)
        do {
            _ = try await store.completeJoin(
                tokenID: token.id, secret: token.secret, nodeName: nodeName, fingerprint: issued.keyFingerprint,
                role: record.role, serial: issued.serial, nowMs: nowMs)
        } catch {
            throw Self.tokenError(error, tokenID: token.id)
        }
        logger.notice(
            "node joined",
            metadata: [
                "node": "\(nodeName)", "role": "\(record.role.rawValue)", "token": "\(token.id)",
                "key": "\(issued.keyFingerprint)", "serial": "\(issued.serial)",
            ])
        return issued
    }

    /// Issues a new certificate to a node that authenticated with its current one (`verifiedNode`,
    /// from `PKIVerifier.verifyNodeCertificate` on the TLS peer certificate). The CSR must carry the
    /// same key: the name's pinned key, which is also the key of the presented certificate. The
    /// role is the identity's.
    /// - Throws: `ControllerError` 403 (no identity for the name, or the presented certificate's key is
    ///   not the pinned one), 409 (the CSR's key differs), 400 (bad CSR), 500.
    public func renew(verifiedNode: VerifiedNode, csrPEM: String, now: Date = Date()) async throws(ControllerError) -> Issued {
        let name = verifiedNode.nodeName
        try await authorize(peer: verifiedNode)
        let pinned: NodeIdentityRecord
        do {
            guard let record = try await store.identity(name: name) else {
                throw ControllerError.forbidden("node \(name) has no registered identity")
            }
            pinned = record
        } catch let e as ControllerError {
            throw e
        } catch {
            throw .internalError(underlying: error)
        }
        let issued = try sign(csrPEM: csrPEM, nodeName: name, role: pinned.role, now: now)
        guard issued.keyFingerprint == pinned.keyFingerprint else {
            throw .conflict(
                "renewal of node \(name) must keep its key: the CSR carries key \(issued.keyFingerprint), "
                    + "the node is pinned to \(pinned.keyFingerprint)")
        }
        do {
            try await store.recordRenewal(name: name, fingerprint: issued.keyFingerprint, serial: issued.serial, nowMs: Self.ms(now))
        } catch let e as StoreError where e.kind == .conflict {
            throw .conflict(e.message, underlying: e)
        } catch let e as StoreError where e.kind == .notFound {
            throw .forbidden(e.message, underlying: e)
        } catch {
            throw .internalError(underlying: error)
        }
        logger.info("node certificate renewed", metadata: ["node": "\(name)", "serial": "\(issued.serial)"])
        return issued
    }

    /// Checks that a node presenting `peer` (a certificate verified with `ca.verifier`) is still
    /// pinned to that certificate's key: removing a node's identity (`aegis node forget`) thus
    /// locks out its existing certificates too. For the TLS worker connection.
    /// - Throws: `ControllerError` 403 naming the node and both key fingerprints, 500 for store failures.
    public func authorize(peer: VerifiedNode) async throws(ControllerError) {
        let pinned: NodeIdentityRecord?
        do { pinned = try await store.identity(name: peer.nodeName) } catch { throw .internalError(underlying: error) }
        guard let pinned else {
            throw .forbidden(
                "node \(peer.nodeName) has no registered identity (never joined, or removed); join it again: aegis up --role worker --token T --rejoin"
            )
        }
        guard pinned.keyFingerprint == peer.publicKeyFingerprint else {
            throw .forbidden(
                "node \(peer.nodeName) presented a certificate for key \(peer.publicKeyFingerprint), "
                    + "but the name is pinned to key \(pinned.keyFingerprint)")
        }
    }

    /// Signs and reads back what was issued (serial, key fingerprint) through the CA's own verifier.
    func sign(csrPEM: String, nodeName: String, role: AegisProtocol.NodeRole, now: Date) throws(ControllerError) -> Issued {
        do {
            try NodeName.validate(nodeName)
            let certificate = try ca.sign(csrPEM: csrPEM, nodeName: nodeName, role: role, validity: certificateValidity, now: now)
            let verified = try ca.verifier.verifyNodeCertificate(certificate, now: now)
            let pem = try certificate.serializeAsPEM().pemString
            return Issued(
                certificatePEM: pem, caPEM: ca.certificatePEM, nodeName: nodeName, role: role, serial: verified.serialNumber,
                notValidAfter: verified.notValidAfter, keyFingerprint: verified.publicKeyFingerprint)
        } catch let e as PKIError {
            switch e.code {
            case .invalidNodeName:
                throw .invalid(e.description, field: "nodeName", underlying: e)
            case .malformedInput, .invalidCSRSignature, .unsupportedKeyAlgorithm, .nodeNameMismatch:
                throw .invalid(e.description, field: "csrPEM", underlying: e)
            default:
                throw .internalError("signing the certificate for \(nodeName)", underlying: e)
            }
        } catch {
            throw .internalError("signing the certificate for \(nodeName)", underlying: error)
        }
    }

    static func tokenError(_ error: any Error, tokenID: String) -> ControllerError {
        switch error {
        case let e as JoinTokenError: return ControllerError.unauthenticated(e.description, underlying: e)
        case let e as StoreError where e.kind == .conflict: return .conflict(e.message, underlying: e)
        case let e as StoreError where e.kind == .invalidArgument: return .invalid(e.message, underlying: e)
        default: return .internalError("join token \(tokenID)", underlying: error)
        }
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}
