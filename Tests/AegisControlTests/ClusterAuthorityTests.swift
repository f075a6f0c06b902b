// ClusterAuthorityTests.swift — renewal and peer authorization of joined nodes (real CA files,
// real SQLite store in a temporary directory).
import AegisControl
import AegisPKI
import AegisProtocol
import AegisStore
import Foundation
import Glibc
import Logging
import XCTest

final class ClusterAuthorityTests: StoreBackedTestCase {
    var authority: ClusterAuthority!

    override func setUpWithError() throws {
        try super.setUpWithError()
        authority = try ClusterAuthority.open(
            directory: directory + "/pki", store: SQLiteStateStore(store), logger: Logger(label: "test.authority"))
    }

    override func tearDownWithError() throws {
        authority = nil
        try super.tearDownWithError()
    }

    /// Joins `name` with a fresh key through a real join token; returns the key and the verified
    /// certificate it received (what the TLS layer would hand to the controller).
    func join(_ name: String) async throws -> (key: NodeKey, issued: ClusterAuthority.Issued, peer: VerifiedNode) {
        let token = try await authority.createJoinToken(role: .worker, ttlSeconds: 600, description: "test \(name)").token
        let (key, csrPEM) = try NodeIdentity.generate(nodeName: name)
        let issued = try await authority.join(token: token, csrPEM: csrPEM, nodeName: name, role: .worker)
        let peer = try authority.ca.verifier.verifyNodeCertificate(pem: issued.certificatePEM)
        return (key, issued, peer)
    }

    func assertControllerError(
        _ kind: ControllerError.Kind, containing text: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            XCTFail("expected ControllerError \(kind)", file: file, line: line)
        } catch let error as ControllerError {
            // An invalid request matches whatever field it names (the status is what was asserted).
            if case .invalid = kind, case .invalid = error.kind {
            } else {
                XCTAssertEqual(error.kind, kind, error.description, file: file, line: line)
            }
            XCTAssertTrue(error.description.contains(text), "\"\(error.description)\" lacks \"\(text)\"", file: file, line: line)
        } catch {
            XCTFail("expected ControllerError \(kind), got \(error)", file: file, line: line)
        }
    }

    func testRenewalWithTheSameKeyIssuesANewCertificate() async throws {
        let (key, first, peer) = try await join("worker-1")
        XCTAssertEqual(peer.nodeName, "worker-1")
        XCTAssertEqual(peer.publicKeyFingerprint, key.publicKeyFingerprint)

        let renewed = try await authority.renew(verifiedNode: peer, csrPEM: try key.makeCSRPEM())
        XCTAssertNotEqual(renewed.serial, first.serial, "a new certificate")
        XCTAssertNotEqual(renewed.certificatePEM, first.certificatePEM)
        XCTAssertEqual(renewed.keyFingerprint, key.publicKeyFingerprint, "same key")
        XCTAssertEqual(renewed.nodeName, "worker-1")
        XCTAssertEqual(renewed.role, .worker)
        XCTAssertEqual(renewed.caPEM, authority.caPEM)

        // The new certificate verifies against the cluster CA, for the same node and key, and the
        // key can use it.
        let verified = try authority.ca.verifier.verifyNodeCertificate(pem: renewed.certificatePEM)
        XCTAssertEqual(verified.nodeName, "worker-1")
        XCTAssertEqual(verified.serialNumber, renewed.serial)
        XCTAssertEqual(verified.publicKeyFingerprint, key.publicKeyFingerprint)
        XCTAssertEqual(try key.identity(certificatePEM: renewed.certificatePEM).nodeName, "worker-1")

        // The store recorded the renewal.
        let record = try XCTUnwrap(try store.identity(name: "worker-1"))
        XCTAssertEqual(record.lastSerial, renewed.serial)
        XCTAssertEqual(record.keyFingerprint, key.publicKeyFingerprint)

        // The renewed certificate can itself be used to renew.
        let again = try await authority.renew(verifiedNode: verified, csrPEM: try key.makeCSRPEM())
        XCTAssertNotEqual(again.serial, renewed.serial)
    }

    func testRenewalWithADifferentKeyIsRefused() async throws {
        let (key, first, peer) = try await join("worker-2")
        let otherKey = try NodeKey.generate(nodeName: "worker-2")
        XCTAssertNotEqual(otherKey.publicKeyFingerprint, key.publicKeyFingerprint)

        await assertControllerError(.conflict, containing: otherKey.publicKeyFingerprint) {
            _ = try await self.authority.renew(verifiedNode: peer, csrPEM: try otherKey.makeCSRPEM())
        }
        // Nothing changed in the store.
        let record = try XCTUnwrap(try store.identity(name: "worker-2"))
        XCTAssertEqual(record.keyFingerprint, key.publicKeyFingerprint)
        XCTAssertEqual(record.lastSerial, first.serial)

        // A CSR for another name is refused too (the certificate names the node).
        let stranger = try NodeKey.generate(nodeName: "worker-9")
        await assertControllerError(.invalid(field: nil), containing: "worker") {
            _ = try await self.authority.renew(verifiedNode: peer, csrPEM: try stranger.makeCSRPEM())
        }
    }

    func testAuthorizeAcceptsThePinnedKeyOnly() async throws {
        let (_, _, peer) = try await join("worker-3")
        try await authority.authorize(peer: peer)

        // A certificate signed by this CA for the same name but another key (e.g. issued before a
        // forget and re-join, or leaked) is refused, and cannot be used to renew.
        let otherKey = try NodeKey.generate(nodeName: "worker-3")
        let otherCertificate = try authority.ca.sign(csrPEM: try otherKey.makeCSRPEM(), nodeName: "worker-3", role: .worker)
        let otherPeer = try authority.ca.verifier.verifyNodeCertificate(otherCertificate)
        XCTAssertEqual(otherPeer.nodeName, "worker-3")
        await assertControllerError(.forbidden, containing: otherKey.publicKeyFingerprint) {
            try await self.authority.authorize(peer: otherPeer)
        }
        await assertControllerError(.forbidden, containing: "pinned") {
            _ = try await self.authority.renew(verifiedNode: otherPeer, csrPEM: try otherKey.makeCSRPEM())
        }
        try await authority.authorize(peer: peer)
    }

    func testForgottenNodeIsLockedOut() async throws {
        let (key, _, peer) = try await join("worker-4")
        let (_, _, neighbour) = try await join("worker-5")
        try store.removeIdentity(name: "worker-4")

        await assertControllerError(.forbidden, containing: "worker-4") { try await self.authority.authorize(peer: peer) }
        await assertControllerError(.forbidden, containing: "no registered identity") {
            _ = try await self.authority.renew(verifiedNode: peer, csrPEM: try key.makeCSRPEM())
        }
        XCTAssertNil(try store.identity(name: "worker-4"), "a refused renewal does not re-pin the name")
        try await authority.authorize(peer: neighbour)

        // Joining again with a token (and a new key) lets the name back in; the old certificate stays out.
        let (_, _, rejoined) = try await join("worker-4")
        try await authority.authorize(peer: rejoined)
        await assertControllerError(.forbidden, containing: "pinned") { try await self.authority.authorize(peer: peer) }
    }

    func testAuthorityReopensWithTheSameCA() async throws {
        let (_, _, peer) = try await join("worker-6")
        let reopened = try ClusterAuthority.open(
            directory: directory + "/pki", store: SQLiteStateStore(store), logger: Logger(label: "test.reopen"))
        XCTAssertEqual(reopened.fingerprint, authority.fingerprint)
        XCTAssertEqual(reopened.caPEM, authority.caPEM)
        try await reopened.authorize(peer: peer)
        // A certificate issued before the restart still verifies against the reloaded CA.
        let seven = try await join("worker-7")
        XCTAssertEqual(try reopened.ca.verifier.verifyNodeCertificate(pem: seven.issued.certificatePEM).nodeName, "worker-7")
    }
}
