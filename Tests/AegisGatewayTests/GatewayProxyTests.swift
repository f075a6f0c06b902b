// GatewayProxyTests.swift — HTTP through the gateway over real TLS to a fake controller on a unix
// socket: forwarding, the identity headers, request IDs, the access log, SSE streaming, body
// limits, 502 and 504.
import AegisGateway
import AegisPKI
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

class GatewayTestCase: XCTestCase {
    var dir: TempDirectory!
    var pki: TestPKI!
    var controller: FakeController!
    var gateways: [GatewayUnderTest] = []
    var clients: [HTTPClient] = []

    override func setUp() async throws {
        dir = try TempDirectory()
        pki = try TestPKI.make()
        controller = FakeController(socket: dir.file("c.sock"))
        try await controller.start()
    }

    override func tearDown() async throws {
        for client in clients { try? await client.shutdown() }
        for gateway in gateways { await gateway.stop() }
        await controller.stop()
        dir.remove()
    }

    func startGateway(socket: String? = nil, _ configure: (inout GatewayConfiguration) -> Void = { _ in }) async throws -> GatewayUnderTest
    {
        let gateway = try await GatewayUnderTest.start(pki: pki, socket: socket ?? controller.socket, configure)
        gateways.append(gateway)
        return gateway
    }

    func client(_ identity: NodeIdentity? = nil) throws -> HTTPClient {
        let client = try pki.httpClient(identity)
        clients.append(client)
        return client
    }
}

final class GatewayProxyTests: GatewayTestCase {
    func testForwardsOverTLSAndStripsGatewayHeaders() async throws {
        let gateway = try await startGateway()
        let forged = [
            ("X-Aegis-Gateway-Client-Certificate", "forged"), ("x-aegis-gateway-tenant", "admin"), ("X-AEGIS-GATEWAY-Anything", "1"),
            ("X-Aegis-Gateway-Forwarded-For", "10.9.9.9"),
        ]
        let anonymous = try await client().fetch(gateway.base + "/echo/a?q=1", headers: forged + [("X-Other", "kept")])
        XCTAssertEqual(anonymous.status, 200, anonymous.body)
        let seen = anonymous.json["headers"] as? [String: String] ?? [:]
        XCTAssertEqual(anonymous.json["path"] as? String, "/echo/a?q=1")
        XCTAssertEqual(seen["x-other"], "kept")
        XCTAssertEqual(
            seen.keys.filter { $0.hasPrefix("x-aegis-gateway-") }, ["x-aegis-gateway-forwarded-for"],
            "forged identity reached upstream: \(seen)")
        XCTAssertEqual(seen["x-aegis-gateway-forwarded-for"], "127.0.0.1", "the gateway names the client it saw, not the forged one")

        let verified = try await client(pki.node).fetch(gateway.base + "/echo/b", headers: forged)
        let headers = verified.json["headers"] as? [String: String] ?? [:]
        XCTAssertEqual(headers["x-aegis-gateway-client-certificate"], Data(pki.node.certificateDER).base64EncodedString())
        XCTAssertEqual(
            Set(headers.keys.filter { $0.hasPrefix("x-aegis-gateway-") }),
            ["x-aegis-gateway-client-certificate", "x-aegis-gateway-forwarded-for"])
    }

    func testRequestAskingForAnotherUpgradeIsForwardedPlain() async throws {
        let gateway = try await startGateway()
        for (path, proto) in [("/echo/ws", "websocket"), ("/echo/h2c", "h2c")] {
            let answer = try await client().fetch(
                gateway.base + path,
                headers: [("Connection", "Upgrade"), ("Upgrade", proto), ("Sec-WebSocket-Key", "x"), ("Sec-WebSocket-Version", "13")])
            XCTAssertEqual(answer.status, 200, "\(proto): \(answer.body)")
            let seen = answer.json["headers"] as? [String: String] ?? [:]
            XCTAssertNil(seen["upgrade"], "hop-by-hop headers stay at the gateway")
            XCTAssertEqual(answer.json["path"] as? String, path)
        }
    }

    func testForeignClientCertificateFailsTheHandshake() async throws {
        let gateway = try await startGateway()
        do {
            let answer = try await client(pki.foreign).fetch(gateway.base + "/echo/x")
            XCTFail("a certificate of another CA got an answer: \(answer.status)")
        } catch {
            XCTAssertTrue("\(error)".contains("handshake") || "\(error)".contains("SSL"), "not a TLS failure: \(error)")
        }
        let anonymous = try await client().fetch(gateway.base + "/echo/x")
        XCTAssertEqual(anonymous.status, 200, "the listener still serves others")
    }

    func testRequestIDRoundTripsAndAccessLogLine() async throws {
        let gateway = try await startGateway()
        let http = try client(pki.node)
        let kept = try await http.fetch(gateway.base + "/echo/id?secret=1", headers: [("X-Request-Id", "abc-123_XYZ")])
        XCTAssertEqual(kept.headers["x-request-id"], "abc-123_XYZ")
        XCTAssertEqual((kept.json["headers"] as? [String: String])?["x-request-id"], "abc-123_XYZ")

        let replaced = try await http.fetch(gateway.base + "/echo/id", headers: [("X-Request-Id", "not ok!")])
        let made = try XCTUnwrap(replaced.headers["x-request-id"])
        XCTAssertEqual(made.count, 32)
        XCTAssertNotEqual(made, "not ok!")
        XCTAssertEqual((replaced.json["headers"] as? [String: String])?["x-request-id"], made)
        let long = String(repeating: "a", count: 65)
        let tooLong = try await http.fetch(gateway.base + "/echo/id", headers: [("X-Request-Id", long)])
        XCTAssertNotEqual(tooLong.headers["x-request-id"], long)

        let entries = gateway.log.entries(requestID: "abc-123_XYZ")
        XCTAssertEqual(entries.count, 1, gateway.log.all.joined(separator: "\n"))
        let line = try XCTUnwrap(entries.first)
        XCTAssertEqual(line["path"] as? String, "/echo/id", "the query stays out of the log")
        XCTAssertEqual(line["method"] as? String, "GET")
        XCTAssertEqual(line["status"] as? Int, 200)
        XCTAssertEqual(line["client_cn"] as? String, "node-1")
        XCTAssertEqual(line["remote"] as? String, "127.0.0.1")
        XCTAssertGreaterThan(line["bytes_out"] as? Int ?? 0, 0)
        XCTAssertNotNil(line["duration_ms"] as? Double)
        XCTAssertTrue((line["time"] as? String ?? "").hasSuffix("Z"))
    }

    func testServerSentEventsArriveEventByEvent() async throws {
        let gateway = try await startGateway()
        let start = ContinuousClock.now
        let response = try await client().execute(HTTPClientRequest(url: gateway.base + "/sse?n=6"), timeout: .seconds(10))
        XCTAssertEqual(response.headers["content-type"].first, "text/event-stream")
        var firstEvent: Duration?
        var text = ""
        for try await chunk in response.body {
            text += String(buffer: chunk)
            if firstEvent == nil && text.contains("data: event 0") { firstEvent = ContinuousClock.now - start }
        }
        let total = ContinuousClock.now - start
        XCTAssertTrue(text.contains("data: event 5"), text)
        let first = try XCTUnwrap(firstEvent)
        XCTAssertGreaterThanOrEqual(total, .milliseconds(500))
        XCTAssertLessThan(first, total - .milliseconds(300), "first event after \(first), stream ended after \(total): buffered")
    }

    func testClientLeavingAStreamEndsItUpstream() async throws {
        let gateway = try await startGateway()
        let http = try client()
        let response = try await http.execute(HTTPClientRequest(url: gateway.base + "/sse?n=100"), timeout: .seconds(10))
        var iterator = response.body.makeAsyncIterator()
        _ = try await iterator.next()
        try await http.shutdown()
        clients.removeAll()
        let controller = controller!
        try await waitFor(.seconds(2)) { controller.streamsEnded.load(ordering: .relaxed) == 1 }
    }

    func testEarlyAnswerBeforeTheBodyIsSentReachesTheClient() async throws {
        let gateway = try await startGateway()
        let http = try client()
        // The controller answers 401 at once; the client sends the rest of its body only after that.
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        continuation.yield(ByteBuffer(repeating: 1, count: 100_000))
        var request = HTTPClientRequest(url: gateway.base + "/early")
        request.method = .POST
        request.body = .stream(stream, length: .known(300_000))
        let response = try await http.execute(request, timeout: .seconds(10))
        XCTAssertEqual(response.status.code, 401)
        continuation.yield(ByteBuffer(repeating: 2, count: 200_000))
        continuation.finish()
        // AsyncHTTPClient itself may stop sending once the answer is complete (and then report a
        // body length mismatch): what matters here is what the gateway did.
        _ = try? await response.body.collect(upTo: 1 << 16)
        let next = try await http.fetch(gateway.base + "/echo/after")
        XCTAssertEqual(next.status, 200, "the gateway still serves the client")
        let line = try XCTUnwrap(gateway.log.all.first { $0.contains("\"path\":\"/early\"") })
        XCTAssertTrue(line.contains("\"status\":401") && !line.contains("\"error\""), "the answer went out whole: \(line)")
    }

    func testBodyLimitByContentLengthAnswersAtOnce() async throws {
        let gateway = try await startGateway()
        // The body never comes: the 413 must not wait for it.
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        defer { continuation.finish() }
        var request = HTTPClientRequest(url: gateway.base + "/upload")
        request.method = .POST
        request.body = .stream(stream, length: .known(Int64(2 << 20)))
        let response = try await client().execute(request, timeout: .seconds(5))
        XCTAssertEqual(response.status.code, 413)
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        XCTAssertTrue(body.contains("\"error\""), body)
        XCTAssertTrue(controller.completedUploads.withLock { $0.isEmpty })
    }

    func testBodyLimitWhileStreamingCancelsTheUpload() async throws {
        let gateway = try await startGateway()
        let chunk = ByteBuffer(repeating: 0x61, count: 64 << 10)
        let chunks = (0..<40).map { _ in chunk }  // 2.5 MiB against a 1 MiB limit
        var request = HTTPClientRequest(url: gateway.base + "/upload")
        request.method = .POST
        request.body = .stream(chunks.async, length: .unknown)
        let answer = try await client().execute(request, timeout: .seconds(10))
        XCTAssertEqual(answer.status.code, 413)
        let controller = controller!
        try await waitFor { controller.failedUploads.load(ordering: .relaxed) == 1 }
        XCTAssertTrue(controller.completedUploads.withLock { $0.isEmpty }, "the upstream upload was not cancelled")

        let small = try await client().fetch(
            gateway.base + "/upload", method: .POST, body: .bytes(ByteBuffer(repeating: 1, count: 300_000)))
        XCTAssertEqual(small.json["bytes"] as? Int, 300_000, "bodies under the limit stream up whole")
    }

    func testUnreachableControllerIs502AndSlowOneIs504() async throws {
        let missing = try await startGateway(socket: dir.file("missing.sock"))
        let bad = try await client().fetch(missing.base + "/echo/x")
        XCTAssertEqual(bad.status, 502)
        XCTAssertTrue((bad.json["error"] as? String ?? "").contains("missing.sock"), bad.body)

        let impatient = try await startGateway { $0.responseHeadTimeout = .milliseconds(300) }
        let start = ContinuousClock.now
        let slow = try await client().fetch(impatient.base + "/slow")
        XCTAssertEqual(slow.status, 504, slow.body)
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(1200))
    }
}

extension Array where Element: Sendable {
    /// The elements as an AsyncSequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}

/// Polls `condition` every 20 ms for at most `timeout`.
func waitFor(_ timeout: Duration = .seconds(5), _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    XCTFail("condition not met within \(timeout)")
}
