// GatewayMetricsTests.swift — the admin socket (`--admin-socket`): after real requests through the
// gateway its GET /metrics shows them by class and code, a 429 as a rejection, an open session, a
// stream in flight and a drain; OpenMetrics by content negotiation; rejections by reason; the
// socket is 0660, replaces a stale file, refuses a live one and is removed on stop.
import AegisGateway
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import XCTest

final class GatewayMetricsTests: GatewayTestCase {
    /// `http+unix://` for the admin socket at `path`.
    static func url(_ path: String, _ route: String) -> String {
        "http+unix://" + path.replacingOccurrences(of: "/", with: "%2F") + route
    }

    func testAdminSocketShowsRequestsRejectionsSessionsAndDrain() async throws {
        let socket = dir.file("g.sock")
        try makeStaleSocket(socket)
        let gateway = try await startGateway {
            $0.adminSocket = socket
            $0.rate = 0.1
            $0.burst = 2
        }
        var info = stat()
        XCTAssertEqual(lstat(socket, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        let http = try client()
        let tenantA = [("Authorization", "Bearer token-a")]
        var codes: [UInt] = []
        for _ in 0..<3 { codes.append(try await http.fetch(gateway.base + "/v1/whoami", headers: tenantA).status) }
        XCTAssertEqual(codes, [200, 200, 429])

        let during = Mutex("")
        _ = try await GatewayWebSocketTests.session(port: gateway.ports.cluster, tls: try pki.clientTLS(pki.node)) { _, _, outbound in
            let text = try await http.fetch(Self.url(socket, "/metrics")).body
            during.withLock { $0 = text }
            try await outbound.close(.normalClosure, reason: nil)
        }
        let open = during.withLock { $0 }
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_sessions_open"), 1, open)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_sessions_total"), 1)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_requests_total", ["class": "session", "code": "101"]), 1)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_requests_total", ["class": "api", "code": "200"]), 2)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_requests_total", ["class": "api", "code": "429"]), 1)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_request_duration_seconds_count", ["class": "api"]), 3)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_rejections_total", ["reason": "rate_limited"]), 1)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_rejections_total", ["reason": "concurrency"]), 0)
        XCTAssertEqual(MetricsText.value(open, "aegis_gateway_draining"), 0)
        XCTAssertFalse(open.contains("whoami") || open.contains("token") || open.contains("tenant=\""), "a path or tenant in a label")
        try await waitFor {
            let text = (try? await http.fetch(Self.url(socket, "/metrics")).body) ?? ""
            return MetricsText.value(text, "aegis_gateway_sessions_open") == 0
        }

        let om = try await http.fetch(Self.url(socket, "/metrics"), headers: [("Accept", "application/openmetrics-text;version=1.0.0")])
        XCTAssertEqual(om.headers["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(om.body.hasSuffix("\n# EOF\n"), om.body)
        XCTAssertEqual(om.body.components(separatedBy: "# EOF").count, 2, "exactly one # EOF")
        XCTAssertTrue(om.body.contains("# TYPE aegis_gateway_requests counter\n"), om.body)
        let ready = try await http.fetch(Self.url(socket, "/readyz"))
        XCTAssertEqual(ready.status, 200, ready.body)
        let healthy = try await http.fetch(Self.url(socket, "/healthz")).status
        XCTAssertEqual(healthy, 200)

        try await checkStreamInFlightAndDrain(gateway, http: http, socket: socket)
    }

    /// A stream of tenant b in flight shows in `requests_in_flight`; stopping the gateway with it
    /// open shows `draining 1` on the admin socket, which is gone once the gateway stopped.
    private func checkStreamInFlightAndDrain(_ gateway: GatewayUnderTest, http: HTTPClient, socket: String) async throws {
        var request = HTTPClientRequest(url: gateway.base + "/sse?n=15")
        request.headers.add(name: "Authorization", value: "Bearer token-b")
        let stream = try await http.execute(request, timeout: .seconds(10))
        let flowing = try await http.fetch(Self.url(socket, "/metrics")).body
        XCTAssertEqual(MetricsText.value(flowing, "aegis_gateway_requests_in_flight"), 1, flowing)
        XCTAssertEqual(MetricsText.value(flowing, "aegis_gateway_requests_total", ["class": "other", "code": "200"]), 1)

        let stopping = Task { await gateway.stop() }
        try await Task.sleep(for: .milliseconds(300))
        let draining = try await http.fetch(Self.url(socket, "/metrics")).body
        XCTAssertEqual(MetricsText.value(draining, "aegis_gateway_draining"), 1, draining)
        for try await _ in stream.body {}
        await stopping.value
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "the admin socket is left behind")
    }

    func testRejectionsAreCountedByReason() async throws {
        let socket = dir.file("g.sock")
        let gateway = try await startGateway {
            $0.adminSocket = socket
            $0.joinRate = 0.1
            $0.responseHeadTimeout = .milliseconds(500)
        }
        let http = try client()
        for _ in 0..<11 {
            _ = try await http.fetch(gateway.base + "/v1/cluster/join", method: .POST, body: .bytes(ByteBuffer(string: "{}")))
        }
        let (body, continuation) = AsyncStream<ByteBuffer>.makeStream()
        defer { continuation.finish() }
        var upload = HTTPClientRequest(url: gateway.base + "/upload")
        upload.method = .POST
        upload.body = .stream(body, length: .known(Int64(2 << 20)))
        let big = try await http.execute(upload, timeout: .seconds(5)).status.code
        XCTAssertEqual(big, 413)
        let slow = try await http.fetch(gateway.base + "/slow").status
        XCTAssertEqual(slow, 504)
        let text = try await http.fetch(Self.url(socket, "/metrics")).body
        func rejected(_ reason: String) -> Double? { MetricsText.value(text, "aegis_gateway_rejections_total", ["reason": reason]) }
        XCTAssertEqual(rejected("join_rate_limited"), 1, text)
        XCTAssertEqual(rejected("body_too_large"), 1)
        XCTAssertEqual(rejected("upstream_timeout"), 1)
        XCTAssertEqual(rejected("upstream_unavailable"), 0)
        XCTAssertEqual(rejected("rate_limited"), 0)
        XCTAssertEqual(MetricsText.value(text, "aegis_gateway_requests_total", ["class": "join", "code": "200"]), 10)
        XCTAssertEqual(MetricsText.value(text, "aegis_gateway_requests_total", ["class": "join", "code": "429"]), 1)
        XCTAssertEqual(MetricsText.value(text, "aegis_gateway_requests_total", ["class": "other", "code": "504"]), 1)

        let missing = try await startGateway(socket: dir.file("missing.sock")) { $0.adminSocket = self.dir.file("m.sock") }
        let gone = try await http.fetch(missing.base + "/echo/x").status
        XCTAssertEqual(gone, 502)
        let unavailable = try await http.fetch(Self.url(dir.file("m.sock"), "/metrics")).body
        XCTAssertEqual(MetricsText.value(unavailable, "aegis_gateway_rejections_total", ["reason": "upstream_unavailable"]), 1, unavailable)
        let ready = try await http.fetch(Self.url(dir.file("m.sock"), "/readyz"))
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.body.contains("controller socket"), ready.body)
    }

    func testALiveAdminSocketIsRefusedNamingTheFlag() async throws {
        let socket = dir.file("g.sock")
        _ = try await startGateway { $0.adminSocket = socket }
        do {
            let second = try await GatewayUnderTest.start(pki: pki, socket: controller.socket) { $0.adminSocket = socket }
            gateways.append(second)
            XCTFail("a second gateway took over a live admin socket")
        } catch {
            XCTAssertTrue("\(error)".contains("--admin-socket \(socket): another process is listening on it"), "\(error)")
        }
        let kept = try await client().fetch(Self.url(socket, "/healthz")).status
        XCTAssertEqual(kept, 200, "the first gateway's socket was kept")
    }

    /// A unix socket file at `path` that nothing accepts on (bound and closed, as a killed process
    /// leaves it).
    func makeStaleSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw GatewayError("bind \(path): errno \(errno)") }
    }
}

/// Samples of a text-format (or OpenMetrics) exposition.
enum MetricsText {
    /// The value of `name` with exactly `labels` (label values without escapes); nil when absent.
    static func value(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let brace = series.firstIndex(of: "{") ?? series.endIndex
            guard series[..<brace] == name else { continue }
            var found: [String: String] = [:]
            if brace < series.endIndex {
                for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: "\",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { continue }
                    found[String(kv[0]).trimmingCharacters(in: CharacterSet(charactersIn: ","))] = String(
                        kv[1].drop { $0 == "\"" }.prefix { $0 != "\"" })
                }
            }
            if found == labels { return value }
        }
        return nil
    }
}
