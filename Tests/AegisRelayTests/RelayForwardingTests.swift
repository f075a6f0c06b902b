// RelayForwardingTests.swift — real sockets, real mutual TLS: an edge's TLS client → RelayDialer's
// loopback port → WebSocket → RelayServer → TCP → a mutual-TLS echo server standing in for the
// gateway. The relay's recording of every byte it forwarded never holds the plaintext.
import AegisRelay
import Foundation
import NIOCore
import XCTest

final class RelayForwardingTests: XCTestCase {
    /// End to end through dialer and relay; the marker sent inside TLS comes back decrypted at the
    /// edge and appears in neither direction of what the relay forwarded.
    func testMutualTLSThroughTheRelayHidesThePlaintext() async throws {
        let pki = try TestPKI.make()
        let tickets = TestTickets()
        let gateway = try await EchoServer(tls: try pki.serverTLS())
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [gateway.port])
        let ticket = try tickets.ticket()
        let dialer = RelayDialer(configuration: try RelayDialerConfiguration(relays: [relay.url], ticket: { ticket }), logger: testLogger)
        let dialing = Running.start(dialer)
        defer {
            Task {
                await dialing.stop(); await relay.running.stop(); await gateway.stop()
            }
        }
        let localPort = try await dialer.localPort()

        let marker = Array("PLAINTEXT-MARKER-7f3a9c: lease renewal for edge-1, command start workload 42".utf8)
        let payload = marker + Array(repeating: UInt8(ascii: "x"), count: 100_000) + marker
        let client = try await TLSClient.connect(port: localPort, tls: try pki.clientTLS())
        let echoed = try await client.roundTrip(payload)
        XCTAssertEqual(echoed, payload, "the echo came back whole through dialer, relay and upstream")

        XCTAssertGreaterThan(relay.recorded.toUpstream.count, payload.count, "the relay forwarded the TLS records")
        XCTAssertGreaterThan(relay.recorded.toEdge.count, payload.count)
        XCTAssertFalse(relay.recorded.toUpstream.contains(bytes: marker), "the relay saw plaintext going up")
        XCTAssertFalse(relay.recorded.toEdge.contains(bytes: marker), "the relay saw plaintext coming back")
        XCTAssertEqual(relay.server.counters.accepted, 1)
        XCTAssertEqual(gateway.acceptedCount, 1)
        XCTAssertEqual(dialer.status.opened, [relay.url + "/v1/relay": 1])
        // The session ends with the edge's connection: the relay forgets it, the upstream closes.
        try await eventually(.seconds(5), "session removed") { relay.server.table.sessions.isEmpty }
        try await eventually(.seconds(5), "upstream closed") { gateway.openCount == 0 }
    }

    /// Missing, malformed, forged, tampered, expired and not-yet-valid tickets: each refused with
    /// 401 and its reason, and no upstream connection is ever opened.
    func testBadTicketsAreRefusedBeforeAnyUpstream() async throws {
        let tickets = TestTickets()
        let upstream = try await EchoServer(tls: nil)
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [upstream.port])
        defer {
            Task {
                await relay.running.stop(); await upstream.stop()
            }
        }

        let good = try tickets.ticket()
        // Another edge's claims under this ticket's signature.
        let other = try tickets.ticket(edge: "edge-2")
        let tampered = String(other.split(separator: ".")[0]) + "." + String(good.split(separator: ".")[1])
        var flipped = Array(good.utf8)
        flipped[10] = flipped[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let cases: [(String?, String)] = [
            (nil, "missing-ticket"),
            ("Bearer " + good, "missing-ticket"),
            ("AegisRelay ", "missing-ticket"),  // HTTP drops the trailing space: a bare scheme
            ("AegisRelay not-a-ticket", "malformed-encoding"),
            ("AegisRelay " + tampered, "bad-signature"),
            ("AegisRelay " + String(decoding: flipped, as: UTF8.self), "bad-signature"),
            ("AegisRelay " + (try TestTickets().ticket()), "bad-signature"),
            ("AegisRelay " + (try tickets.ticket(validForMs: 1_000, fromMs: RelayClock.unixMs() - 3_600_000)), "expired"),
            ("AegisRelay " + (try tickets.ticket(fromMs: RelayClock.unixMs() + 3_600_000)), "not-yet-valid"),
        ]
        for (authorization, reason) in cases {
            let socket = try RawSocket(port: relay.port)
            socket.send(RawSocket.upgradeRequest(authorization: authorization))
            let answer = RawAnswer(head: socket.receiveHead())
            XCTAssertEqual(answer.status, 401, "\(authorization ?? "no header")")
            XCTAssertEqual(answer.refusal, reason, "\(authorization ?? "no header")")
            XCTAssertTrue(socket.waitForClose(), "the relay closes a refused connection")
        }
        let wrongPath = try RawSocket(port: relay.port)
        wrongPath.send(RawSocket.upgradeRequest(authorization: "AegisRelay " + good, path: "/other"))
        XCTAssertEqual(RawAnswer(head: wrongPath.receiveHead()).status, 404)
        XCTAssertEqual(upstream.acceptedCount, 0, "no upstream opened for a refused dial")
        XCTAssertEqual(relay.server.counters.accepted, 0)
        XCTAssertEqual(relay.server.counters.refused["bad-signature"], 3)

        // The same relay accepts the good ticket (the refusals above were not a broken relay).
        let socket = try RawSocket(port: relay.port)
        socket.send(RawSocket.upgradeRequest(authorization: "AegisRelay " + good))
        XCTAssertEqual(RawAnswer(head: socket.receiveHead()).status, 101)
        try await eventually(.seconds(5), "upstream opened") { upstream.acceptedCount == 1 }
    }

    /// A client that connects and never completes a handshake is closed after the handshake timeout.
    func testSilentClientIsClosedAtTheHandshakeDeadline() async throws {
        let tickets = TestTickets()
        let upstream = try await EchoServer(tls: nil)
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [upstream.port]) {
            $0.handshakeTimeout = .milliseconds(300)
        }
        defer {
            Task {
                await relay.running.stop(); await upstream.stop()
            }
        }
        let start = ContinuousClock.now
        let idle = try RawSocket(port: relay.port)
        let slow = try RawSocket(port: relay.port)
        slow.send("GET /v1/relay HTTP/1.1\r\n")  // a head that never ends
        XCTAssertTrue(idle.waitForClose())
        XCTAssertTrue(slow.waitForClose())
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
        XCTAssertEqual(upstream.acceptedCount, 0)
    }

    /// Upstreams are tried in order; none reachable → 502 `upstream-unreachable`.
    func testUpstreamsInOrderAndNoneReachable() async throws {
        let tickets = TestTickets()
        let upstream = try await EchoServer(tls: nil)
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [try deadPort(), upstream.port])
        let down = try await RelayUnderTest.start(tickets: tickets, upstreams: [try deadPort()])
        defer {
            Task {
                await relay.running.stop(); await down.running.stop(); await upstream.stop()
            }
        }
        let socket = try RawSocket(port: relay.port)
        socket.send(RawSocket.upgradeRequest(authorization: "AegisRelay " + (try tickets.ticket())))
        XCTAssertEqual(RawAnswer(head: socket.receiveHead()).status, 101)
        try await eventually(.seconds(5), "session registered") { !relay.server.table.sessions.isEmpty }
        XCTAssertEqual(relay.server.table.sessions.first?.upstream, "127.0.0.1:\(upstream.port)")
        let refused = try RawSocket(port: down.port)
        refused.send(RawSocket.upgradeRequest(authorization: "AegisRelay " + (try tickets.ticket())))
        let answer = RawAnswer(head: refused.receiveHead())
        XCTAssertEqual(answer.status, 502)
        XCTAssertEqual(answer.refusal, "upstream-unreachable")
    }
}
