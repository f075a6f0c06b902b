// MetricsSidecarTests.swift — `aegis metrics` against a real controller's series on a unix socket and
// a real gateway's admin socket: one document with both and `aegis_metrics_source_up` 1/1, the
// Accept header passed on and no token sent; a controller (then a gateway) gone is up=0 with 200
// still and /readyz 503 naming the socket, and back again; a source that never answers is cut at the
// scrape timeout; OpenMetrics with exactly one `# EOF` and no family twice; promtool on both
// formats; a real Prometheus scraping the sidecar, queried with PromQL.
import AegisMetrics
import Foundation
import Logging
import XCTest

final class MetricsSidecarTests: XCTestCase {
    static let openMetricsAccept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

    var directory = ""
    var controller: ControllerSocket!
    var gateway: GatewayFixture!
    var sidecars: [Running] = []
    var port = 0

    var base: String { "http://127.0.0.1:\(port)" }
    var gatewaySocket: String { directory + "/g.sock" }

    override func setUp() async throws {
        directory = try makeTempDirectory()
        controller = try await ControllerSocket(socket: directory + "/c.sock", directory: directory + "/data")
        try await controller.start()
        gateway = try await GatewayFixture.start(controllerSocket: controller.socket, adminSocket: gatewaySocket)
        var codes: [UInt] = []
        for path in ["/healthz", "/healthz", "/healthz", "/no/such/route"] { codes.append(try await gateway.get(path)) }
        XCTAssertEqual(codes, [200, 200, 200, 404])
        port = try await startSidecar(controllerSocket: controller.socket, gatewaySocket: gatewaySocket)
    }

    override func tearDown() async throws {
        for sidecar in sidecars { await sidecar.stop() }
        await gateway?.stop()
        await controller?.close()
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Starts a sidecar on a free loopback port; its port.
    func startSidecar(controllerSocket: String, gatewaySocket: String, scrapeTimeout: Duration = .seconds(5)) async throws -> Int {
        let configuration = try MetricsSidecarConfiguration(
            listen: .init(host: "127.0.0.1", port: 0), controllerSocket: controllerSocket, gatewaySocket: gatewaySocket,
            scrapeTimeout: scrapeTimeout)
        var logger = Logger(label: "test.sidecar")
        logger.logLevel = .critical
        let sidecar = try MetricsSidecar(configuration: configuration, logger: logger)
        sidecars.append(Running.start(sidecar))
        return try await sidecar.listeningPort()
    }

    func testOneDocumentHoldsBothSourcesWithTheirUp() async throws {
        let text = try await get(base + "/metrics")
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(text.contentType, "text/plain; version=0.0.4; charset=utf-8")
        let body = text.body
        XCTAssertEqual(Exposed.value(body, "aegis_metrics_source_up", ["source": "controller"]), 1, body)
        XCTAssertEqual(Exposed.value(body, "aegis_metrics_source_up", ["source": "gateway"]), 1)
        XCTAssertGreaterThan(Exposed.value(body, "aegis_metrics_source_scrape_duration_seconds", ["source": "gateway"]) ?? 0, 0)
        XCTAssertEqual(Exposed.value(body, "aegis_placements_total"), 3, "the controller's series")
        XCTAssertEqual(Exposed.value(body, "aegis_node_running_sandboxes", ["node": "n1"]), 2)
        XCTAssertEqual(Exposed.value(body, "aegis_gateway_requests_total", ["class": "probe", "code": "200"]), 3, "the gateway's series")
        XCTAssertEqual(Exposed.value(body, "aegis_gateway_requests_total", ["class": "other", "code": "404"]), 1)
        let families = Exposed.typedFamilies(body)
        XCTAssertEqual(families.count, Set(families).count, "a family twice: \(families)")
        XCTAssertTrue(families.contains("aegis_gateway_sessions_open") && families.contains("aegis_store_write_duration_seconds"))

        let om = try await get(base + "/metrics", headers: [("Accept", Self.openMetricsAccept)])
        XCTAssertEqual(om.status, 200)
        XCTAssertEqual(om.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(om.body.hasSuffix("\n# EOF\n"))
        XCTAssertEqual(om.body.components(separatedBy: "# EOF").count, 2, "exactly one # EOF")
        let omFamilies = Exposed.typedFamilies(om.body)
        XCTAssertEqual(omFamilies.count, Set(omFamilies).count, "a family twice: \(omFamilies)")
        XCTAssertTrue(om.body.contains("# TYPE aegis_placements counter\n") && om.body.contains("# TYPE aegis_gateway_requests counter\n"))
        XCTAssertEqual(Exposed.value(om.body, "aegis_metrics_source_up", ["source": "controller"]), 1)

        let seen = controller.requests.withLock { $0 }
        XCTAssertEqual(seen.map(\.accept), ["", Self.openMetricsAccept], "the scraper's Accept header passed on")
        XCTAssertTrue(seen.allSatisfy { $0.authorization.isEmpty }, "a token was sent")
        var probes: [UInt] = []
        for path in ["/healthz", "/readyz", "/other"] { probes.append(try await get(base + path).status) }
        XCTAssertEqual(probes, [200, 200, 404])
    }

    func testASourceGoneIsUpZeroStill200AndNotReady() async throws {
        await controller.stop()
        let start = ContinuousClock.now
        let text = try await get(base + "/metrics")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500), "a stopped source delays the scrape")
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(Exposed.value(text.body, "aegis_metrics_source_up", ["source": "controller"]), 0, text.body)
        XCTAssertEqual(Exposed.value(text.body, "aegis_metrics_source_up", ["source": "gateway"]), 1)
        XCTAssertFalse(text.body.contains("aegis_placements_total"), "a failed source's series are left out")
        XCTAssertNotNil(Exposed.value(text.body, "aegis_gateway_requests_total", ["class": "probe", "code": "200"]))
        let om = try await get(base + "/metrics", headers: [("Accept", Self.openMetricsAccept)])
        XCTAssertEqual(om.status, 200)
        XCTAssertTrue(om.body.hasSuffix("\n# EOF\n"))
        XCTAssertEqual(om.body.components(separatedBy: "# EOF").count, 2)
        let notReady = try await get(base + "/readyz")
        XCTAssertEqual(notReady.status, 503)
        XCTAssertTrue(notReady.body.contains("controller socket \(controller.socket)"), notReady.body)
        XCTAssertFalse(notReady.body.contains(gatewaySocket), notReady.body)
        let alive = try await get(base + "/healthz").status
        XCTAssertEqual(alive, 200, "alive without its sources")

        await gateway.stop()
        let none = try await get(base + "/metrics")
        XCTAssertEqual(none.status, 200)
        XCTAssertEqual(Exposed.value(none.body, "aegis_metrics_source_up", ["source": "gateway"]), 0, none.body)
        XCTAssertFalse(none.body.contains("aegis_gateway_"))
        let neither = try await get(base + "/readyz")
        XCTAssertEqual(neither.body.split(separator: "\n").count, 2, neither.body)
        XCTAssertTrue(neither.body.contains("gateway socket \(gatewaySocket)"), neither.body)

        try await controller.start()
        let back = try await get(base + "/metrics")
        XCTAssertEqual(Exposed.value(back.body, "aegis_metrics_source_up", ["source": "controller"]), 1, back.body)
        XCTAssertEqual(Exposed.value(back.body, "aegis_placements_total"), 3)
    }

    func testASourceThatNeverAnswersIsCutAtTheScrapeTimeout() async throws {
        let silent = directory + "/silent.sock"
        let fd = try listeningSocket(silent)
        defer { close(fd) }
        let quick = try await startSidecar(
            controllerSocket: controller.socket, gatewaySocket: silent, scrapeTimeout: .milliseconds(500))
        let start = ContinuousClock.now
        let text = try await get("http://127.0.0.1:\(quick)/metrics")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(Exposed.value(text.body, "aegis_metrics_source_up", ["source": "gateway"]), 0, text.body)
        XCTAssertEqual(Exposed.value(text.body, "aegis_metrics_source_up", ["source": "controller"]), 1)
        XCTAssertGreaterThanOrEqual(
            Exposed.value(text.body, "aegis_metrics_source_scrape_duration_seconds", ["source": "gateway"]) ?? 0, 0.5)
    }

    func testPromtoolPassesOnBothFormats() async throws {
        guard let promtool = prometheusTool("promtool") else { return }
        let text = try await get(base + "/metrics").body
        let check = try runTool(promtool, ["check", "metrics"], input: Array(text.utf8))
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertEqual(check.output, "", "promtool's lint found problems")

        let om = try await get(base + "/metrics", headers: [("Accept", Self.openMetricsAccept)]).body
        let stamped = om.split(separator: "\n").map { $0.hasPrefix("#") ? String($0) : "\($0) 1700000000" }.joined(separator: "\n") + "\n"
        let file = directory + "/exposition.om"
        try stamped.write(toFile: file, atomically: true, encoding: .utf8)
        let blocks = try runTool(promtool, ["tsdb", "create-blocks-from", "openmetrics", file, directory + "/blocks"])
        XCTAssertEqual(blocks.status, 0, blocks.output)
    }

    func testARealPrometheusScrapesTheSidecar() async throws {
        guard let binary = prometheusTool("prometheus") else { return }
        let prometheus = try PrometheusServer(binary: binary, directory: directory, target: "127.0.0.1:\(port)")
        defer { prometheus.stop() }
        do {
            try await eventually("the sidecar target up") { try await prometheus.targets().first?.health == "up" }
            let target = try await prometheus.targets().first
            XCTAssertEqual(target?.error, "")
            try await eventually("both sources up through PromQL") {
                let up = try await prometheus.query("aegis_metrics_source_up == 1")
                return Set(up.map { $0.labels["source"] ?? "" }) == ["controller", "gateway"]
            }
            let probes = try await prometheus.query(#"aegis_gateway_requests_total{class="probe",code="200"}"#)
            XCTAssertEqual(probes.map(\.value), [3], "a gateway counter through PromQL")
            let placements = try await prometheus.query("aegis_placements_total")
            XCTAssertEqual(placements.map(\.value), [3], "a controller counter through PromQL")
            let accepts = controller.requests.withLock { $0.map(\.accept) }
            XCTAssertTrue(accepts.contains { ExpositionFormat.negotiate(accept: $0) == .openMetrics }, "\(accepts)")

            await controller.stop()
            try await eventually("the controller down through PromQL") {
                try await prometheus.query(#"aegis_metrics_source_up{source="controller"}"#).first?.value == 0
            }
            let stillUp = try await prometheus.targets().first
            XCTAssertEqual(stillUp?.health, "up", "the sidecar still answers its scrapes: \(stillUp?.error ?? "")")
        } catch {
            print("prometheus log:\n\(prometheus.log)")
            throw error
        }
    }

    /// A unix socket at `path` that listens but never accepts or answers.
    func listeningSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return fd
    }
}
