#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import SwiftASN1
import X509

/// The cluster's certificate authority: an ECDSA P-256 key and a self-signed certificate that signs
/// every node certificate and the controller's TLS serving certificate.
///
/// Trust model (the idea follows kubeadm's bootstrap tokens with CA pinning): the controller holds
/// this CA; a joining worker learns the CA's SHA-256 `fingerprint` out of band inside a
/// `JoinToken`, fetches the CA certificate, checks it against the pin with
/// `JoinToken.verifyCA(certificateDER:)`, then sends a CSR that the controller signs with `sign`.
///
/// On disk (`loadOrCreate`): `ca.crt` (PEM certificate, mode 0644) and `ca.key` (PEM PKCS#8 private
/// key, mode 0600) in a directory created with mode 0700.
public struct ClusterCA: Sendable {
    /// File name of the CA certificate inside the PKI directory.
    public static let certificateFileName = "ca.crt"
    /// File name of the CA private key inside the PKI directory.
    public static let keyFileName = "ca.key"
    /// Default CA lifetime: 3650 days (≈ 10 years), in seconds.
    public static let defaultValidity: TimeInterval = 3650 * 86_400
    /// Default lifetime of node and server certificates: 90 days, in seconds. Short enough that a
    /// leaked node key stops working within a quarter; nodes renew at 2/3 (day 60), see
    /// `NodeIdentity.needsRenewal(now:fraction:)`.
    public static let defaultCertificateValidity: TimeInterval = 90 * 86_400
    /// notBefore of every certificate issued is back-dated by this many seconds (300 s) so nodes
    /// whose clocks run up to 5 minutes behind the controller accept a freshly issued certificate.
    public static let clockSkewAllowance: TimeInterval = 300

    /// The self-signed CA certificate.
    public let certificate: Certificate
    /// DER encoding of `certificate`.
    public let certificateDER: [UInt8]
    /// PEM encoding of `certificate` (`-----BEGIN CERTIFICATE-----`).
    public let certificatePEM: String
    /// Lowercase hex SHA-256 of `certificateDER` (64 characters); what join tokens pin.
    public let fingerprint: String
    let privateKey: Certificate.PrivateKey
    let keyIdentifier: ArraySlice<UInt8>

    init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        guard privateKey.publicKey == certificate.publicKey else {
            throw PKIError(
                code: .keyCertificateMismatch,
                description: "CA private key does not belong to the CA certificate \"\(certificate.subject)\"")
        }
        guard X509Support.isP256(certificate.publicKey) else {
            throw PKIError(
                code: .unsupportedKeyAlgorithm,
                description: "CA key is \(certificate.publicKey), only ECDSA P-256 is supported")
        }
        guard
            case .isCertificateAuthority = try PKIError.wrapping(
                "reading CA BasicConstraints",
                {
                    try certificate.extensions.basicConstraints
                })
        else {
            throw PKIError(
                code: .notACertificateAuthority,
                description: "certificate \"\(certificate.subject)\" is not a CA (BasicConstraints CA:TRUE missing)")
        }
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificateDER = try X509Support.der(certificate, what: "CA certificate")
        self.certificatePEM = try PKIError.wrapping("PEM-encoding CA certificate") {
            try certificate.serializeAsPEM().pemString
        }
        self.fingerprint = X509Support.sha256Hex(certificateDER)
        let ski = try PKIError.wrapping("reading CA SubjectKeyIdentifier") { try certificate.extensions.subjectKeyIdentifier }
        self.keyIdentifier = ski?.keyIdentifier ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
    }

    /// The CA's subject common name.
    public var commonName: String {
        X509Support.attribute(.RDNAttributeType.commonName, in: certificate.subject) ?? ""
    }

    /// A verifier that trusts exactly this CA.
    public var verifier: PKIVerifier {
        PKIVerifier(trusting: self)
    }

    /// Creates a new CA in memory (nothing is written).
    ///
    /// The certificate is X.509 v3, self-signed with ECDSA-with-SHA256 over a fresh P-256 key, serial
    /// number 20 random bytes, subject and issuer `CN=<commonName>`, and the extensions RFC 5280
    /// §4.2.1 asks of a CA: BasicConstraints CA:TRUE pathlen:0 (critical; it signs only end-entity
    /// certificates), KeyUsage keyCertSign + cRLSign (critical), SubjectKeyIdentifier (SHA-1 of the
    /// public key, RFC 5280 §4.2.1.2 method 1).
    ///
    /// - Parameters:
    ///   - commonName: subject CN, e.g. `"aegis-cluster-ca"`; must be non-empty.
    ///   - validity: lifetime in seconds from `now` (default `defaultValidity`, 3650 days).
    ///   - now: issue time; notBefore is `now - clockSkewAllowance`, truncated to whole seconds.
    /// - Throws: `PKIError` `.invalidValidity`, `.encoding`.
    public static func create(
        commonName: String = "aegis-cluster-ca",
        validity: TimeInterval = defaultValidity,
        now: Date = Date()
    ) throws -> ClusterCA {
        try X509Support.checkValidity(validity, what: "CA")
        guard !commonName.isEmpty else {
            throw PKIError(code: .encoding, description: "CA common name must not be empty")
        }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let certificate = try PKIError.wrapping("creating the CA certificate") { () throws -> Certificate in
            let name = try DistinguishedName { CommonName(commonName) }
            let extensions = try Certificate.Extensions([
                Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: 0), critical: true),
                Certificate.Extension(KeyUsage(keyCertSign: true, cRLSign: true), critical: true),
                Certificate.Extension(SubjectKeyIdentifier(hash: key.publicKey), critical: false),
            ])
            return try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: X509Support.wholeSeconds(now - clockSkewAllowance),
                notValidAfter: X509Support.wholeSeconds(now + validity),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: key)
        }
        return try ClusterCA(certificate: certificate, privateKey: key)
    }

    /// Loads `ca.crt` + `ca.key` from `directory`, or creates a new CA there when neither exists.
    ///
    /// Creation writes both files to temporary names (key 0600, certificate 0644, fsync'ed), then
    /// publishes them with link(2) — key first — so an existing file is never overwritten and a
    /// reader never sees a partial file; `directory` (and missing parents) are created with mode
    /// 0700. Loading checks that the key belongs to the certificate and that the certificate is a
    /// P-256 CA. An expired CA is still returned (see `certificate.notValidAfter`); `sign` refuses it.
    ///
    /// - Parameters:
    ///   - directory: the PKI directory, e.g. `/var/lib/aegis/pki`.
    ///   - commonName, validity, now: used only when creating, as in `create`.
    /// - Throws: `PKIError` `.incompleteFilePair` naming the missing file when only one of `ca.crt`
    ///   and `ca.key` exists; `.syscall` (mkdir/open/link/fsync with errno); `.malformedInput` for
    ///   unparsable PEM; `.keyCertificateMismatch`; `.notACertificateAuthority`;
    ///   `.unsupportedKeyAlgorithm`.
    public static func loadOrCreate(
        directory: String,
        commonName: String = "aegis-cluster-ca",
        validity: TimeInterval = defaultValidity,
        now: Date = Date()
    ) throws -> ClusterCA {
        if try PEMFiles.pairExists(directory: directory, keyName: keyFileName, certificateName: certificateFileName) {
            return try load(directory: directory)
        }
        let ca = try create(commonName: commonName, validity: validity, now: now)
        let keyPEM = try PKIError.wrapping("PEM-encoding CA key") { try ca.privateKey.serializeAsPEM().pemString }
        try PEMFiles.writeNewPair(
            directory: directory, keyName: keyFileName, keyPEM: keyPEM + "\n",
            certificateName: certificateFileName, certificatePEM: ca.certificatePEM + "\n")
        return ca
    }

    /// Loads an existing CA from `directory` (`ca.crt` and `ca.key`).
    ///
    /// - Throws: as `loadOrCreate`; `.syscall` with ENOENT when neither file exists.
    public static func load(directory: String) throws -> ClusterCA {
        let certificatePath = PEMFiles.join(directory, certificateFileName)
        let keyPath = PEMFiles.join(directory, keyFileName)
        _ = try PEMFiles.pairExists(directory: directory, keyName: keyFileName, certificateName: certificateFileName)
        let certificateText = try PEMFiles.readText(certificatePath)
        let keyText = try PEMFiles.readText(keyPath)
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: certificateText) } catch {
            throw PKIError.malformed("PEM certificate", path: certificatePath, error)
        }
        let key: Certificate.PrivateKey
        do { key = try Certificate.PrivateKey(pemEncoded: keyText) } catch {
            throw PKIError.malformed("PEM private key", path: keyPath, error)
        }
        do {
            return try ClusterCA(certificate: certificate, privateKey: key)
        } catch let error as PKIError where error.code == .keyCertificateMismatch {
            throw PKIError(
                code: .keyCertificateMismatch, path: keyPath,
                description: "\(keyPath) does not hold the private key of \(certificatePath)")
        }
    }

    /// Throws `.caNotValid` unless `now` lies inside the CA's validity period.
    func checkUsable(now: Date) throws {
        if now < certificate.notValidBefore || now > certificate.notValidAfter {
            throw PKIError(
                code: .caNotValid,
                description: "cluster CA \"\(commonName)\" is valid from \(utcTimestamp(certificate.notValidBefore)) "
                    + "to \(utcTimestamp(certificate.notValidAfter)), not at \(utcTimestamp(now))")
        }
    }
}
