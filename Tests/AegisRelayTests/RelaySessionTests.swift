// RelaySessionTests.swift — sessions over time: a redial replaces the edge's old session and the
// old one's teardown leaves the new; half-open links are closed within three ping intervals from
// either side; an edge fails over to its second relay and backs off while none answers.
import AegisRelay
import Foundation
import NIOCore
import Synchronization
import XCTest

final class RelaySessionTests: XCTestCase {
    /// The same edge dials again (a restarted edge daemon, the old link half-open): the relay
    /// closes the old session at once; the old teardown does not remove the new session, which
    /// keeps working.
    func testRedialReplacesTheOldSession() async throws {
        let pki = try TestPKI.make()
        let tickets = TestTickets()
        let gateway = try await EchoServer(tls: try pki.serverTLS())
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [gateway.port])
        let ticket = try tickets.ticket()
        let first = RelayDialer(configuration: try RelayDialerConfiguration(relays: [relay.url], ticket: { ticket }), logger: testLogger)
        let second = RelayDialer(configuration: try RelayDialerConfiguration(relays: [relay.url], ticket: { ticket }), logger: testLogger)
        let runs = [Running.start(first), Running.start(second)]
        defer {
            Task {
                for r in runs { await r.stop() }; await relay.running.stop(); await gateway.stop()
            }
        }

        let old = try await TLSClient.connect(port: try await first.localPort(), tls: try pki.clientTLS())
        let (oldIn, oldOut) = try await open(old)
        try await oldOut.write(ByteBuffer(string: "hello"))
        var oldIterator = oldIn.makeAsyncIterator()
        let hello = try await oldIterator.next()
        XCTAssertEqual(hello.map { String(buffer: $0) }, "hello")
        let oldGeneration = try XCTUnwrap(relay.server.table.sessions.first?.generation)

        let new = try await TLSClient.connect(port: try await second.localPort(), tls: try pki.clientTLS())
        let (newIn, newOut) = try await open(new)
        try await newOut.write(ByteBuffer(string: "again"))
        var newIterator = newIn.makeAsyncIterator()
        let again = try await newIterator.next()
        XCTAssertEqual(again.map { String(buffer: $0) }, "again")

        // The old session was closed by the relay: its edge reads the end of its stream.
        let oldChannel = old.channel.channel
        try await withTimeout(.seconds(5)) { try await oldChannel.closeFuture.get() }
        XCTAssertEqual(relay.server.counters.replaced, 1)
        // Once the old teardown has run (its upstream connection closed), the new session is still the edge's.
        try await eventually(.seconds(5), "old upstream closed") { gateway.openCount == 1 }
        try await Task.sleep(for: .milliseconds(200))
        let sessions = relay.server.table.sessions
        XCTAssertEqual(sessions.count, 1)
        XCTAssertGreaterThan(try XCTUnwrap(sessions.first?.generation), oldGeneration)
        try await newOut.write(ByteBuffer(string: "still here"))
        let still = try await newIterator.next()
        XCTAssertEqual(still.map { String(buffer: $0) }, "still here")
        oldOut.finish()
        newOut.finish()
        new.channel.channel.close(promise: nil)
    }

    /// An edge that stops reading (never answers a ping): the relay closes its session and the
    /// upstream connection within three ping intervals.
    func testRelayClosesAHalfOpenEdgeWithinThreeIntervals() async throws {
        let tickets = TestTickets()
        let upstream = try await EchoServer(tls: nil)
        let interval = Duration.milliseconds(400)
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [upstream.port]) { $0.pingInterval = interval }
        defer {
            Task {
                await relay.running.stop(); await upstream.stop()
            }
        }
        let edge = try RawSocket(port: relay.port)
        edge.send(RawSocket.upgradeRequest(authorization: "AegisRelay " + (try tickets.ticket())))
        XCTAssertEqual(RawAnswer(head: edge.receiveHead()).status, 101)
        let silentSince = ContinuousClock.now  // from here on the edge reads nothing and answers no ping
        try await eventually(.seconds(2), "session open") { relay.server.table.sessions.count == 1 }
        let took = try await eventually(interval * 6, "half-open session closed") {
            relay.server.table.sessions.isEmpty && upstream.openCount == 0
        }
        _ = took
        XCTAssertLessThanOrEqual(ContinuousClock.now - silentSince, interval * 3, "closed within three ping intervals")
    }

    /// A relay that accepts the session and then never answers a ping: the edge's dialer closes
    /// it (and the local connection, so the session code redials) within three ping intervals.
    func testDialerClosesAHalfOpenRelayWithinThreeIntervals() async throws {
        let silent = try SilentRelay()
        defer { silent.stop() }
        let interval = Duration.milliseconds(400)
        var configuration = try RelayDialerConfiguration(relays: ["ws://127.0.0.1:\(silent.port)"], ticket: { "unused" })
        configuration.pingInterval = interval
        let dialer = RelayDialer(configuration: configuration, logger: testLogger)
        let running = Running.start(dialer)
        defer { Task { await running.stop() } }
        let local = try RawSocket(port: try await dialer.localPort(), timeout: 10)
        local.send("client hello bytes")
        try await eventually(.seconds(3), "session open") { dialer.status.current != nil }
        let openedAt = ContinuousClock.now
        XCTAssertTrue(local.waitForClose(), "the local connection ends with the relay session")
        XCTAssertLessThanOrEqual(ContinuousClock.now - openedAt, interval * 3, "closed within three ping intervals")
    }

    /// The first relay is down: the dialer goes on to the second at once (no back-off within a round),
    /// and prefers the one that worked for the next dial.
    func testFailoverToTheSecondRelay() async throws {
        let pki = try TestPKI.make()
        let tickets = TestTickets()
        let gateway = try await EchoServer(tls: try pki.serverTLS())
        let relay = try await RelayUnderTest.start(tickets: tickets, upstreams: [gateway.port])
        let ticket = try tickets.ticket()
        let down = "ws://127.0.0.1:\(try deadPort())"
        let waits = Mutex<[Duration]>([])
        var configuration = try RelayDialerConfiguration(relays: [down, relay.url], ticket: { ticket })
        configuration.sleep = { d in waits.withLock { $0.append(d) } }
        let dialer = RelayDialer(configuration: configuration, logger: testLogger)
        let running = Running.start(dialer)
        defer {
            Task {
                await running.stop(); await relay.running.stop(); await gateway.stop()
            }
        }
        let port = try await dialer.localPort()
        let payload = Array("through the second relay".utf8)
        let echoed = try await TLSClient.connect(port: port, tls: try pki.clientTLS()).roundTrip(payload)
        XCTAssertEqual(echoed, payload)
        XCTAssertEqual(dialer.status.failures[down + "/v1/relay"], 1)
        XCTAssertEqual(dialer.status.opened[relay.url + "/v1/relay"], 1)
        XCTAssertEqual(waits.withLock { $0 }, [], "no back-off within a round")
        // The next dial (a redial after the session ended) waits the first step and starts at the relay that worked.
        try await eventually(.seconds(5), "session ended") { dialer.status.current == nil }
        let again = try await TLSClient.connect(port: port, tls: try pki.clientTLS()).roundTrip(payload)
        XCTAssertEqual(again, payload)
        XCTAssertEqual(dialer.status.failures[down + "/v1/relay"], 1, "the dead relay was not tried first again")
        XCTAssertEqual(waits.withLock { $0.count }, 1)
        XCTAssertEqual(waits.withLock { $0 }.first.map { $0 >= .milliseconds(500) && $0 <= .seconds(1) }, true)
    }

    /// No relay answers: each failed round waits the next back-off step (injected randomness),
    /// doubling to the cap.
    func testBackoffWhileNoRelayAnswers() async throws {
        let down = ["ws://127.0.0.1:\(try deadPort())", "ws://127.0.0.1:\(try deadPort())"]
        let waits = Mutex<[Duration]>([])
        var configuration = try RelayDialerConfiguration(relays: down, ticket: { "t" })
        configuration.backoff = RelayBackoff(initial: .seconds(1), cap: .seconds(60), random: { 1 })
        configuration.sleep = { d in
            let count = waits.withLock {
                $0.append(d)
                return $0.count
            }
            if count >= 8 { throw CancellationError() }
        }
        let dialer = RelayDialer(configuration: configuration, logger: testLogger)
        let running = Running.start(dialer)
        defer { Task { await running.stop() } }
        let local = try RawSocket(port: try await dialer.localPort(), timeout: 10)
        XCTAssertTrue(local.waitForClose(), "the dialer gives the connection up when its wait is cancelled")
        XCTAssertEqual(waits.withLock { $0 }, [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        XCTAssertEqual(dialer.status.attempts[down[0] + "/v1/relay"], 8, "every round tries each relay once")
        XCTAssertEqual(dialer.status.attempts[down[1] + "/v1/relay"], 8)
    }

    private func open(
        _ client: TLSClient
    ) async throws -> (NIOAsyncChannelInboundStream<ByteBuffer>, NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        (client.channel.inbound, client.channel.outbound)
    }
}
