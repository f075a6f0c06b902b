// RelayTicketTests.swift — tickets as pure functions: round trip, every field tampered after
// signing, truncation, other keys, the validity window, the key files.
@testable import AegisRelay
import Crypto
import Foundation
import Synchronization
import XCTest

final class RelayTicketTests: XCTestCase {
    let key = Curve25519.Signing.PrivateKey()
    let now: Int64 = 1_750_000_000_000
    lazy var ticket = RelayTicket(
        edge: "laptop-1", tenant: "acme", id: Array(0..<16), notBeforeMs: now - 1_000, expiresAtMs: now + 60_000)

    func testRoundTrip() throws {
        let text = try ticket.encoded(signedWith: key)
        XCTAssertFalse(text.contains("="), "base64url without padding")
        XCTAssertLessThan(text.count, 160, "compact")
        XCTAssertEqual(try RelayTicket.verify(text, key: key.publicKey, nowMs: now), ticket)
        XCTAssertEqual(ticket.idHex, "000102030405060708090a0b0c0d0e0f")
    }

    /// Every byte of the body, changed after signing, fails the signature (the version byte first
    /// fails as an unsupported version); so does every byte of the signature.
    func testTamperingWithAnyByteIsRefused() throws {
        let text = try ticket.encoded(signedWith: key)
        let parts = text.split(separator: ".").map(String.init)
        let body = try XCTUnwrap(decode(parts[0])), signature = try XCTUnwrap(decode(parts[1]))
        for index in body.indices {
            var changed = body
            changed[index] ^= 0x01
            let tampered = encode(changed) + "." + parts[1]
            XCTAssertThrowsError(try RelayTicket.verify(tampered, key: key.publicKey, nowMs: now), "body byte \(index)") { error in
                let expected: RelayTicketError = index == 0 ? .unsupportedVersion(0) : .badSignature
                XCTAssertEqual(error as? RelayTicketError, expected, "body byte \(index)")
            }
        }
        for index in signature.indices {
            var changed = signature
            changed[index] ^= 0x80
            XCTAssertThrowsError(try RelayTicket.verify(parts[0] + "." + encode(changed), key: key.publicKey, nowMs: now)) {
                XCTAssertEqual($0 as? RelayTicketError, .badSignature, "signature byte \(index)")
            }
        }
    }

    /// Each claim replaced by another value and the body re-encoded with the old signature.
    func testEachFieldSwappedIsRefused() throws {
        let signature = try ticket.encoded(signedWith: key).split(separator: ".")[1]
        var variants: [(String, RelayTicket)] = []
        var t = ticket
        t.edge = "laptop-2"
        variants.append(("edge", t))
        t = ticket
        t.tenant = "umbrella"
        variants.append(("tenant", t))
        t = ticket
        t.id[0] = 0xFF
        variants.append(("id", t))
        t = ticket
        t.notBeforeMs -= 3_600_000
        variants.append(("not-before", t))
        t = ticket
        t.expiresAtMs += 86_400_000
        variants.append(("expires-at", t))
        for (field, variant) in variants {
            let forged = encode(try variant.body()) + "." + signature
            XCTAssertThrowsError(try RelayTicket.verify(forged, key: key.publicKey, nowMs: now), field) {
                XCTAssertEqual($0 as? RelayTicketError, .badSignature, field)
            }
        }
    }

    func testAnotherKeyIsRefused() throws {
        let text = try ticket.encoded(signedWith: Curve25519.Signing.PrivateKey())
        XCTAssertThrowsError(try RelayTicket.verify(text, key: key.publicKey, nowMs: now)) {
            XCTAssertEqual($0 as? RelayTicketError, .badSignature)
        }
    }

    func testValidityWindow() throws {
        let text = try ticket.encoded(signedWith: key)
        XCTAssertThrowsError(try RelayTicket.verify(text, key: key.publicKey, nowMs: now + 60_000)) {
            XCTAssertEqual($0 as? RelayTicketError, .expired(expiresAtMs: now + 60_000, nowMs: now + 60_000))
        }
        XCTAssertThrowsError(try RelayTicket.verify(text, key: key.publicKey, nowMs: now - 1_001)) {
            XCTAssertEqual($0 as? RelayTicketError, .notYetValid(notBeforeMs: now - 1_000, nowMs: now - 1_001))
        }
        // Within the allowed clock skew on either side.
        XCTAssertNoThrow(try RelayTicket.verify(text, key: key.publicKey, nowMs: now + 60_500, skewMs: 1_000))
        XCTAssertNoThrow(try RelayTicket.verify(text, key: key.publicKey, nowMs: now - 1_500, skewMs: 1_000))
    }

    func testMalformedNamesThePart() throws {
        let text = try ticket.encoded(signedWith: key)
        let parts = text.split(separator: ".").map(String.init)
        let cases: [(String, RelayTicket.Part)] = [
            ("", .encoding), ("abc", .encoding), (text + ".x", .encoding), ("a=b." + parts[1], .encoding),
            (parts[0] + ".", .signature), (parts[0] + "." + "AAAA", .signature), (parts[0] + ".a+b/", .signature),
        ]
        for (input, part) in cases {
            XCTAssertThrowsError(try RelayTicket.verify(input, key: key.publicKey, nowMs: now), input) { error in
                guard case .malformed(let named, _)? = error as? RelayTicketError else { return XCTFail("\(input): \(error)") }
                XCTAssertEqual(named, part, input)
            }
        }
        // Bodies that are signed (so the signature passes) but do not parse: each names its field.
        let body = try ticket.body()
        let bodies: [([UInt8], RelayTicket.Part)] = [
            (Array(body.prefix(5)), .notBefore), (Array(body.prefix(12)), .expiresAt), (Array(body.prefix(20)), .id),
            (Array(body.prefix(33)), .tenant), (Array(body.prefix(35)), .tenant), (Array(body.prefix(38)), .edge),
            (Array(body.prefix(41)), .edge), (body + [0], .trailer),
        ]
        for (bytes, part) in bodies {
            let signed = encode(bytes) + "." + encode(Array(try key.signature(for: Array("aegis-relay-ticket\0".utf8) + bytes)))
            XCTAssertThrowsError(try RelayTicket.verify(signed, key: key.publicKey, nowMs: now), "\(part)") { error in
                guard case .malformed(let named, _)? = error as? RelayTicketError else { return XCTFail("\(part): \(error)") }
                XCTAssertEqual(named, part)
            }
        }
    }

    func testClaimsThatCannotBeEncoded() {
        var t = ticket
        t.edge = ""
        XCTAssertThrowsError(try t.body()) { XCTAssertEqual(($0 as? RelayTicketError)?.reason, "malformed-edge") }
        t = ticket
        t.tenant = String(repeating: "a", count: 256)
        XCTAssertThrowsError(try t.body()) { XCTAssertEqual(($0 as? RelayTicketError)?.reason, "malformed-tenant") }
        t = ticket
        t.expiresAtMs = t.notBeforeMs
        XCTAssertThrowsError(try t.body()) { XCTAssertEqual(($0 as? RelayTicketError)?.reason, "malformed-expires-at") }
    }

    func testKeyFiles() throws {
        let dir = NSTemporaryDirectory() + "relay-key-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let created = try RelayTicketKey.loadOrCreate(directory: dir)
        let again = try RelayTicketKey.loadOrCreate(directory: dir)
        XCTAssertEqual(created.rawRepresentation, again.rawRepresentation, "an existing key is kept")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/relay-ticket.key")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let publicKey = try RelayTicketKey.loadPublicKey(path: dir + "/relay-ticket.pub")
        let text = try ticket.encoded(signedWith: created)
        XCTAssertEqual(try RelayTicket.verify(text, key: publicKey, nowMs: now), ticket)
        XCTAssertThrowsError(try RelayTicketKey.loadPublicKey(path: dir + "/relay-ticket.key"))
        XCTAssertThrowsError(try RelayTicketKey.loadPublicKey(path: dir + "/missing"))
        // openssl reads the files as Ed25519 keys when it is installed.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = ["pkey", "-in", dir + "/relay-ticket.key", "-pubout", "-out", dir + "/openssl.pub"]
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            XCTAssertEqual(
                try String(contentsOfFile: dir + "/openssl.pub", encoding: .utf8),
                try String(contentsOfFile: dir + "/relay-ticket.pub", encoding: .utf8))
        }
    }

    func testBackoffSchedule() {
        let ceilings = (0..<9).map { RelayBackoff().ceiling(attempt: $0) }
        XCTAssertEqual(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        XCTAssertEqual(RelayBackoff(random: { 0 }).delay(attempt: 0), .milliseconds(500))
        XCTAssertEqual(RelayBackoff(random: { 0.5 }).delay(attempt: 3), .seconds(6))
        XCTAssertEqual(RelayBackoff(random: { 0.999_999 }).delay(attempt: 20), .seconds(60) / 2 + .seconds(30) * 0.999_999)
        // Spread: 200 edges cut off together redial over [0.5 s, 1 s], not in one instant.
        let first = (0..<200).map { _ in RelayBackoff().delay(attempt: 0) }
        XCTAssertGreaterThanOrEqual(first.min()!, .milliseconds(500))
        XCTAssertLessThanOrEqual(first.max()!, .seconds(1))
        XCTAssertGreaterThan(first.max()! - first.min()!, .milliseconds(300))
    }

    /// A redial replaces the edge's session at once, and the old session's late teardown leaves the new one.
    func testSessionTableKeepsTheNewest() {
        let table = RelaySessionTable()
        let key = RelayEdgeKey(tenant: "acme", edge: "laptop-1")
        let closed = Mutex<[Int]>([])
        let first = table.register(key, ticketID: "t1", upstream: "u") { closed.withLock { $0.append(1) } }
        XCTAssertNil(first.replaced)
        let other = table.register(RelayEdgeKey(tenant: "umbrella", edge: "laptop-1"), ticketID: "t3", upstream: "u") {}
        XCTAssertNil(other.replaced, "another tenant's edge of the same name is another session")
        let second = table.register(key, ticketID: "t2", upstream: "u") { closed.withLock { $0.append(2) } }
        XCTAssertEqual(second.replaced?.info.generation, first.generation)
        XCTAssertGreaterThan(second.generation, first.generation)
        second.replaced?.close()
        XCTAssertEqual(closed.withLock { $0 }, [1])
        XCTAssertFalse(table.remove(key, generation: first.generation), "the old teardown finds nothing of its own")
        XCTAssertEqual(table.sessions.filter { $0.key == key }.map(\.generation), [second.generation])
        XCTAssertTrue(table.remove(key, generation: second.generation))
        XCTAssertEqual(table.sessions.map(\.key), [RelayEdgeKey(tenant: "umbrella", edge: "laptop-1")])
    }

    private func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private func decode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { Array($0) }
    }
}
