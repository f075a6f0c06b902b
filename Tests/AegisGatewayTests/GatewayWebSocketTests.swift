// GatewayWebSocketTests.swift — node sessions through the gateway: the upgrade reaches the
// controller with the verified identity, frames go both ways, the controller's close code reaches
// the client, and a draining gateway closes sessions with 1001.
import AegisGateway
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import XCTest

final class GatewayWebSocketTests: GatewayTestCase {
    /// What a test does in a session: the first message (the identity the controller saw), the
    /// rest of the messages, the writer.
    typealias Body = @Sendable (String, inout WebSocketInboundMessageStream.AsyncIterator, WebSocketOutboundWriter) async throws -> Void

    /// Runs a session through `gateway`; `body` gets the first (identity) message and the streams.
    func session(
        _ gateway: GatewayUnderTest, identity: Bool = true,
        _ body: @escaping Body
    ) async throws -> WebSocketCloseFrame? {
        try await Self.session(port: gateway.ports.cluster, tls: try pki.clientTLS(identity ? pki.node : nil), body)
    }

    static func session(
        port: Int, tls: TLSConfiguration,
        _ body: @escaping Body
    ) async throws -> WebSocketCloseFrame? {
        try await WebSocketClient.connect(
            url: "wss://localhost:\(port)/v1/cluster/session", configuration: .init(maxFrameSize: 1 << 20, closeTimeout: .seconds(2)),
            tlsConfiguration: tls,
            logger: {
                var l = Logger(label: "ws-test")
                l.logLevel = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .info
                return l
            }()
        ) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            guard case .text(let first) = try await messages.next() else { throw GatewayError("no identity message") }
            try await body(first, &messages, outbound)
        }
    }

    func testEchoThroughTheGatewayWithIdentity() async throws {
        let gateway = try await startGateway()
        let node = pki.node
        let start = ContinuousClock.now
        let close = try await session(gateway) { identity, messages, outbound in
            // The controller's first frame comes right behind its 101: it must not wait for the next read.
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
            XCTAssertEqual(identity, "identity:" + Data(node.certificateDER).base64EncodedString())
            try await outbound.write(.text("hello"))
            guard case .text(let echoed) = try await messages.next() else { return XCTFail("no text echo") }
            XCTAssertEqual(echoed, "hello")
            let big = ByteBuffer(repeating: 7, count: 300_000)
            try await outbound.write(.binary(big))
            guard case .binary(let back) = try await messages.next() else { return XCTFail("no binary echo") }
            XCTAssertEqual(back, big)
            try await outbound.write(.text("close:4001"))
            while try await messages.next() != nil {}
        }
        XCTAssertEqual(close?.closeCode, .unknown(4001), "the controller's close code reaches the client")
        try await waitFor { !gateway.log.all.filter { $0.contains("\"status\":101") }.isEmpty }
        let line = try XCTUnwrap(gateway.log.all.first { $0.contains("\"status\":101") })
        XCTAssertTrue(line.contains("\"client_cn\":\"node-1\""), line)
    }

    func testAnonymousSessionGetsNoIdentity() async throws {
        let gateway = try await startGateway()
        _ = try await session(gateway, identity: false) { identity, _, outbound in
            XCTAssertEqual(identity, "identity:none")
            try await outbound.close(.normalClosure, reason: nil)
        }
    }

    func testDrainClosesSessionsGoingAway() async throws {
        let gateway = try await startGateway()
        let (opened, signal) = AsyncStream<Void>.makeStream()
        let client = Self.openSession(port: gateway.ports.cluster, tls: try pki.clientTLS(pki.node), opened: signal)
        for await _ in opened { break }
        let start = ContinuousClock.now
        await gateway.stop()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3), "the drain waited for the session to time out")
        let close = try await client.value
        XCTAssertEqual(close?.closeCode, .goingAway)
        let controller = controller!
        try await waitFor { controller.sessionsEnded.load(ordering: .relaxed) == 1 }
    }

    /// A session that says when it is open, then reads until it is closed.
    static func openSession(
        port: Int, tls: TLSConfiguration, opened: AsyncStream<Void>.Continuation
    ) -> Task<WebSocketCloseFrame?, any Error> {
        Task {
            try await session(port: port, tls: tls) { _, messages, outbound in
                try await outbound.write(.text("ping"))
                _ = try await messages.next()
                opened.yield()
                while try await messages.next() != nil {}
            }
        }
    }

    func testUpgradeRefusedWhenTheControllerIsGone() async throws {
        let gateway = try await startGateway(socket: dir.file("missing.sock"))
        do {
            _ = try await session(gateway) { _, _, _ in XCTFail("upgraded without a controller") }
            XCTFail("no error")
        } catch {
            XCTAssertTrue("\(error)".contains("upgrade") || "\(error)".contains("Upgrade"), "\(error)")
        }
        XCTAssertTrue(gateway.log.all.contains { $0.contains("\"status\":502") }, gateway.log.all.joined(separator: "\n"))
    }
}
