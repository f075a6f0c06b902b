// JoinClient.swift — the worker side of joining: fetch the cluster CA, check it against the join
// token's pin before trusting anything, make (or reuse) the node key and a CSR, ask for a
// certificate, verify what comes back against the pinned CA, and save node.key, node.crt and
// ca.crt. The transport (`ClusterJoinTransport`): APIClient over plain HTTP (the local API port),
// PinnedJoinTransport over TLS (the controller's cluster port). It lives next to the API client so
// that a worker links neither the store nor the scheduler.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisPKI
import AegisProtocol
import AegisSystem

/// A failed join, naming the step and the cause.
public struct JoinClientError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Step: String, Sendable {
        /// The token text does not parse.
        case token
        /// `GET /v1/cluster/ca` failed.
        case fetchCA
        /// The CA served is not the one the token pins.
        case caMismatch
        /// The node key could not be loaded or created, or the CSR made.
        case key
        /// The controller refused the join (its message follows) or could not be reached.
        case join
        /// The certificate returned does not verify against the pinned CA or does not fit the key.
        case verify
        /// Writing node.key, node.crt or ca.crt failed.
        case save
    }

    public var step: Step
    public var message: String

    public init(_ step: Step, _ message: String) {
        self.step = step
        self.message = message
    }

    public var description: String { message }
}

/// What a successful join produced.
public struct JoinOutcome: Sendable {
    /// The node's key and certificate (as saved).
    public let identity: NodeIdentity
    public let role: AegisProtocol.NodeRole
    /// Certificate serial, hex.
    public let serial: String
    /// Hex SHA-256 of the node certificate's DER (`openssl x509 -noout -fingerprint -sha256`, lowercased, no colons).
    public let certificateFingerprint: String
    /// Hex SHA-256 of the node key's DER SubjectPublicKeyInfo (what the controller pins).
    public let keyFingerprint: String
    /// Hex SHA-256 of the cluster CA certificate DER (the token's pin).
    public let caFingerprint: String
    public let notValidAfter: Date
    /// Whether an existing `node.key` was reused (a retry or re-join) rather than created.
    public let reusedKey: Bool
    public let keyPath: String
    public let certificatePath: String
    public let caPath: String
}

public enum JoinClient {
    /// File name of the pinned cluster CA certificate next to node.key and node.crt.
    public static let caFileName = "ca.crt"

    /// Joins the node: 1) parses the token; 2) `GET /v1/cluster/ca`; 3) checks the SHA-256 of the
    /// CA certificate DER against the token's pin before using it; 4) loads `node.key` from
    /// `directory` or creates it (0600, kept across retries so the controller's key pin matches);
    /// 5) `POST /v1/cluster/join` with a CSR; 6) verifies the certificate with `PKIVerifier` against
    /// the pinned CA (signature, validity, clientAuth, CN = `nodeName`, same key) and that the CA
    /// returned is the pinned one; 7) saves `node.crt` (0644), `node.key` and `ca.crt` (0644) in
    /// `directory` (created 0700).
    ///
    /// - Parameters:
    ///   - transport: how to reach the controller.
    ///   - token: `AEG1<ca-sha256>::<id>.<secret>` (surrounding whitespace ignored).
    ///   - nodeName: RFC 1123 DNS name.
    ///   - role: expected role; nil accepts the token's.
    ///   - directory: the node's identity directory.
    /// - Throws: `JoinClientError` naming the step (`.token`, `.fetchCA`, `.caMismatch` with the
    ///   expected and actual fingerprints, `.key`, `.join` with the controller's message, `.verify`,
    ///   `.save`).
    public static func join(
        transport: some ClusterJoinTransport, token text: String, nodeName: String,
        role: AegisProtocol.NodeRole?, directory: String, now: @Sendable () -> Date = { Date() }
    ) async throws -> JoinOutcome {
        let server = transport.serverName
        let token: JoinToken
        do { token = try JoinToken(parsing: text) } catch let e as PKIError where e.code == .tokenPrefix {
            throw JoinClientError(
                .token,
                "not a join token: join tokens start with \"\(JoinToken.prefix)\" (an API token cannot join a node; "
                    + "create a join token with `aegis token create`)")
        } catch {
            throw JoinClientError(.token, "invalid join token: \(error)")
        }
        do { try NodeName.validate(nodeName) } catch {
            throw JoinClientError(.key, "\(error)")
        }
        let caInfo: ClusterCAInfo
        do { caInfo = try await transport.clusterCA() } catch {
            throw JoinClientError(.fetchCA, "cannot fetch the cluster CA from \(server): \(error)")
        }
        let verifier: PKIVerifier
        do {
            try token.verifyCA(certificatePEM: caInfo.caPEM)
            verifier = try PKIVerifier(caCertificatePEM: caInfo.caPEM)
        } catch let e as PKIError where e.code == .caFingerprintMismatch {
            throw JoinClientError(.caMismatch, "refusing to join \(server): \(e.description)")
        } catch {
            throw JoinClientError(.caMismatch, "refusing to join \(server): the CA it serves is unusable: \(error)")
        }

        let key: NodeKey
        let csrPEM: String
        let reused = access(directory + "/" + NodeIdentity.keyFileName, F_OK) == 0
        do {
            switch try NodeIdentity.loadOrCreate(directory: directory, nodeName: nodeName) {
            case .ready(let existing):
                key = existing.key
                csrPEM = try key.makeCSRPEM()
            case .needsCertificate(let k, let csr):
                key = k
                csrPEM = csr
            }
        } catch {
            throw JoinClientError(.key, "node key in \(directory): \(error)")
        }

        let response: JoinResponse
        do {
            response = try await transport.join(JoinRequest(token: token.description, nodeName: nodeName, role: role, csrPEM: csrPEM))
        } catch {
            throw JoinClientError(.join, "\(server) refused to join node \(nodeName) with token \(token.id): \(error)")
        }

        let identity: NodeIdentity
        do {
            try token.verifyCA(certificatePEM: response.caPEM)
            let verified = try verifier.verifyNodeCertificate(pem: response.certificatePEM, now: now())
            guard verified.nodeName == nodeName else {
                throw JoinClientError(.verify, "\(server) issued a certificate for node \(verified.nodeName), not \(nodeName)")
            }
            guard verified.publicKeyFingerprint == key.publicKeyFingerprint else {
                throw JoinClientError(
                    .verify,
                    "\(server) issued a certificate for key \(verified.publicKeyFingerprint), "
                        + "not this node's key \(key.publicKeyFingerprint)")
            }
            identity = try key.identity(certificatePEM: response.certificatePEM)
        } catch let e as JoinClientError {
            throw e
        } catch {
            throw JoinClientError(.verify, "the certificate from \(server) is not acceptable: \(error)")
        }

        let caPath = directory + "/" + caFileName
        do {
            // The CA first: a node certificate on disk always has its CA next to it.
            try FileSystem.writeAtomically(caPath, text: caInfo.caPEM.hasSuffix("\n") ? caInfo.caPEM : caInfo.caPEM + "\n", mode: 0o644)
            try identity.save(directory: directory)
        } catch {
            throw JoinClientError(.save, "saving the node identity in \(directory): \(error)")
        }
        return JoinOutcome(
            identity: identity, role: AegisProtocol.NodeRole(rawValue: identity.role.rawValue) ?? response.role,
            serial: response.serial, certificateFingerprint: identity.certificateFingerprint,
            keyFingerprint: key.publicKeyFingerprint, caFingerprint: token.caFingerprint,
            notValidAfter: identity.notValidAfter, reusedKey: reused,
            keyPath: directory + "/" + NodeIdentity.keyFileName,
            certificatePath: directory + "/" + NodeIdentity.certificateFileName, caPath: caPath)
    }
}
