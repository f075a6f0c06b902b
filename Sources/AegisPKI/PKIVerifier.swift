#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import AegisSystem
import Crypto
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// What a verified node certificate says.
public struct VerifiedNode: Sendable, Equatable {
    /// Subject CN: the node name.
    public let nodeName: String
    /// Subject OU decoded as a role.
    public let role: NodeRole
    /// Serial number: the DER INTEGER content bytes as lowercase hex (a leading `00` appears when
    /// the top bit of the random value is set, as in `openssl x509 -serial`).
    public let serialNumber: String
    /// Start of validity.
    public let notValidBefore: Date
    /// End of validity.
    public let notValidAfter: Date
    /// Hex SHA-256 of the certificate's DER SubjectPublicKeyInfo (compare with the pinned key).
    public let publicKeyFingerprint: String
    /// DNS SubjectAlternativeNames.
    public let dnsNames: [String]
    /// iPAddress SubjectAlternativeNames in inet_ntop text form.
    public let ipAddresses: [String]
}

/// Checks node certificates against one cluster CA.
public struct PKIVerifier: Sendable {
    /// Which extended key usage (RFC 5280 §4.2.1.12) the caller needs.
    public enum Purpose: String, Sendable {
        /// The certificate authenticates a TLS client (id-kp-clientAuth, 1.3.6.1.5.5.7.3.2).
        case clientAuth
        /// The certificate authenticates a TLS server (id-kp-serverAuth, 1.3.6.1.5.5.7.3.1).
        case serverAuth
    }

    /// The trusted CA certificate.
    public let caCertificate: Certificate
    /// Hex SHA-256 of the CA certificate DER.
    public let caFingerprint: String

    /// Extensions this verifier understands; any other critical extension fails verification
    /// (RFC 5280 §4.2: an unrecognised critical extension must cause rejection).
    static let understoodExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.subjectKeyIdentifier,
        .X509ExtensionID.authorityKeyIdentifier,
    ]

    init(trusting ca: ClusterCA) {
        self.caCertificate = ca.certificate
        self.caFingerprint = ca.fingerprint
    }

    /// Trusts `caCertificate`, which must be a CA certificate (BasicConstraints CA:TRUE).
    /// - Throws: `PKIError` `.notACertificateAuthority`, `.encoding`.
    public init(caCertificate: Certificate) throws {
        let constraints = try PKIError.wrapping("reading CA BasicConstraints") { try caCertificate.extensions.basicConstraints }
        guard case .isCertificateAuthority = constraints else {
            throw PKIError(
                code: .notACertificateAuthority,
                description: "certificate \"\(caCertificate.subject)\" is not a CA (BasicConstraints CA:TRUE missing)")
        }
        self.caCertificate = caCertificate
        self.caFingerprint = X509Support.sha256Hex(try X509Support.der(caCertificate, what: "CA certificate"))
    }

    /// Trusts the PEM CA certificate (e.g. after `JoinToken.verifyCA`).
    /// - Throws: `PKIError` `.malformedInput`, then as `init(caCertificate:)`.
    public init(caCertificatePEM: String) throws {
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: caCertificatePEM) } catch {
            throw PKIError.malformed("PEM CA certificate", error)
        }
        try self.init(caCertificate: certificate)
    }

    /// Trusts the DER CA certificate (e.g. the bytes pinned with `JoinToken.verifyCA(certificateDER:)`).
    /// - Throws: `PKIError` `.malformedInput`, then as `init(caCertificate:)`.
    public init(caCertificateDER: [UInt8]) throws {
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: caCertificateDER) } catch {
            throw PKIError.malformed("DER CA certificate", error)
        }
        try self.init(caCertificate: certificate)
    }

    /// Checks a node certificate presented to the controller (or a peer) and returns who it is.
    ///
    /// In order, naming the first failure: the CA is valid at `now` (`.caNotValid`); the issuer name
    /// equals the CA subject and the signature verifies with the CA key (`.notSignedByClusterCA`);
    /// it is not a CA certificate (`.certificateIsCA`); `now` is inside notBefore…notAfter
    /// (`.certificateNotYetValid`, `.certificateExpired` with both dates); no unknown critical
    /// extension (`.unhandledCriticalExtension`); ExtendedKeyUsage holds `purpose`
    /// (`.missingExtendedKeyUsage`); subject CN is a valid node name (`.missingNodeName`,
    /// `.invalidNodeName`); subject OU is a role (`.unknownRole`). This is RFC 5280 §6.1 path
    /// validation for the one-level chain the cluster uses; `validateChain` also runs
    /// swift-certificates' general path builder.
    ///
    /// - Parameters:
    ///   - certificate: the peer's leaf certificate.
    ///   - purpose: the usage required (default `.clientAuth`).
    ///   - now: the check time.
    public func verifyNodeCertificate(
        _ certificate: Certificate, purpose: Purpose = .clientAuth,
        now: Date = Date()
    ) throws -> VerifiedNode {
        let subject = certificate.subject.description
        if now < caCertificate.notValidBefore || now > caCertificate.notValidAfter {
            throw PKIError(
                code: .caNotValid,
                description: "cluster CA \"\(caCertificate.subject)\" is valid from \(utcTimestamp(caCertificate.notValidBefore)) "
                    + "to \(utcTimestamp(caCertificate.notValidAfter)), not at \(utcTimestamp(now))")
        }
        guard certificate.issuer == caCertificate.subject else {
            throw PKIError(
                code: .notSignedByClusterCA,
                description: "certificate \"\(subject)\" is not signed by this cluster CA: issuer \"\(certificate.issuer)\", "
                    + "expected \"\(caCertificate.subject)\" (CA fingerprint \(caFingerprint))")
        }
        guard caCertificate.publicKey.isValidSignature(certificate.signature, for: certificate) else {
            throw PKIError(
                code: .notSignedByClusterCA,
                description: "certificate \"\(subject)\" is not signed by this cluster CA: the signature does not verify "
                    + "with the key of CA \"\(caCertificate.subject)\" (fingerprint \(caFingerprint))")
        }
        let extensions = certificate.extensions
        let constraints = try PKIError.wrapping("reading BasicConstraints") { try extensions.basicConstraints }
        if case .isCertificateAuthority = constraints {
            throw PKIError(code: .certificateIsCA, description: "certificate \"\(subject)\" is a CA certificate, not a node certificate")
        }
        if now < certificate.notValidBefore {
            throw PKIError(
                code: .certificateNotYetValid,
                description: "certificate \"\(subject)\" is not valid before \(utcTimestamp(certificate.notValidBefore)) "
                    + "(now \(utcTimestamp(now)))")
        }
        if now > certificate.notValidAfter {
            throw PKIError(
                code: .certificateExpired,
                description: "certificate \"\(subject)\" expired at \(utcTimestamp(certificate.notValidAfter)) "
                    + "(now \(utcTimestamp(now)))")
        }
        for ext in extensions where ext.critical && !Self.understoodExtensions.contains(ext.oid) {
            throw PKIError(
                code: .unhandledCriticalExtension,
                description: "certificate \"\(subject)\" has an unknown critical extension \(ext.oid)")
        }
        let usage = try PKIError.wrapping("reading ExtendedKeyUsage") { try extensions.extendedKeyUsage }
        let required: ExtendedKeyUsage.Usage = purpose == .clientAuth ? .clientAuth : .serverAuth
        guard let usage, usage.contains(required) else {
            let present = usage.map { "\($0)" } ?? "no ExtendedKeyUsage extension"
            throw PKIError(
                code: .missingExtendedKeyUsage,
                description: "certificate \"\(subject)\" lacks extended key usage \(purpose.rawValue) (has \(present))")
        }
        guard let nodeName = X509Support.attribute(.RDNAttributeType.commonName, in: certificate.subject) else {
            throw PKIError(code: .missingNodeName, description: "certificate \"\(subject)\" has no subject CN (node name)")
        }
        try NodeName.validate(nodeName)
        let role = try Self.role(of: certificate)
        let names = try PKIError.wrapping("reading SubjectAlternativeName") { try extensions.subjectAlternativeNames }
        var dnsNames: [String] = []
        var ipAddresses: [String] = []
        for name in names ?? SubjectAlternativeNames() {
            switch name {
            case .dnsName(let dns): dnsNames.append(dns)
            case .ipAddress(let octets): ipAddresses.append(NodeName.ipAddressText(octets.bytes) ?? "invalid")
            default: continue
            }
        }
        return VerifiedNode(
            nodeName: nodeName, role: role, serialNumber: Hex.lowercase(certificate.serialNumber.bytes),
            notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
            publicKeyFingerprint: try X509Support.publicKeyFingerprint(certificate.publicKey),
            dnsNames: dnsNames, ipAddresses: ipAddresses)
    }

    /// `verifyNodeCertificate` on DER bytes (as TLS delivers peer certificates).
    /// - Throws: `PKIError` `.malformedInput`, then as `verifyNodeCertificate(_:purpose:now:)`.
    public func verifyNodeCertificate(der: [UInt8], purpose: Purpose = .clientAuth, now: Date = Date()) throws -> VerifiedNode {
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: der) } catch {
            throw PKIError.malformed("DER certificate", error)
        }
        return try verifyNodeCertificate(certificate, purpose: purpose, now: now)
    }

    /// `verifyNodeCertificate` on a PEM certificate.
    /// - Throws: `PKIError` `.malformedInput`, then as `verifyNodeCertificate(_:purpose:now:)`.
    public func verifyNodeCertificate(pem: String, purpose: Purpose = .clientAuth, now: Date = Date()) throws -> VerifiedNode {
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: pem) } catch {
            throw PKIError.malformed("PEM certificate", error)
        }
        return try verifyNodeCertificate(certificate, purpose: purpose, now: now)
    }

    /// `verifyNodeCertificate`, then swift-certificates' `Verifier` with `RFC5280Policy` at the
    /// fixed time `now` and only this CA as root (version, expiry, basic and name constraints along
    /// the built chain). The explicit checks run first so failures carry a specific message.
    /// - Throws: as `verifyNodeCertificate`; `.chainValidationFailed` with the policy's reasons.
    public func validateChain(
        _ certificate: Certificate, purpose: Purpose = .clientAuth,
        now: Date = Date()
    ) async throws -> VerifiedNode {
        let verified = try verifyNodeCertificate(certificate, purpose: purpose, now: now)
        var verifier = Verifier(rootCertificates: CertificateStore([caCertificate])) {
            RFC5280Policy(fixedExpiryValidationTime: now)
        }
        switch await verifier.validate(leaf: certificate, intermediates: CertificateStore()) {
        case .validCertificate:
            return verified
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            throw PKIError(
                code: .chainValidationFailed,
                description: "certificate \"\(certificate.subject)\" failed RFC 5280 path validation to CA "
                    + "\"\(caCertificate.subject)\": " + (reasons.isEmpty ? "no chain to the CA" : reasons.joined(separator: "; ")))
        }
    }

    /// The role in a certificate's subject OU.
    /// - Throws: `PKIError` `.unknownRole` when OU is absent or not a `NodeRole` raw value.
    static func role(of certificate: Certificate) throws -> NodeRole {
        let unit = X509Support.attribute(.RDNAttributeType.organizationalUnitName, in: certificate.subject)
        guard let unit, let role = NodeRole(rawValue: unit) else {
            throw PKIError(
                code: .unknownRole,
                description: "certificate \"\(certificate.subject)\" has subject OU \(unit.map { "\"\($0)\"" } ?? "(none)"), "
                    + "expected one of worker, controller, hybrid")
        }
        return role
    }
}
