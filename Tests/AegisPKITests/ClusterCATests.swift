import Crypto
import Foundation
import Glibc
import X509
import XCTest
@testable import AegisPKI

final class ClusterCATests: XCTestCase {
    func testCreateBuildsACACertificate() throws {
        let now = Date()
        let ca = try ClusterCA.create(commonName: "test-ca", validity: 86_400 * 30, now: now)
        let certificate = ca.certificate
        XCTAssertEqual(ca.commonName, "test-ca")
        XCTAssertEqual(certificate.subject, certificate.issuer, "self-signed")
        XCTAssertTrue(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        XCTAssertNotNil(P256.Signing.PublicKey(certificate.publicKey), "P-256 key")

        let basic = try XCTUnwrap(certificate.extensions[oid: .X509ExtensionID.basicConstraints])
        XCTAssertTrue(basic.critical)
        XCTAssertEqual(try certificate.extensions.basicConstraints, .isCertificateAuthority(maxPathLength: 0))
        let usage = try XCTUnwrap(certificate.extensions[oid: .X509ExtensionID.keyUsage])
        XCTAssertTrue(usage.critical)
        let keyUsage = try XCTUnwrap(try certificate.extensions.keyUsage)
        XCTAssertTrue(keyUsage.keyCertSign)
        XCTAssertTrue(keyUsage.cRLSign)
        XCTAssertFalse(keyUsage.digitalSignature)
        XCTAssertNotNil(try certificate.extensions.subjectKeyIdentifier)

        // Validity: back-dated by the skew allowance, lasting `validity` from now (whole seconds).
        XCTAssertEqual(
            certificate.notValidBefore.timeIntervalSince1970,
            (now.timeIntervalSince1970 - ClusterCA.clockSkewAllowance).rounded(.down), accuracy: 0.001)
        XCTAssertEqual(
            certificate.notValidAfter.timeIntervalSince1970,
            (now.timeIntervalSince1970 + 86_400 * 30).rounded(.down), accuracy: 0.001)

        // Fingerprint is SHA-256 of the DER, and the PEM carries that DER.
        let der = try derBytes(certificate)
        XCTAssertEqual(ca.certificateDER, der)
        XCTAssertEqual(ca.fingerprint, sha256Hex(der))
        XCTAssertEqual(ca.fingerprint.count, 64)
        XCTAssertEqual(try Certificate(pemEncoded: ca.certificatePEM), certificate)

        // Two CAs never share a key or fingerprint.
        XCTAssertNotEqual(try ClusterCA.create(now: now).fingerprint, ca.fingerprint)
    }

    func testCreateRejectsBadValidity() {
        assertPKIError(.invalidValidity) { try ClusterCA.create(validity: 0) }
        assertPKIError(.invalidValidity) { try ClusterCA.create(validity: -5) }
        assertPKIError(.invalidValidity) { try ClusterCA.create(validity: .infinity) }
    }

    func testLoadOrCreateWritesFilesWithExactModes() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let directory = temp.file("state/pki")
        // A restrictive umask must not change the key/cert modes, a permissive one must not widen them.
        // The permissive one first: it creates the missing parent, whose 0700 is checked below.
        for mask: mode_t in [0o000, 0o077] {
            let previous = umask(mask)
            defer { umask(previous) }
            let dir = directory + "-\(mask)"
            let ca = try ClusterCA.loadOrCreate(directory: dir)
            XCTAssertEqual(try fileMode(dir + "/ca.key"), 0o600, "umask \(String(mask, radix: 8))")
            XCTAssertEqual(try fileMode(dir + "/ca.crt"), 0o644, "umask \(String(mask, radix: 8))")
            XCTAssertEqual(try fileMode(dir), 0o700)
            XCTAssertEqual(try directoryEntries(dir), ["ca.crt", "ca.key"], "no temporary files left behind")
            XCTAssertEqual(
                try readFile(dir + "/ca.crt").trimmingCharacters(in: .whitespacesAndNewlines),
                ca.certificatePEM.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertTrue(try readFile(dir + "/ca.key").hasPrefix("-----BEGIN PRIVATE KEY-----"))
        }
        XCTAssertEqual(try fileMode(temp.file("state")), 0o700, "missing parents created 0700")
    }

    func testLoadOrCreateTwiceReturnsTheSameCA() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let first = try ClusterCA.loadOrCreate(directory: temp.path)
        let keyBefore = try readFile(temp.file("ca.key"))
        let second = try ClusterCA.loadOrCreate(directory: temp.path)
        XCTAssertEqual(first.fingerprint, second.fingerprint)
        XCTAssertEqual(second.certificate, first.certificate)
        XCTAssertEqual(try readFile(temp.file("ca.key")), keyBefore, "loading does not rewrite the key")

        // The loaded CA holds the same private key: what it signs verifies under the first CA.
        let (key, csrPEM) = try NodeIdentity.generate(nodeName: "n1")
        let certificate = try second.sign(csrPEM: csrPEM, nodeName: "n1", role: .worker)
        let verified = try first.verifier.verifyNodeCertificate(certificate)
        XCTAssertEqual(verified.publicKeyFingerprint, key.publicKeyFingerprint)
    }

    func testOnlyCertificatePresentIsAnErrorNamingTheKey() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        _ = try ClusterCA.loadOrCreate(directory: temp.path)
        XCTAssertEqual(unlink(temp.file("ca.key")), 0)
        let error = assertPKIError(.incompleteFilePair) { try ClusterCA.loadOrCreate(directory: temp.path) }
        XCTAssertEqual(error?.path, temp.file("ca.key"))
        XCTAssertTrue(error?.description.contains(temp.file("ca.key") + " is missing") ?? false, "\(String(describing: error))")
        XCTAssertEqual(try directoryEntries(temp.path), ["ca.crt"], "nothing was created over the torn state")
    }

    func testOnlyKeyPresentIsAnErrorNamingTheCertificate() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        _ = try ClusterCA.loadOrCreate(directory: temp.path)
        XCTAssertEqual(unlink(temp.file("ca.crt")), 0)
        let error = assertPKIError(.incompleteFilePair) { try ClusterCA.loadOrCreate(directory: temp.path) }
        XCTAssertEqual(error?.path, temp.file("ca.crt"))
        XCTAssertTrue(error?.description.contains(temp.file("ca.crt") + " is missing") ?? false)
    }

    func testCorruptOrMismatchedFilesAreRejected() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let a = temp.file("a")
        let b = temp.file("b")
        _ = try ClusterCA.loadOrCreate(directory: a)
        _ = try ClusterCA.loadOrCreate(directory: b)

        // b's key next to a's certificate.
        try writeFile(a + "/ca.key", try readFile(b + "/ca.key"))
        let mismatch = assertPKIError(.keyCertificateMismatch) { try ClusterCA.loadOrCreate(directory: a) }
        XCTAssertEqual(mismatch?.path, a + "/ca.key")

        try writeFile(b + "/ca.crt", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        let corrupt = assertPKIError(.malformedInput) { try ClusterCA.loadOrCreate(directory: b) }
        XCTAssertEqual(corrupt?.path, b + "/ca.crt")
    }

    func testALeafCertificateIsNotAcceptedAsCA() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let ca = try ClusterCA.create()
        let server = try ca.issueServerCertificate(hosts: ["localhost"])
        try writeFile(temp.file("ca.crt"), server.certificatePEM)
        try writeFile(temp.file("ca.key"), server.privateKeyPEM)
        assertPKIError(.notACertificateAuthority) { try ClusterCA.load(directory: temp.path) }
        assertPKIError(.notACertificateAuthority) { try PKIVerifier(caCertificatePEM: server.certificatePEM) }
    }

    func testDirectoryThatIsAFileFailsWithENOTDIR() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        try writeFile(temp.file("plain"), "x")
        let error = assertPKIError(.syscall) { try ClusterCA.loadOrCreate(directory: temp.file("plain/pki")) }
        XCTAssertEqual(error?.errno, ENOTDIR)
        XCTAssertTrue(error?.description.contains("ENOTDIR (20)") ?? false, "\(String(describing: error))")
    }
}
