import AegisProtocol
import Crypto
import Foundation
import XCTest
@testable import AegisPKI

final class JoinTokenTests: XCTestCase {
    func testGenerateFormatAndRoundTrip() throws {
        let ca = try ClusterCA.create()
        let token = JoinToken.generate(ca: ca)
        let text = token.description
        XCTAssertTrue(text.hasPrefix("AEG1" + ca.fingerprint + "::"), text)
        XCTAssertEqual(text.count, 4 + 64 + 2 + 6 + 1 + 16)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        XCTAssertEqual(token.id.count, 6)
        XCTAssertEqual(token.secret.count, 16)
        XCTAssertTrue(token.id.allSatisfy(allowed.contains))
        XCTAssertTrue(token.secret.allSatisfy(allowed.contains))

        let parsed = try JoinToken(parsing: text)
        XCTAssertEqual(parsed, token)
        XCTAssertEqual(try JoinToken(parsing: "  \(text)\n"), token, "surrounding whitespace of a token file is ignored")
        XCTAssertEqual(parsed.caFingerprint, ca.fingerprint)

        // Random: many tokens, no repeats of id+secret.
        let many = try (0..<200).map { _ in try JoinToken.generate(caFingerprint: ca.fingerprint) }
        XCTAssertEqual(Set(many.map(\.description)).count, many.count)

        XCTAssertFalse(token.redacted.contains(token.secret))
        XCTAssertTrue(token.redacted.hasSuffix("." + String(repeating: "*", count: 16)))
    }

    func testSecretHashAndConstantTimeMatch() throws {
        let token = try JoinToken(caFingerprint: String(repeating: "ab", count: 32), id: "abc123", secret: "0123456789abcdef")
        XCTAssertEqual(token.secretHash, sha256Hex(Array("0123456789abcdef".utf8)))
        XCTAssertTrue(token.matches(secretHash: token.secretHash))
        let other = try JoinToken(caFingerprint: token.caFingerprint, id: "abc123", secret: "0123456789abcdeg")
        XCTAssertFalse(other.matches(secretHash: token.secretHash))
        XCTAssertFalse(token.matches(secretHash: String(token.secretHash.dropLast())))
    }

    func testEachMalformedPartHasItsOwnError() throws {
        let fingerprint = String(repeating: "0f", count: 32)
        let good = "AEG1\(fingerprint)::abc123.0123456789abcdef"
        XCTAssertNoThrow(try JoinToken(parsing: good))

        let cases: [(String, PKIError.Code, String)] = [
            ("AEG2\(fingerprint)::abc123.0123456789abcdef", .tokenPrefix, "\"AEG2\""),
            ("", .tokenPrefix, "AEG1"),
            ("AEG1\(fingerprint.dropLast())::abc123.0123456789abcdef", .tokenFingerprint, "63 hex characters"),
            ("AEG1\(fingerprint)00::abc123.0123456789abcdef", .tokenFingerprint, "66 hex characters"),
            ("AEG1\(fingerprint.uppercased())::abc123.0123456789abcdef", .tokenFingerprint, "character 'F' at offset 1"),
            ("AEG1\(fingerprint.dropLast())g::abc123.0123456789abcdef", .tokenFingerprint, "character 'g' at offset 63"),
            ("AEG1\(fingerprint):abc123.0123456789abcdef", .tokenSeparator, "\"::\""),
            ("AEG1\(fingerprint)abc123.0123456789abcdef", .tokenSeparator, "\"::\""),
            ("AEG1\(fingerprint)::abc1230123456789abcdef", .tokenSeparator, "\".\""),
            ("AEG1\(fingerprint)::abc12.0123456789abcdef", .tokenID, "5 characters, expected 6"),
            ("AEG1\(fingerprint)::abC123.0123456789abcdef", .tokenID, "character 'C' at offset 2"),
            ("AEG1\(fingerprint)::abc123.0123456789abcde", .tokenSecret, "15 characters, expected 16"),
            ("AEG1\(fingerprint)::abc123.0123456789abcdef0", .tokenSecret, "17 characters, expected 16"),
            ("AEG1\(fingerprint)::abc123.0123456789-bcdef", .tokenSecret, "offset 10"),
        ]
        for (text, code, fragment) in cases {
            let error = assertPKIError(code) { try JoinToken(parsing: text) }
            XCTAssertTrue(
                error?.description.contains(fragment) ?? false,
                "\(text): \"\(error?.description ?? "-")\" lacks \(fragment)")
        }
        // The secret never appears in an error, even a partially wrong one.
        let leaky = assertPKIError(.tokenSecret) { try JoinToken(parsing: "AEG1\(fingerprint)::abc123.secretsecretsecre") }
        XCTAssertFalse(leaky?.description.contains("secretsecretsecre") ?? true)

        assertPKIError(.tokenFingerprint) { try JoinToken.generate(caFingerprint: "xyz") }
    }

    func testVerifyCAPinsTheCertificate() throws {
        let ca = try ClusterCA.create()
        let impostor = try ClusterCA.create()
        let token = JoinToken.generate(ca: ca)
        XCTAssertNoThrow(try token.verifyCA(certificateDER: ca.certificateDER))
        XCTAssertNoThrow(try token.verifyCA(certificatePEM: ca.certificatePEM))
        // The pinned bytes become the worker's trust anchor.
        let pinned = try PKIVerifier(caCertificateDER: ca.certificateDER)
        XCTAssertEqual(pinned.caFingerprint, token.caFingerprint)
        let (_, csrPEM) = try NodeIdentity.generate(nodeName: "controller-0")
        let served = try ca.sign(csrPEM: csrPEM, nodeName: "controller-0", role: .controller, serverAuth: true)
        XCTAssertEqual(try pinned.verifyNodeCertificate(served, purpose: .serverAuth).role, .controller)
        assertPKIError(.notSignedByClusterCA) {
            try pinned.verifyNodeCertificate(try impostor.sign(csrPEM: csrPEM, nodeName: "controller-0", role: .controller))
        }

        let error = assertPKIError(.caFingerprintMismatch) { try token.verifyCA(certificateDER: impostor.certificateDER) }
        XCTAssertTrue(error?.description.contains("expected SHA-256 \(ca.fingerprint)") ?? false, "\(String(describing: error))")
        XCTAssertTrue(error?.description.contains("got \(impostor.fingerprint)") ?? false, "\(String(describing: error))")
        assertPKIError(.caFingerprintMismatch) { try token.verifyCA(certificatePEM: impostor.certificatePEM) }

        // One flipped bit in the genuine certificate is enough.
        var flipped = ca.certificateDER
        flipped[flipped.count / 2] ^= 0x01
        assertPKIError(.caFingerprintMismatch) { try token.verifyCA(certificateDER: flipped) }
    }
}
