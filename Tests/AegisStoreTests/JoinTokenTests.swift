// JoinTokenTests.swift — join tokens (create, list, revoke, expiry, validation order, use
// counting), node identities (key pinning), and the v2 migration, on a real SQLite file.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

final class JoinTokenTests: StoreTestCase {
    let keyA = String(repeating: "a", count: 64)
    let keyB = String(repeating: "b", count: 64)

    func expectTokenError(
        _ reason: JoinTokenError.Reason, containing texts: [String] = [], file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            XCTFail("expected JoinTokenError(\(reason)) but the call succeeded", file: file, line: line)
        } catch let e as JoinTokenError {
            XCTAssertEqual(e.reason, reason, "\(e)", file: file, line: line)
            for text in texts { XCTAssertTrue(e.description.contains(text), "\(e) does not mention \(text)", file: file, line: line) }
        } catch {
            XCTFail("expected JoinTokenError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    func testCreateListAndTheSecretIsNeverStored() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        let a = try store.createJoinToken(role: .worker, ttlSeconds: 3600, description: "rack 4", nowMs: 10_000)
        let b = try store.createJoinToken(role: .controller, ttlSeconds: 60, nowMs: 20_000)
        for t in [a, b] {
            XCTAssertEqual(t.record.id.count, 6)
            XCTAssertEqual(t.secret.count, 16)
            XCTAssertTrue(
                (t.record.id + t.secret).utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) }, t.record.id)
        }
        XCTAssertNotEqual(a.record.id, b.record.id)
        XCTAssertNotEqual(a.secret, b.secret)
        XCTAssertEqual(a.record.expiresAtMs, 10_000 + 3_600_000)
        XCTAssertEqual(a.record.uses, 0)
        XCTAssertNil(a.record.revokedAtMs)
        XCTAssertEqual(try store.listJoinTokens(), [a.record, b.record])
        XCTAssertEqual(try store.joinToken(id: b.record.id)?.role, .controller)
        // Only the hash of the secret (the store's TokenHasher, as for API tokens) reaches the file
        // (also after a checkpoint into the main file).
        try store.close()
        let bytes = try fileBytes()
        XCTAssertFalse(bytes.contains(subsequence: Array(a.secret.utf8)), "the secret is in the database file")
        // FIPS 180-2 test vector: SHA-256("abc").
        XCTAssertEqual(ControlStore.joinSecretHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let expectedHash = ToyHasher().hash(a.secret)
        XCTAssertTrue(bytes.contains(subsequence: Array(expectedHash.utf8)), "the secret's TokenHasher hash should be stored")
        let reopened = try openSQLite()
        defer { try? reopened.close() }
        XCTAssertEqual(try reopened.listJoinTokens().map(\.id), [a.record.id, b.record.id])
        XCTAssertEqual(try reopened.validateJoinToken(id: a.record.id, secret: a.secret, nowMs: 11_000).description, "rack 4")
    }

    func testArgumentsAreChecked() async throws {
        let store = try await openStore()
        await expectStoreError(.invalidArgument, containing: "ttl 0") { _ = try await store.createJoinToken(role: .worker, ttlSeconds: 0) }
        await expectStoreError(.invalidArgument, containing: "365 days") {
            _ = try await store.createJoinToken(role: .worker, ttlSeconds: 31_536_001)
        }
        await expectStoreError(.invalidArgument, containing: "201 characters") {
            _ = try await store.createJoinToken(role: .worker, ttlSeconds: 60, description: String(repeating: "x", count: 201))
        }
        await expectStoreError(.invalidArgument, containing: "U+A") {
            _ = try await store.createJoinToken(role: .worker, ttlSeconds: 60, description: "a\nb")
        }
        await assertEqual(try await store.listJoinTokens(), [])
    }

    func testValidationNamesTheReasonAndChecksTheSecretFirst() async throws {
        let store = try await openStore()
        let t = try await store.createJoinToken(role: .worker, ttlSeconds: 10, nowMs: 1_700_000_000_000)
        let id = t.record.id
        await assertEqual(try await store.validateJoinToken(id: id, secret: t.secret, nowMs: 1_700_000_009_999).id, id)
        await expectTokenError(.unknown, containing: ["zzzzzz", "unknown"]) {
            _ = try await store.validateJoinToken(id: "zzzzzz", secret: t.secret)
        }
        let wrong = String(t.secret.reversed()) == t.secret ? "0123456789abcdef" : String(t.secret.reversed())
        await expectTokenError(.wrongSecret, containing: [id, "secret does not match"]) {
            _ = try await store.validateJoinToken(id: id, secret: wrong, nowMs: 1_700_000_000_001)
        }
        // Expiry is exclusive of the end instant; the message has both times in UTC.
        await expectTokenError(
            .expired(atMs: 1_700_000_010_000), containing: [id, "expired at 2023-11-14T22:13:30Z", "now 2023-11-14T22:13:31Z"]
        ) {
            _ = try await store.validateJoinToken(id: id, secret: t.secret, nowMs: 1_700_000_011_000)
        }
        // A wrong secret on an expired token says only "wrong secret".
        await expectTokenError(.wrongSecret) { _ = try await store.validateJoinToken(id: id, secret: wrong, nowMs: 1_700_000_011_000) }

        let r = try await store.createJoinToken(role: .worker, ttlSeconds: 3600, nowMs: 1_700_000_000_000)
        let revoked = try await store.revokeJoinToken(id: r.record.id, nowMs: 1_700_000_100_000)
        XCTAssertEqual(revoked.revokedAtMs, 1_700_000_100_000)
        // Idempotent: the first revocation time stays.
        await assertEqual(try await store.revokeJoinToken(id: r.record.id, nowMs: 1_700_000_200_000).revokedAtMs, 1_700_000_100_000)
        await expectTokenError(.revoked(atMs: 1_700_000_100_000), containing: [r.record.id, "revoked at 2023-11-14T22:15:00Z"]) {
            _ = try await store.validateJoinToken(id: r.record.id, secret: r.secret, nowMs: 1_700_000_150_000)
        }
        await expectStoreError(.notFound, containing: "nope00") { _ = try await store.revokeJoinToken(id: "nope00") }
    }

    func testCompleteJoinCountsUsesAndPinsTheKey() async throws {
        let store = try await openStore()
        let t = try await store.createJoinToken(role: .worker, ttlSeconds: 3600, nowMs: 1_000)
        let first = try await store.completeJoin(
            tokenID: t.record.id, secret: t.secret, nodeName: "n1", fingerprint: keyA,
            role: .worker, serial: "01", nowMs: 2_000)
        XCTAssertEqual(first.token.uses, 1)
        XCTAssertEqual(first.token.lastUsedAtMs, 2_000)
        XCTAssertEqual(
            first.identity,
            NodeIdentityRecord(
                name: "n1", keyFingerprint: keyA, role: .worker, firstJoinedAtMs: 2_000,
                lastIssuedAtMs: 2_000, lastSerial: "01", joinToken: t.record.id))
        // Same name, same key: accepted, refreshed, counted.
        let again = try await store.completeJoin(
            tokenID: t.record.id, secret: t.secret, nodeName: "n1", fingerprint: keyA,
            role: .worker, serial: "02", nowMs: 3_000)
        XCTAssertEqual(again.token.uses, 2)
        XCTAssertEqual(again.identity.firstJoinedAtMs, 2_000)
        XCTAssertEqual(again.identity.lastIssuedAtMs, 3_000)
        XCTAssertEqual(again.identity.lastSerial, "02")
        // Same name, another key: refused with both fingerprints, and nothing is counted.
        await expectStoreError(.conflict, containing: "node n1 is already joined with another key (fingerprint \(keyA)") {
            _ = try await store.completeJoin(
                tokenID: t.record.id, secret: t.secret, nodeName: "n1", fingerprint: keyB,
                role: .worker, serial: "03", nowMs: 4_000)
        }
        await assertEqual(try await store.joinToken(id: t.record.id)?.uses, 2)
        await assertEqual(try await store.identity(name: "n1")?.keyFingerprint, keyA)
        // A token revoked between validation and completion is caught inside the transaction.
        try await store.revokeJoinToken(id: t.record.id, nowMs: 5_000)
        await expectTokenError(.revoked(atMs: 5_000)) {
            _ = try await store.completeJoin(
                tokenID: t.record.id, secret: t.secret, nodeName: "n2", fingerprint: keyB,
                role: .worker, serial: "04", nowMs: 6_000)
        }
        await assertNil(try await store.identity(name: "n2"), "a refused join must not pin the name")
    }

    func testIdentityPinningRenewalAndRemoval() async throws {
        let store = try await openStore()
        let a = try await store.registerIdentity(name: "w1", fingerprint: keyA, role: .worker, serial: "aa", nowMs: 100)
        XCTAssertNil(a.joinToken)
        try await store.registerIdentity(name: "w0", fingerprint: keyB, role: .hybrid, nowMs: 50)
        await assertEqual(try await store.listIdentities().map(\.name), ["w0", "w1"])
        await expectStoreError(.conflict, containing: "node w1 is already joined with another key (fingerprint \(keyA)") {
            try await store.registerIdentity(name: "w1", fingerprint: keyB, role: .worker)
        }
        await expectStoreError(.invalidArgument, containing: "64 lowercase hex") {
            try await store.registerIdentity(name: "w2", fingerprint: "ABC", role: .worker)
        }
        await expectStoreError(.invalidArgument, containing: "64 lowercase hex") {
            try await store.registerIdentity(name: "w2", fingerprint: String(repeating: "A", count: 64), role: .worker)
        }
        let renewed = try await store.recordRenewal(name: "w1", fingerprint: keyA, serial: "bb", nowMs: 200)
        XCTAssertEqual(renewed.lastSerial, "bb")
        XCTAssertEqual(renewed.lastIssuedAtMs, 200)
        XCTAssertEqual(renewed.firstJoinedAtMs, 100)
        await expectStoreError(.conflict, containing: keyB) { try await store.recordRenewal(name: "w1", fingerprint: keyB, serial: "cc") }
        await expectStoreError(.notFound, containing: "ghost") {
            try await store.recordRenewal(name: "ghost", fingerprint: keyA, serial: "cc")
        }
        try await store.removeIdentity(name: "w1")
        await assertNil(try await store.identity(name: "w1"))
        await expectStoreError(.notFound) { try await store.removeIdentity(name: "w1") }
        // After removal the name can be pinned to a new key.
        await assertEqual(try await store.registerIdentity(name: "w1", fingerprint: keyB, role: .worker, nowMs: 300).firstJoinedAtMs, 300)
    }

    /// A v1 database (as the previous release left it) gains the v2 tables on open and keeps its data.
    func testV1DatabaseIsMigratedToV2() async throws {
        let store = try openSQLite()
        try store.bootstrap()
        let admin = try store.createToken(kind: .admin)
        try store.executeRaw(
            """
            DROP TABLE workflows;
            DELETE FROM grdb_migrations WHERE identifier = 'v5-workflows';
            DROP TABLE join_tokens;
            DROP TABLE node_identities;
            DELETE FROM grdb_migrations WHERE identifier = 'v2';
            ALTER TABLE workloads DROP COLUMN next_attempt_ms;
            ALTER TABLE workloads DROP COLUMN consecutive_exits;
            DELETE FROM grdb_migrations WHERE identifier = 'v3-restart-backoff';
            DROP INDEX workloads_by_idempotency_key;
            ALTER TABLE workloads DROP COLUMN idempotency_key;
            DELETE FROM grdb_migrations WHERE identifier = 'v4-idempotency-keys';
            """)
        XCTAssertEqual(try store.schemaVersions(), ["v1"])
        try store.close()
        let upgraded = try openSQLite()
        defer { try? upgraded.close() }
        XCTAssertEqual(try upgraded.schemaVersions(), ["v1", "v2", "v3-restart-backoff", "v4-idempotency-keys", "v5-workflows"])
        XCTAssertEqual(try upgraded.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        XCTAssertEqual(try upgraded.listJoinTokens(), [])
        XCTAssertNotNil(try upgraded.createJoinToken(role: .worker, ttlSeconds: 60))
    }
}
