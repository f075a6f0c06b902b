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

    func testAnonymousSessionIsRefusedBeforeTheController() async throws {
        let gateway = try await startGateway()
        do {
            _ = try await session(gateway, identity: false) { _, _, _ in XCTFail("an anonymous session reached the controller") }
            XCTFail("an anonymous session was upgraded")
        } catch {}
        try await waitFor { gateway.log.all.contains { $0.contains("\"status\":403") && $0.contains("/v1/cluster/session") } }
    }

    /// A request pipelined behind a session's upgrade request (with and without `Connection:
    /// upgrade`) in one TLS write: the gateway neither crashes nor passes HTTP parts into a tunnel.
    func testRequestsPipelinedAfterAnUpgradeRequestLeaveTheGatewayServing() async throws {
        let gateway = try await startGateway()
        let dir = try TempDirectory()
        defer { dir.remove() }
        try pki.node.certificatePEM.write(toFile: dir.file("node.crt"), atomically: true, encoding: .utf8)
        try pki.node.key.privateKeyPEM.write(toFile: dir.file("node.key"), atomically: true, encoding: .utf8)
        try pki.ca.certificatePEM.write(toFile: dir.file("ca.crt"), atomically: true, encoding: .utf8)
        let upgrade =
            "GET /v1/cluster/session HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\n%s"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"
            + "GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
        for connection in ["", "Connection: Upgrade\\r\\n"] {
            let script = """
                import socket, ssl, sys
                c = ssl.create_default_context(cafile="\(dir.file("ca.crt"))")
                c.check_hostname = False
                c.load_cert_chain("\(dir.file("node.crt"))", "\(dir.file("node.key"))")
                s = c.wrap_socket(socket.create_connection(("127.0.0.1", \(gateway.ports.cluster)), 5))
                s.settimeout(3)
                s.sendall(("\(upgrade)" % "\(connection)").encode())
                data = b""
                try:
                    while len(data) < 65536:
                        chunk = s.recv(4096)
                        if not chunk: break
                        data += chunk
                except Exception: pass
                print(data[:12].decode(errors="replace"))
                """
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", script]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let answer = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertTrue(
                answer.hasPrefix("HTTP/1.1"),
                "no HTTP answer (\(connection.isEmpty ? "no Connection header" : "Connection: Upgrade")): \(answer)")
            let after = try await client().fetch(gateway.base + "/echo/alive")
            XCTAssertEqual(after.status, 200, "the gateway stopped serving after a pipelined upgrade request")
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
