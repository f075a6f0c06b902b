import AegisProtocol
import Crypto
import Foundation
import Glibc
import X509
import XCTest
@testable import AegisPKI

final class NodeIdentityTests: XCTestCase {
    func testJoinFlowThroughTheDirectory() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let directory = temp.file("node")
        let ca = try ClusterCA.create()

        // First start: a key is written before anything is sent.
        guard case .needsCertificate(let key, let csrPEM) = try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w1") else {
            return XCTFail("a new directory needs a certificate")
        }
        XCTAssertEqual(try directoryEntries(directory), ["node.key"])
        XCTAssertEqual(try fileMode(directory + "/node.key"), 0o600)
        XCTAssertEqual(try fileMode(directory), 0o700)

        // Crash before the certificate arrived: the same key comes back, with a fresh CSR for it.
        guard case .needsCertificate(let resumed, let csrAgain) = try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w1") else {
            return XCTFail("still no certificate")
        }
        XCTAssertEqual(resumed.publicKeyFingerprint, key.publicKeyFingerprint)
        XCTAssertEqual(
            try CertificateSigningRequest(pemEncoded: csrAgain).publicKey,
            try CertificateSigningRequest(pemEncoded: csrPEM).publicKey)

        // The controller signs; the node stores the result.
        let certificate = try ca.sign(csrPEM: csrAgain, nodeName: "w1", role: .worker)
        let identity = try resumed.identity(certificatePEM: try certificate.serializeAsPEM().pemString)
        XCTAssertEqual(identity.role, .worker)
        try identity.save(directory: directory)
        XCTAssertEqual(try directoryEntries(directory), ["node.crt", "node.key"])
        XCTAssertEqual(try fileMode(directory + "/node.crt"), 0o644)
        XCTAssertEqual(try fileMode(directory + "/node.key"), 0o600)

        guard case .ready(let loaded) = try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w1") else {
            return XCTFail("both files present")
        }
        XCTAssertEqual(loaded.certificate, certificate)
        XCTAssertEqual(loaded.publicKeyFingerprint, key.publicKeyFingerprint)
        XCTAssertEqual(try ca.verifier.verifyNodeCertificate(der: loaded.certificateDER).nodeName, "w1")

        // Renewal: same key, new certificate replaces the old one.
        let renewed = try ca.sign(csrPEM: try loaded.key.makeCSRPEM(), nodeName: "w1", role: .worker)
        try loaded.key.identity(certificate: renewed).save(directory: directory)
        guard case .ready(let afterRenewal) = try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w1") else {
            return XCTFail("renewed identity")
        }
        XCTAssertEqual(afterRenewal.certificate.serialNumber, renewed.serialNumber)
        XCTAssertNotEqual(renewed.serialNumber, certificate.serialNumber)
        XCTAssertEqual(try directoryEntries(directory), ["node.crt", "node.key"], "no temporary files left")
    }

    func testPublicKeyFingerprintIsSHA256OfSubjectPublicKeyInfo() throws {
        let key = try NodeKey.generate(nodeName: "fp")
        let p256 = try XCTUnwrap(P256.Signing.PublicKey(key.privateKey.publicKey))
        XCTAssertEqual(key.publicKeyFingerprint, sha256Hex(p256.derRepresentation))
        XCTAssertNotEqual(try NodeKey.generate(nodeName: "fp").publicKeyFingerprint, key.publicKeyFingerprint)

        // PEM round trip keeps the key.
        let again = try NodeKey(nodeName: "fp", privateKeyPEM: key.privateKeyPEM)
        XCTAssertEqual(again.publicKeyFingerprint, key.publicKeyFingerprint)
    }

    func testBrokenDirectoryStatesAreErrors() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let ca = try ClusterCA.create()
        let directory = temp.path
        guard case .needsCertificate(let key, let csrPEM) = try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w2") else {
            return XCTFail("new")
        }
        try key.identity(certificate: try ca.sign(csrPEM: csrPEM, nodeName: "w2", role: .worker)).save(directory: directory)

        // Wrong name for this directory.
        let renamed = assertPKIError(.nodeNameMismatch) { try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w3") }
        XCTAssertTrue(renamed?.description.contains("\"w2\"") ?? false)

        // Key replaced behind the certificate's back.
        let keyText = try readFile(temp.file("node.key"))
        try writeFile(temp.file("node.key"), try NodeKey.generate(nodeName: "w2").privateKeyPEM)
        let mismatch = assertPKIError(.keyCertificateMismatch) { try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w2") }
        XCTAssertEqual(mismatch?.path, temp.file("node.crt"))
        try writeFile(temp.file("node.key"), keyText)

        // Key lost: the certificate alone is useless and reported by name.
        XCTAssertEqual(unlink(temp.file("node.key")), 0)
        let lost = assertPKIError(.incompleteFilePair) { try NodeIdentity.loadOrCreate(directory: directory, nodeName: "w2") }
        XCTAssertEqual(lost?.path, temp.file("node.key"))
        XCTAssertEqual(try directoryEntries(directory), ["node.crt"], "no new key was generated over it")
    }

    func testIdentityRejectsACertificateForAnotherKeyOrName() throws {
        let ca = try ClusterCA.create()
        let mine = try NodeKey.generate(nodeName: "mine")
        let other = try NodeKey.generate(nodeName: "other")
        let otherCertificate = try ca.sign(csrPEM: try other.makeCSRPEM(), nodeName: "other", role: .worker)
        assertPKIError(.keyCertificateMismatch) { try mine.identity(certificate: otherCertificate) }

        let sameKeyOtherName = try NodeKey(nodeName: "mine-too", privateKey: mine.privateKey)
        let certificate = try ca.sign(csrPEM: try sameKeyOtherName.makeCSRPEM(), nodeName: "mine-too", role: .worker)
        assertPKIError(.nodeNameMismatch) { try mine.identity(certificate: certificate) }
    }

    func testNeedsRenewalAroundTheTwoThirdsPoint() throws {
        let issued = Date()
        let ca = try ClusterCA.create(now: issued)
        let key = try NodeKey.generate(nodeName: "renew")
        let certificate = try ca.sign(csrPEM: try key.makeCSRPEM(), nodeName: "renew", role: .worker, now: issued)
        let identity = try key.identity(certificate: certificate)

        // Counted from the issue time (notBefore is backdated by the clock-skew allowance).
        let start = identity.notValidBefore.addingTimeInterval(ClusterCA.clockSkewAllowance)
        let lifetime = identity.notValidAfter.timeIntervalSince(start)
        let twoThirds = start.addingTimeInterval(lifetime * 2 / 3)
        XCTAssertEqual(identity.renewalDate(), twoThirds)
        XCTAssertFalse(identity.needsRenewal(now: issued))
        XCTAssertFalse(identity.needsRenewal(now: twoThirds.addingTimeInterval(-60)))
        XCTAssertTrue(identity.needsRenewal(now: twoThirds.addingTimeInterval(60)))
        XCTAssertTrue(identity.needsRenewal(now: identity.notValidAfter.addingTimeInterval(86_400)), "expired certificates need renewal")

        // Custom fraction: half-way.
        let half = start.addingTimeInterval(lifetime / 2)
        XCTAssertFalse(identity.needsRenewal(now: half.addingTimeInterval(-60), fraction: 0.5))
        XCTAssertTrue(identity.needsRenewal(now: half.addingTimeInterval(60), fraction: 0.5))
        XCTAssertFalse(identity.needsRenewal(now: half.addingTimeInterval(60)), "default 2/3 is later than 1/2")

        XCTAssertFalse(identity.isExpired(now: issued))
        XCTAssertTrue(identity.isExpired(now: identity.notValidAfter.addingTimeInterval(1)))
    }
}
