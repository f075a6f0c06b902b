#if canImport(FoundationEssentials)
import AegisProtocol
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import SwiftASN1
import X509

/// A private key and the certificate the cluster CA issued for it (the controller's TLS listener).
public struct ServerCredentials: Sendable {
    /// The issued certificate.
    public let certificate: Certificate
    /// The certificate's private key (ECDSA P-256).
    public let privateKey: Certificate.PrivateKey
    /// PEM of `certificate` (`-----BEGIN CERTIFICATE-----`).
    public let certificatePEM: String
    /// PEM of `privateKey` (PKCS#8, `-----BEGIN PRIVATE KEY-----`); keep it mode 0600 if written.
    public let privateKeyPEM: String
}

extension ClusterCA {
    /// Signs a node's CSR and returns its certificate.
    ///
    /// Checks, in order: the CSR's self-signature verifies with the key it carries (proof of
    /// possession, RFC 2986 §3); that key is ECDSA P-256; `nodeName` is a valid RFC 1123 name
    /// (`NodeName.validate`); the CSR subject's CN, if it has one, equals `nodeName`; the CA is valid
    /// at `now`. The CSR's other subject fields and requested extensions are ignored: the CA decides
    /// the contents.
    ///
    /// The certificate: subject `CN=<nodeName>, OU=<role>`; issuer the CA subject; random 20-byte
    /// serial; notBefore `now - clockSkewAllowance`; notAfter `now + validity`, capped at the CA's
    /// notAfter; extensions BasicConstraints CA:FALSE (critical), KeyUsage digitalSignature
    /// (critical), ExtendedKeyUsage clientAuth (+ serverAuth when `serverAuth`),
    /// SubjectAlternativeName DNS:`nodeName` plus IP:`ipAddresses`, SubjectKeyIdentifier and
    /// AuthorityKeyIdentifier (the CA's key id, RFC 5280 §4.2.1.1).
    ///
    /// - Parameters:
    ///   - csr: the node's certificate signing request.
    ///   - nodeName: the node name the controller admitted (becomes CN and a DNS SAN).
    ///   - role: encoded as subject OU ("worker", "controller", "hybrid").
    ///   - ipAddresses: IPv4/IPv6 literals to add as iPAddress SANs (default none).
    ///   - serverAuth: also allow the certificate to serve TLS (default false: client only).
    ///   - validity: lifetime in seconds (default `defaultCertificateValidity`, 90 days).
    ///   - now: issue time.
    /// - Throws: `PKIError` `.invalidCSRSignature`, `.unsupportedKeyAlgorithm`, `.invalidNodeName`,
    ///   `.nodeNameMismatch`, `.invalidHost` (bad IP literal), `.invalidValidity`, `.caNotValid`,
    ///   `.encoding`.
    public func sign(
        csr: CertificateSigningRequest, nodeName: String, role: NodeRole,
        ipAddresses: [String] = [], serverAuth: Bool = false,
        validity: TimeInterval = defaultCertificateValidity,
        now: Date = Date()
    ) throws -> Certificate {
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw PKIError(
                code: .invalidCSRSignature,
                description: "CSR for \"\(nodeName)\" rejected: its signature does not verify with the public key it "
                    + "carries (corrupted or tampered request)")
        }
        guard X509Support.isP256(csr.publicKey) else {
            throw PKIError(
                code: .unsupportedKeyAlgorithm,
                description: "CSR for \"\(nodeName)\" rejected: key is \(csr.publicKey), only ECDSA P-256 is accepted")
        }
        try NodeName.validate(nodeName)
        if let requested = X509Support.attribute(.RDNAttributeType.commonName, in: csr.subject), requested != nodeName {
            throw PKIError(
                code: .nodeNameMismatch,
                description: "CSR subject CN \"\(requested)\" does not match node name \"\(nodeName)\"")
        }
        let ips = try NodeName.subjectAlternativeNames(hosts: ipAddresses, ipOnly: true)
        var usages: [ExtendedKeyUsage.Usage] = [.clientAuth]
        if serverAuth { usages.append(.serverAuth) }
        return try issue(
            publicKey: csr.publicKey, commonName: nodeName, role: role,
            alternativeNames: [.dnsName(nodeName)] + ips, usages: usages,
            validity: validity, now: now)
    }

    /// Signs a PEM CSR (`-----BEGIN CERTIFICATE REQUEST-----`); see `sign(csr:...)`.
    ///
    /// - Throws: `PKIError` `.malformedInput` when the PEM does not parse, then as `sign(csr:...)`.
    public func sign(
        csrPEM: String, nodeName: String, role: NodeRole,
        ipAddresses: [String] = [], serverAuth: Bool = false,
        validity: TimeInterval = defaultCertificateValidity,
        now: Date = Date()
    ) throws -> Certificate {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: csrPEM) } catch {
            throw PKIError.malformed("PEM certificate signing request for \"\(nodeName)\"", error)
        }
        return try sign(
            csr: csr, nodeName: nodeName, role: role, ipAddresses: ipAddresses,
            serverAuth: serverAuth, validity: validity, now: now)
    }

    /// Creates a fresh P-256 key and a certificate for the controller's TLS listener.
    ///
    /// Subject `CN=<commonName>, OU=controller`; ExtendedKeyUsage serverAuth + clientAuth (the same
    /// credentials may dial workers); SubjectAlternativeName from `hosts`: IP literals (inet_pton
    /// forms) become iPAddress entries, other entries must be DNS names (lowercased). Other fields
    /// as in `sign(csr:...)`. The controller holds the CA key, so it may simply issue a new one at
    /// start-up; reuse it while `NodeIdentity`-style renewal (2/3 of lifetime) is not due.
    ///
    /// - Parameters:
    ///   - hosts: DNS names and IP literals clients use to reach the controller; at least one.
    ///   - commonName: subject CN (default `"aegis-controller"`), must be a valid node name.
    ///   - validity: lifetime in seconds (default 90 days).
    ///   - now: issue time.
    /// - Throws: `PKIError` `.invalidHost` (empty list or a bad entry), `.invalidNodeName`,
    ///   `.invalidValidity`, `.caNotValid`, `.encoding`.
    public func issueServerCertificate(
        hosts: [String], commonName: String = "aegis-controller",
        validity: TimeInterval = defaultCertificateValidity,
        now: Date = Date()
    ) throws -> ServerCredentials {
        guard !hosts.isEmpty else {
            throw PKIError(code: .invalidHost, description: "server certificate needs at least one host (DNS name or IP address)")
        }
        try NodeName.validate(commonName)
        let names = try NodeName.subjectAlternativeNames(hosts: hosts)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let certificate = try issue(
            publicKey: key.publicKey, commonName: commonName, role: .controller,
            alternativeNames: names, usages: [.serverAuth, .clientAuth],
            validity: validity, now: now)
        return ServerCredentials(
            certificate: certificate, privateKey: key,
            certificatePEM: try PKIError.wrapping("PEM-encoding server certificate") { try certificate.serializeAsPEM().pemString },
            privateKeyPEM: try PKIError.wrapping("PEM-encoding server key") { try key.serializeAsPEM().pemString })
    }

    /// Builds and signs an end-entity certificate for `publicKey`.
    func issue(
        publicKey: Certificate.PublicKey, commonName: String, role: NodeRole,
        alternativeNames: [GeneralName], usages: [ExtendedKeyUsage.Usage],
        validity: TimeInterval, now: Date
    ) throws -> Certificate {
        try X509Support.checkValidity(validity, what: "certificate")
        try checkUsable(now: now)
        let notBefore = X509Support.wholeSeconds(now - ClusterCA.clockSkewAllowance)
        let notAfter = min(X509Support.wholeSeconds(now + validity), certificate.notValidAfter)
        return try PKIError.wrapping("signing the certificate for \"\(commonName)\"") { () throws -> Certificate in
            let subject = try DistinguishedName {
                CommonName(commonName)
                OrganizationalUnitName(role.rawValue)
            }
            let extensions = try Certificate.Extensions([
                Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true),
                Certificate.Extension(KeyUsage(digitalSignature: true), critical: true),
                Certificate.Extension(try ExtendedKeyUsage(usages), critical: false),
                Certificate.Extension(SubjectAlternativeNames(alternativeNames), critical: false),
                Certificate.Extension(SubjectKeyIdentifier(hash: publicKey), critical: false),
                Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: keyIdentifier), critical: false),
            ])
            return try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: notBefore, notValidAfter: notAfter,
                issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: privateKey)
        }
    }
}
