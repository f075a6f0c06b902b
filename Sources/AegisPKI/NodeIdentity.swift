#if canImport(FoundationEssentials)
import AegisProtocol
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import SwiftASN1
import X509

/// A node's ECDSA P-256 private key before (or independent of) its certificate; makes CSRs.
///
/// The key is kept across joins and renewals: the controller pins a node name to the
/// `publicKeyFingerprint` it first saw and refuses a re-join under that name with another key, so a
/// node persists `node.key` before sending its first CSR (`NodeIdentity.loadOrCreate`).
public struct NodeKey: Sendable {
    /// The node name the key is for (CSR subject CN).
    public let nodeName: String
    /// The private key.
    public let privateKey: Certificate.PrivateKey
    /// PEM of `privateKey` (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
    public let privateKeyPEM: String
    /// Lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo (64 characters).
    public let publicKeyFingerprint: String

    /// Wraps an existing key.
    /// - Throws: `PKIError` `.invalidNodeName`, `.unsupportedKeyAlgorithm` (not P-256), `.encoding`.
    public init(nodeName: String, privateKey: Certificate.PrivateKey) throws {
        try NodeName.validate(nodeName)
        guard X509Support.isP256(privateKey.publicKey) else {
            throw PKIError(
                code: .unsupportedKeyAlgorithm,
                description: "node key is \(privateKey), only ECDSA P-256 is supported")
        }
        self.nodeName = nodeName
        self.privateKey = privateKey
        self.privateKeyPEM = try PKIError.wrapping("PEM-encoding node key") { try privateKey.serializeAsPEM().pemString }
        self.publicKeyFingerprint = try X509Support.publicKeyFingerprint(privateKey.publicKey)
    }

    /// Parses a PEM private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    /// - Throws: `PKIError` `.malformedInput`, then as `init(nodeName:privateKey:)`.
    public init(nodeName: String, privateKeyPEM: String) throws {
        let key: Certificate.PrivateKey
        do { key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM) } catch {
            throw PKIError.malformed("PEM private key", error)
        }
        try self.init(nodeName: nodeName, privateKey: key)
    }

    /// A fresh random P-256 key for `nodeName`.
    /// - Throws: `PKIError` `.invalidNodeName`.
    public static func generate(nodeName: String) throws -> NodeKey {
        try NodeKey(nodeName: nodeName, privateKey: Certificate.PrivateKey(P256.Signing.PrivateKey()))
    }

    /// A PKCS#10 CSR (RFC 2986) with subject `CN=<nodeName>`, no attributes, signed
    /// ECDSA-with-SHA256 by this key. The CA decides everything else in the certificate.
    /// - Throws: `PKIError` `.encoding`.
    public func makeCSR() throws -> CertificateSigningRequest {
        try PKIError.wrapping("creating the CSR for \"\(nodeName)\"") {
            try CertificateSigningRequest(
                version: .v1, subject: DistinguishedName { CommonName(nodeName) },
                privateKey: privateKey, attributes: CertificateSigningRequest.Attributes(),
                signatureAlgorithm: .ecdsaWithSHA256)
        }
    }

    /// `makeCSR()` as PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    public func makeCSRPEM() throws -> String {
        let csr = try makeCSR()
        return try PKIError.wrapping("PEM-encoding the CSR") { try csr.serializeAsPEM().pemString }
    }

    /// Pairs this key with the certificate the CA returned.
    ///
    /// Checks that the certificate carries this key's public key, that its subject CN is `nodeName`
    /// and that its subject OU is a `NodeRole`. It does not check the issuer: verify the
    /// certificate with a `PKIVerifier` built from the pinned CA when that matters.
    /// - Throws: `PKIError` `.keyCertificateMismatch`, `.nodeNameMismatch`, `.missingNodeName`,
    ///   `.unknownRole`, `.encoding`.
    public func identity(certificate: Certificate) throws -> NodeIdentity {
        try NodeIdentity(key: self, certificate: certificate)
    }

    /// `identity(certificate:)` from a PEM certificate.
    /// - Throws: `PKIError` `.malformedInput`, then as `identity(certificate:)`.
    public func identity(certificatePEM: String) throws -> NodeIdentity {
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: certificatePEM) } catch {
            throw PKIError.malformed("PEM certificate for \"\(nodeName)\"", error)
        }
        return try identity(certificate: certificate)
    }
}

/// A node's key and the certificate the cluster CA issued for it: what the node presents as a TLS
/// client (and, with serverAuth, server). On disk: `node.key` (PEM, 0600) and `node.crt` (PEM,
/// 0644) in a directory created 0700.
public struct NodeIdentity: Sendable {
    /// File name of the node's private key.
    public static let keyFileName = "node.key"
    /// File name of the node's certificate.
    public static let certificateFileName = "node.crt"
    /// Default renewal point: 2/3 of the certificate's lifetime (day 60 of 90).
    public static let defaultRenewalFraction = 2.0 / 3.0

    /// The node's key.
    public let key: NodeKey
    /// The certificate.
    public let certificate: Certificate
    /// PEM of `certificate`.
    public let certificatePEM: String
    /// DER of `certificate`.
    public let certificateDER: [UInt8]
    /// The role the CA encoded in the certificate's subject OU.
    public let role: NodeRole

    /// The node name (certificate subject CN).
    public var nodeName: String { key.nodeName }
    /// Lowercase hex SHA-256 of the certificate's DER (`openssl x509 -noout -fingerprint -sha256`, no colons).
    public var certificateFingerprint: String { X509Support.sha256Hex(certificateDER) }
    /// The private key.
    public var privateKey: Certificate.PrivateKey { key.privateKey }
    /// PEM of the private key.
    public var privateKeyPEM: String { key.privateKeyPEM }
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo; what the controller pins per node name.
    public var publicKeyFingerprint: String { key.publicKeyFingerprint }
    /// Start of the certificate's validity.
    public var notValidBefore: Date { certificate.notValidBefore }
    /// End of the certificate's validity.
    public var notValidAfter: Date { certificate.notValidAfter }

    init(key: NodeKey, certificate: Certificate) throws {
        guard certificate.publicKey == key.privateKey.publicKey else {
            throw PKIError(
                code: .keyCertificateMismatch,
                description: "certificate \"\(certificate.subject)\" does not carry the public key of node \"\(key.nodeName)\"")
        }
        guard let commonName = X509Support.attribute(.RDNAttributeType.commonName, in: certificate.subject) else {
            throw PKIError(code: .missingNodeName, description: "certificate \"\(certificate.subject)\" has no subject CN")
        }
        guard commonName == key.nodeName else {
            throw PKIError(
                code: .nodeNameMismatch,
                description: "certificate is for node \"\(commonName)\", expected \"\(key.nodeName)\"")
        }
        self.key = key
        self.certificate = certificate
        self.role = try PKIVerifier.role(of: certificate)
        self.certificateDER = try X509Support.der(certificate, what: "node certificate")
        self.certificatePEM = try PKIError.wrapping("PEM-encoding node certificate") { try certificate.serializeAsPEM().pemString }
    }

    /// A new key for `nodeName` and its CSR as PEM, ready to send to the controller.
    /// Nothing is written; prefer `loadOrCreate` on nodes so the key survives a crash mid-join.
    /// - Throws: `PKIError` `.invalidNodeName`, `.encoding`.
    public static func generate(nodeName: String) throws -> (key: NodeKey, csrPEM: String) {
        let key = try NodeKey.generate(nodeName: nodeName)
        return (key, try key.makeCSRPEM())
    }

    /// What `loadOrCreate` found.
    public enum Bootstrap: Sendable {
        /// `node.key` and `node.crt` exist and belong together.
        case ready(NodeIdentity)
        /// Only a key exists (just created, or a join was interrupted): send `csrPEM`, then
        /// `key.identity(certificatePEM:)` and `save(directory:)` the result.
        case needsCertificate(key: NodeKey, csrPEM: String)
    }

    /// Loads the node's identity from `directory`, or prepares one.
    ///
    /// - Neither file: generates a P-256 key, writes `node.key` (0600; temporary file + link(2),
    ///   directory created 0700) and returns `.needsCertificate` with a CSR.
    /// - Only `node.key`: loads it and returns `.needsCertificate` (an interrupted join resumes with
    ///   the same key, so the controller's key pin still matches).
    /// - Only `node.crt`: throws `.incompleteFilePair` naming `node.key` (the key is lost).
    /// - Both: returns `.ready` after checking the pair belongs together and names `nodeName`.
    ///   An expired certificate is still returned; check `needsRenewal(now:)` / `notValidAfter`.
    ///
    /// - Throws: `PKIError` `.incompleteFilePair`, `.syscall`, `.malformedInput`,
    ///   `.keyCertificateMismatch`, `.nodeNameMismatch`, `.invalidNodeName`, `.unknownRole`.
    public static func loadOrCreate(directory: String, nodeName: String) throws -> Bootstrap {
        try NodeName.validate(nodeName)
        let keyPath = PEMFiles.join(directory, keyFileName)
        let certificatePath = PEMFiles.join(directory, certificateFileName)
        let haveKey = try PEMFiles.exists(keyPath)
        if !haveKey, try PEMFiles.exists(certificatePath) {
            _ = try PEMFiles.pairExists(directory: directory, keyName: keyFileName, certificateName: certificateFileName)
        }
        let key: NodeKey
        if haveKey {
            do { key = try NodeKey(nodeName: nodeName, privateKeyPEM: try PEMFiles.readText(keyPath)) } catch let error as PKIError
                where error.code == .malformedInput
            {
                throw PKIError(code: .malformedInput, path: keyPath, description: "\(keyPath): \(error.description)")
            }
        } else {
            key = try NodeKey.generate(nodeName: nodeName)
            try PEMFiles.ensureDirectory(directory)
            let temp = try PEMFiles.writeTemporary(for: keyPath, contents: key.privateKeyPEM + "\n", mode: 0o600)
            try PEMFiles.publish(temp, to: keyPath, replace: false)
            try PEMFiles.syncDirectory(directory)
        }
        guard try PEMFiles.exists(certificatePath) else {
            return .needsCertificate(key: key, csrPEM: try key.makeCSRPEM())
        }
        let text = try PEMFiles.readText(certificatePath)
        do {
            return .ready(try key.identity(certificatePEM: text))
        } catch let error as PKIError where error.code == .keyCertificateMismatch || error.code == .malformedInput {
            throw PKIError(code: error.code, path: certificatePath, description: "\(certificatePath): \(error.description)")
        }
    }

    /// Writes `node.key` (0600, only if absent or different) and `node.crt` (0644, replacing an
    /// older certificate) into `directory` (created 0700), each via a temporary file + rename(2) and
    /// a directory fsync. The key is written before the certificate, so a crash in between leaves
    /// at worst the previous certificate with the new key, which `loadOrCreate` reports as
    /// `.keyCertificateMismatch` rather than using silently.
    /// - Throws: `PKIError` `.syscall`.
    public func save(directory: String) throws {
        try PEMFiles.ensureDirectory(directory)
        let keyPath = PEMFiles.join(directory, NodeIdentity.keyFileName)
        let certificatePath = PEMFiles.join(directory, NodeIdentity.certificateFileName)
        let keyText = privateKeyPEM + "\n"
        let existingKey = try PEMFiles.exists(keyPath) ? try PEMFiles.readText(keyPath) : nil
        if existingKey != keyText {
            let temp = try PEMFiles.writeTemporary(for: keyPath, contents: keyText, mode: 0o600)
            try PEMFiles.publish(temp, to: keyPath, replace: true)
        }
        let temp = try PEMFiles.writeTemporary(for: certificatePath, contents: certificatePEM + "\n", mode: 0o644)
        try PEMFiles.publish(temp, to: certificatePath, replace: true)
        try PEMFiles.syncDirectory(directory)
    }

    /// The moment renewal becomes due: issued + `fraction` × (notAfter − issued), where issued is
    /// notBefore + `ClusterCA.clockSkewAllowance` (the CA backdates notBefore by that much; counting
    /// from notBefore would make a short-lived certificate due at once). `fraction` is clamped to 0...1.
    public func renewalDate(fraction: Double = defaultRenewalFraction) -> Date {
        let issued = min(notValidBefore + ClusterCA.clockSkewAllowance, notValidAfter)
        let lifetime = notValidAfter.timeIntervalSince(issued)
        return issued + lifetime * min(max(fraction, 0), 1)
    }

    /// Whether the node should request a new certificate (same key, new CSR): true once `now` has
    /// reached `renewalDate(fraction:)` — by default when 2/3 of the lifetime has elapsed, leaving
    /// 30 days of a 90-day certificate to retry — and also when already expired.
    public func needsRenewal(now: Date = Date(), fraction: Double = defaultRenewalFraction) -> Bool {
        now >= renewalDate(fraction: fraction)
    }

    /// Whether the certificate is outside its validity period at `now`.
    public func isExpired(now: Date = Date()) -> Bool {
        now > notValidAfter
    }
}
