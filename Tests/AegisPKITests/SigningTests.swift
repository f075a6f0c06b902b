import AegisProtocol
import Crypto
import Foundation
import SwiftASN1
import X509
import XCTest
@testable import AegisPKI

final class SigningTests: XCTestCase {
    func testSignedNodeCertificateVerifiesAndCarriesNameRoleAndSANs() async throws {
        let now = Date()
        let ca = try ClusterCA.create(now: now)
        let (key, csrPEM) = try NodeIdentity.generate(nodeName: "worker-1")
        let certificate = try ca.sign(
            csrPEM: csrPEM, nodeName: "worker-1", role: .worker,
            ipAddresses: ["10.0.0.5", "fd00::1"], now: now)

        let verified = try ca.verifier.verifyNodeCertificate(certificate, now: now)
        XCTAssertEqual(verified.nodeName, "worker-1")
        XCTAssertEqual(verified.role, .worker)
        XCTAssertEqual(verified.dnsNames, ["worker-1"])
        XCTAssertEqual(verified.ipAddresses, ["10.0.0.5", "fd00::1"])
        XCTAssertEqual(verified.publicKeyFingerprint, key.publicKeyFingerprint)
        let serialHex = certificate.serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(verified.serialNumber, serialHex)
        // 20 random bytes, leading zero bytes dropped by DER (4 zero bytes in a row: p = 2^-32).
        XCTAssertGreaterThanOrEqual(verified.serialNumber.count, 32, "random 20-byte serial")

        // The library's RFC 5280 path builder agrees.
        let chained = try await ca.verifier.validateChain(certificate, now: now)
        XCTAssertEqual(chained, verified)

        // Contents the controller relies on.
        XCTAssertEqual(certificate.issuer, ca.certificate.subject)
        XCTAssertEqual(try certificate.extensions.basicConstraints, .notCertificateAuthority)
        let usages = try XCTUnwrap(try certificate.extensions.extendedKeyUsage)
        XCTAssertTrue(usages.contains(.clientAuth))
        XCTAssertFalse(usages.contains(.serverAuth), "client-only unless asked")
        let aki = try XCTUnwrap(try certificate.extensions.authorityKeyIdentifier)
        XCTAssertEqual(aki.keyIdentifier, try ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        XCTAssertEqual(
            certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore),
            ClusterCA.defaultCertificateValidity + ClusterCA.clockSkewAllowance, accuracy: 1)

        // A client-only certificate is not a server certificate.
        let error = assertPKIError(.missingExtendedKeyUsage) {
            try ca.verifier.verifyNodeCertificate(certificate, purpose: .serverAuth, now: now)
        }
        XCTAssertTrue(error?.description.contains("serverAuth") ?? false)

        // serverAuth on request, and the role round-trips for every role.
        for role in NodeRole.allCases {
            let both = try ca.sign(csrPEM: csrPEM, nodeName: "worker-1", role: role, serverAuth: true, now: now)
            XCTAssertEqual(try ca.verifier.verifyNodeCertificate(both, purpose: .serverAuth, now: now).role, role)
            XCTAssertEqual(try ca.verifier.verifyNodeCertificate(both, purpose: .clientAuth, now: now).role, role)
        }
    }

    func testCertificateFromAnotherCAIsRejected() async throws {
        let ours = try ClusterCA.create()
        let sameNameOtherKey = try ClusterCA.create()
        let otherName = try ClusterCA.create(commonName: "someone-else")
        let (_, csrPEM) = try NodeIdentity.generate(nodeName: "intruder")

        let forged = try sameNameOtherKey.sign(csrPEM: csrPEM, nodeName: "intruder", role: .worker)
        let signatureError = assertPKIError(.notSignedByClusterCA) { try ours.verifier.verifyNodeCertificate(forged) }
        XCTAssertTrue(signatureError?.description.contains("signature does not verify") ?? false, "\(String(describing: signatureError))")
        await assertPKIErrorAsync(.notSignedByClusterCA) { try await ours.verifier.validateChain(forged) }

        let foreign = try otherName.sign(csrPEM: csrPEM, nodeName: "intruder", role: .worker)
        let issuerError = assertPKIError(.notSignedByClusterCA) {
            try ours.verifier.verifyNodeCertificate(der: try derBytes(foreign))
        }
        XCTAssertTrue(issuerError?.description.contains("someone-else") ?? false, "\(String(describing: issuerError))")

        // The CA's own certificate is self-signed by the CA but is not a node certificate.
        assertPKIError(.certificateIsCA) { try ours.verifier.verifyNodeCertificate(ours.certificate) }
    }

    func testExpiredAndNotYetValidCertificatesAreRejected() async throws {
        let now = Date()
        let ca = try ClusterCA.create(now: now.addingTimeInterval(-86_400 * 30))
        let (_, csrPEM) = try NodeIdentity.generate(nodeName: "old-node")
        let issuedAt = now.addingTimeInterval(-86_400 * 10)
        let expired = try ca.sign(csrPEM: csrPEM, nodeName: "old-node", role: .hybrid, validity: 3_600, now: issuedAt)

        // Valid inside its hour, expired now.
        XCTAssertNoThrow(try ca.verifier.verifyNodeCertificate(expired, now: issuedAt.addingTimeInterval(60)))
        let error = assertPKIError(.certificateExpired) { try ca.verifier.verifyNodeCertificate(expired, now: now) }
        let expectedStamp = utcTimestamp(expired.notValidAfter)
        XCTAssertTrue(error?.description.contains("expired at \(expectedStamp)") ?? false, "\(String(describing: error))")
        await assertPKIErrorAsync(.certificateExpired) { try await ca.verifier.validateChain(expired, now: now) }

        // Before notBefore (which is issue time minus the skew allowance).
        let early = issuedAt.addingTimeInterval(-ClusterCA.clockSkewAllowance - 10)
        assertPKIError(.certificateNotYetValid) { try ca.verifier.verifyNodeCertificate(expired, now: early) }
        XCTAssertNoThrow(
            try ca.verifier.verifyNodeCertificate(expired, now: issuedAt.addingTimeInterval(-60)),
            "a minute of clock skew is tolerated")
    }

    func testTamperedCSRIsRejected() throws {
        let key = try NodeKey.generate(nodeName: "worker-7")
        let csr = try key.makeCSR()
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        var der = serializer.serializedBytes
        // Change the CN inside the signed request info: "worker-7" -> "worker-8".
        let name = Array("worker-7".utf8)
        let start = try XCTUnwrap((0...(der.count - name.count)).first { Array(der[$0..<$0 + name.count]) == name })
        der[start + name.count - 1] = UInt8(ascii: "8")
        let tampered = try CertificateSigningRequest(derEncoded: der)
        XCTAssertEqual(tampered.subject.description, "CN=worker-8", "the edit parsed as a different name")

        let ca = try ClusterCA.create()
        let error = assertPKIError(.invalidCSRSignature) { try ca.sign(csr: tampered, nodeName: "worker-8", role: .worker) }
        XCTAssertTrue(error?.description.contains("signature does not verify") ?? false)
        XCTAssertNoThrow(try ca.sign(csr: csr, nodeName: "worker-7", role: .worker), "the original still signs")

        assertPKIError(.malformedInput) { try ca.sign(csrPEM: "not a csr", nodeName: "worker-7", role: .worker) }
    }

    func testSigningChecksNamesAndCaps() throws {
        let now = Date()
        let ca = try ClusterCA.create(validity: 86_400, now: now)
        let (_, csrPEM) = try NodeIdentity.generate(nodeName: "alpha")

        let mismatch = assertPKIError(.nodeNameMismatch) { try ca.sign(csrPEM: csrPEM, nodeName: "beta", role: .worker, now: now) }
        XCTAssertTrue(mismatch?.description.contains("\"alpha\"") ?? false)
        XCTAssertTrue(mismatch?.description.contains("\"beta\"") ?? false)

        for bad in ["", "Upper", "under_score", "-lead", "trail-", "a..b", String(repeating: "a", count: 64)] {
            assertPKIError(.invalidNodeName) { try NodeName.validate(bad) }
        }
        XCTAssertNoThrow(try NodeName.validate("node-1.rack-2.example"))
        assertPKIError(.invalidHost) { try ca.sign(csrPEM: csrPEM, nodeName: "alpha", role: .worker, ipAddresses: ["alpha"]) }
        assertPKIError(.invalidValidity) { try ca.sign(csrPEM: csrPEM, nodeName: "alpha", role: .worker, validity: 0) }

        // A 90-day request from a 1-day CA ends with the CA.
        let capped = try ca.sign(csrPEM: csrPEM, nodeName: "alpha", role: .worker, now: now)
        XCTAssertEqual(capped.notValidAfter, ca.certificate.notValidAfter)

        // An expired CA signs nothing.
        let later = now.addingTimeInterval(2 * 86_400)
        let error = assertPKIError(.caNotValid) { try ca.sign(csrPEM: csrPEM, nodeName: "alpha", role: .worker, now: later) }
        XCTAssertTrue(error?.description.contains(utcTimestamp(ca.certificate.notValidAfter)) ?? false)
        assertPKIError(.caNotValid) { try ca.verifier.verifyNodeCertificate(capped, now: later) }
    }

    func testCSRWithANonP256KeyIsRejected() throws {
        let p384 = Certificate.PrivateKey(P384.Signing.PrivateKey())
        let csr = try CertificateSigningRequest(
            version: .v1, subject: DistinguishedName { CommonName("p384") },
            privateKey: p384, attributes: .init(), signatureAlgorithm: .ecdsaWithSHA384)
        let ca = try ClusterCA.create()
        assertPKIError(.unsupportedKeyAlgorithm) { try ca.sign(csr: csr, nodeName: "p384", role: .worker) }
    }

    func testServerCertificateContainsTheGivenSANs() throws {
        let ca = try ClusterCA.create()
        let server = try ca.issueServerCertificate(hosts: ["controller.example", "127.0.0.1", "::1", "Localhost", "192.168.7.9"])
        let names = Array(try XCTUnwrap(try server.certificate.extensions.subjectAlternativeNames))
        XCTAssertEqual(
            names,
            [
                .dnsName("controller.example"),
                .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
                .dnsName("localhost"),
                .ipAddress(ASN1OctetString(contentBytes: [192, 168, 7, 9])),
            ])
        let verified = try ca.verifier.verifyNodeCertificate(server.certificate, purpose: .serverAuth)
        XCTAssertEqual(verified.nodeName, "aegis-controller")
        XCTAssertEqual(verified.role, .controller)
        XCTAssertEqual(verified.ipAddresses, ["127.0.0.1", "::1", "192.168.7.9"])
        XCTAssertEqual(verified.dnsNames, ["controller.example", "localhost"])

        // The returned key is the certificate's key and round-trips through PEM.
        let reloaded = try Certificate.PrivateKey(pemEncoded: server.privateKeyPEM)
        XCTAssertEqual(reloaded.publicKey, server.certificate.publicKey)
        XCTAssertEqual(try Certificate(pemEncoded: server.certificatePEM), server.certificate)

        assertPKIError(.invalidHost) { try ca.issueServerCertificate(hosts: []) }
        let bad = assertPKIError(.invalidHost) { try ca.issueServerCertificate(hosts: ["ok.example", "bad host"]) }
        XCTAssertTrue(bad?.description.contains("\"bad host\"") ?? false)
        assertPKIError(.invalidHost) { try ca.issueServerCertificate(hosts: ["10.0.0.300"]) }
    }
}
