// ControllerMetricsPrometheusTests.swift — the controller's /metrics over real HTTP: requests
// counted by route template, method and status; content negotiation; and a real Prometheus
// (Debian's `prometheus`) scraping an in-process controller with three nodes, queried with PromQL:
// nodes, conditions and counters, a node paused past NotReady, and a series count that stays the
// same through 2,000 short agents of 20 tenants (no per-workload labels).
import AegisAPI
import AegisControl
import AegisMetrics
import AegisProtocol
import AegisStore
import AegisWorkflow
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import XCTest

/// The controller's API on 127.0.0.1 (a free port) in a ServiceGroup, recording the Accept header
/// of every /metrics request.
final class APIFixture: Sendable {
    let port: Int
    /// The Accept header of every /metrics request.
    var accepts: [String] { acceptLog.headers.withLock { $0 } }
    private let acceptLog = AcceptLog()
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// - Parameter engine: when given, the /v1/workflows routes are served by it too.
    init(controller: Controller, engine: WorkflowEngine? = nil) async throws {
        let router = APIServer.router(controller: controller)
        if let engine { APIServer.workflowRoutes(router, controller: controller, engine: engine) }
        let inner = router.buildResponder()
        let log = acceptLog
        let responder = CallbackResponder<BasicRequestContext> { request, context in
            if request.uri.path == "/metrics" { log.headers.withLock { $0.append(request.headers[.accept] ?? "") } }
            return try await inner.respond(to: request, context: context)
        }
        let port = Mutex(0)
        var quiet = Logger(label: "test.api")
        quiet.logLevel = .critical
        let app = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "aegis-test"),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: quiet)
        let group = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        self.group = group
        task = Task { try await group.run() }
        let deadline = Date().addingTimeInterval(10)
        while port.withLock({ $0 }) == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        self.port = port.withLock { $0 }
        guard self.port != 0 else { throw PrometheusError(answer: "the API did not start") }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// GET `path` with `headers`: status, Content-Type and body.
    func get(_ path: String, headers: [(String, String)] = []) async throws -> (status: Int, contentType: String, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), response.headers.first(name: "Content-Type") ?? "", String(buffer: body))
    }
}

extension APIFixture {
    /// POST `body` to `path` with `headers`: status and body.
    func post(_ path: String, body: String, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }
}

final class AcceptLog: Sendable {
    let headers = Mutex<[String]>([])
}

final class ControllerMetricsPrometheusTests: StoreBackedTestCase {
    let admin = Caller(isAdmin: true, tenant: "default")

    func makeController(_ metrics: ControllerMetrics, leases: LeaseConfig = LeaseConfig()) throws -> Controller {
        var logger = Logger(label: "test.metrics")
        logger.logLevel = .error
        return Controller(store: SQLiteStateStore(store), logger: logger, leases: try LeaseTracker(config: leases), metrics: metrics)
    }

    func attach(_ c: Controller, _ name: String, exits: Bool) async throws {
        let link = AcknowledgingLink(node: name, exits: exits)
        link.attach(to: c)
        var caps = NodeCapabilities(cpuMillis: 64_000, memoryBytes: 256 << 30)
        caps.isolation = IsolationFeatures(cgroupControllers: ["cpu", "memory", "pids"])
        try await c.attach(node: NodeInfo(name: name, role: .worker, capabilities: caps), link: link)
    }

    func testAPIRequestsAreCountedByRouteTemplateAndMetricsNegotiateTheirFormat() async throws {
        let metrics = ControllerMetrics()
        let c = try makeController(metrics)
        let token = try store.createToken(kind: .admin).secret
        let api = try await APIFixture(controller: c)
        let auth = [("Authorization", "Bearer \(token)")]
        do {
            let missing = try await api.get("/v1/workloads/w-123456", headers: auth)
            XCTAssertEqual(missing.status, 404)
            _ = try await api.get("/v1/workloads/w-999999", headers: auth)
            let unmatched = try await api.get("/no/such/route", headers: auth)
            XCTAssertEqual(unmatched.status, 404)
            let anonymous = try await api.get("/metrics")
            XCTAssertEqual(anonymous.status, 401)
            let whoami = try await api.get("/v1/whoami", headers: auth)
            XCTAssertEqual(whoami.status, 200)
            let text = try await api.get("/metrics", headers: auth)
            XCTAssertEqual(text.status, 200)
            XCTAssertEqual(text.contentType, "text/plain; version=0.0.4; charset=utf-8")
            let om = try await api.get("/metrics", headers: auth + [("Accept", "application/openmetrics-text;version=1.0.0")])
            XCTAssertEqual(om.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
            XCTAssertTrue(om.body.hasSuffix("# EOF\n"))
            let body = try await api.get("/metrics", headers: auth).body
            func count(_ route: String, _ status: String) -> Double? {
                Exposed.value(body, "aegis_api_requests_total", ["route": route, "method": "GET", "status": status])
            }
            XCTAssertEqual(count("/v1/workloads/:id", "404"), 2, "one series for both ids: the template, not the path")
            XCTAssertEqual(count("unmatched", "404"), 1)
            XCTAssertEqual(count("/metrics", "401"), 1)
            XCTAssertEqual(count("/metrics", "200"), 2)
            XCTAssertEqual(count("/v1/whoami", "200"), 1)
            XCTAssertEqual(
                Exposed.value(body, "aegis_api_request_duration_seconds_count", ["route": "/v1/workloads/:id", "method": "GET"]), 2)
            XCTAssertFalse(body.contains("w-123456"), "no raw path in any label")
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }

    /// The issue's Prometheus test, on an in-process controller (3 nodes renewing every 100 ms,
    /// NotReady after 2 s): targets up over OpenMetrics; PromQL sees the nodes, their conditions
    /// and the counters; 2,000 short agents of 20 tenants leave the number of series unchanged;
    /// a node that stops renewing is NotReady through PromQL.
    func testARealPrometheusScrapesTheControllerSeries() async throws {
        guard let binary = prometheusTool("prometheus") else { return }
        let metrics = ControllerMetrics()
        let c = try makeController(
            metrics,
            leases: LeaseConfig(
                renewEvery: .milliseconds(100), notReadyAfter: .seconds(2), downAfter: .seconds(120), rescheduleMargin: .seconds(1)))
        let token = try store.createToken(kind: .admin).secret
        let api = try await APIFixture(controller: c)
        var tasks: [String: Task<Void, Never>] = ["monitor": Task { await c.runLeaseMonitor() }]
        let nodes = ["n1", "n2", "n3"]
        for node in nodes {
            try await attach(c, node, exits: true)
            tasks[node] = Task {
                while !Task.isCancelled {
                    _ = await c.renewLease(
                        node: node, capacity: LiveCapacity(runningAgents: 2, memoryAvailableBytes: 1 << 30, loadMillis: 500))
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        let prometheus = try PrometheusServer(binary: binary, directory: directory, target: "127.0.0.1:\(api.port)", token: token)
        defer {
            prometheus.stop()
            tasks.values.forEach { $0.cancel() }
        }
        do {
            try await scrapeAndQuery(c, prometheus, api: api, tasks: &tasks)
        } catch {
            print("prometheus log:\n\(prometheus.log)")
            await api.stop()
            throw error
        }
        await api.stop()
    }

    private func scrapeAndQuery(
        _ c: Controller, _ prometheus: PrometheusServer, api: APIFixture, tasks: inout [String: Task<Void, Never>]
    ) async throws {
        let tenants = (0..<20).map { String(format: "t%02d", $0) }
        for t in tenants { _ = try await c.createTenant(CreateTenantRequest(name: t), caller: admin) }
        try await submitShortAgents(c, tenants: tenants, each: 1)
        try await eventually("the target up") { try await prometheus.targets().first?.health == "up" }
        let target = try await prometheus.targets().first
        XCTAssertEqual(target?.error, "")
        let accepts = api.accepts
        XCTAssertTrue(accepts.allSatisfy { ExpositionFormat.negotiate(accept: $0) == .openMetrics }, "scraped as OpenMetrics: \(accepts)")
        try await eventually("two scrapes after the first agents") {
            let placed = try await prometheus.scalar("aegis_placements_total")
            let scrapes = try await prometheus.scalar(#"aegis_api_requests_total{route="/metrics",status="200"}"#)
            return placed == 20 && (scrapes ?? 0) >= 2
        }
        let ready = try await prometheus.query(#"aegis_node_condition{condition="Ready"} == 1"#)
        XCTAssertEqual(Set(ready.map { $0.labels["node"] ?? "" }), Set(["n1", "n2", "n3"]))
        let conditions = try await prometheus.scalar("sum(aegis_node_condition)")
        XCTAssertEqual(conditions, 3, "one condition per node")
        let running = try await prometheus.scalar("sum(aegis_node_running_sandboxes)")
        XCTAssertEqual(running, 6)
        let starts = try await prometheus.scalar("aegis_dispatch_to_start_seconds_count")
        XCTAssertEqual(starts, 20)
        let renewals = try await prometheus.scalar("aegis_lease_renewals_total")
        XCTAssertGreaterThan(renewals ?? 0, 3)
        let commits = try await prometheus.scalar(#"aegis_store_write_duration_seconds_count{op="placement"}"#)
        XCTAssertGreaterThan(commits ?? 0, 0)
        let series = try await prometheus.scalar(#"count({__name__=~"aegis_.*"})"#)
        let before = try XCTUnwrap(series)

        let started = Date()
        try await submitShortAgents(c, tenants: tenants, each: 100)
        print("2,000 short agents of 20 tenants placed, started and ended in \(Date().timeIntervalSince(started)) s; \(Int(before)) series")
        try await eventually("2,020 placements scraped") { try await prometheus.scalar("aegis_placements_total") == 2_020 }
        try await eventually("every start scraped") { try await prometheus.scalar("aegis_dispatch_to_start_seconds_count") == 2_020 }
        let seriesAfter = try await prometheus.scalar(#"count({__name__=~"aegis_.*"})"#)
        XCTAssertEqual(seriesAfter, before, "no series per workload or tenant")
        let pending = try await prometheus.scalar("sum(aegis_pending_workloads)")
        XCTAssertEqual(pending, 0)

        tasks["n3"]?.cancel()  // n3 stops renewing: NotReady 2 s after its last renewal
        try await eventually("n3 NotReady through PromQL") {
            try await prometheus.query(#"aegis_node_condition{node="n3",condition="NotReady"} == 1"#).count == 1
        }
        // One condition series per node, its current one: n3's Ready series went stale with the
        // scrape that showed NotReady (`unless`, not `== 0`, finds nodes not Ready).
        let n3Ready = try await prometheus.query(#"aegis_node_condition{node="n3",condition="Ready"}"#)
        XCTAssertEqual(n3Ready.count, 0, "\(n3Ready)")
        let notReadyNodes = try await prometheus.query(#"aegis_node_cordoned unless on(node) aegis_node_condition{condition="Ready"}"#)
        XCTAssertEqual(notReadyNodes.map { $0.labels["node"] ?? "" }, ["n3"])
        let notReady = try await prometheus.scalar(#"aegis_node_transitions_total{to="NotReady"}"#)
        XCTAssertEqual(notReady, 1)
        let n1Ready = try await prometheus.scalar(#"aegis_node_condition{node="n1",condition="Ready"}"#)
        XCTAssertEqual(n1Ready, 1)
        let seriesLast = try await prometheus.scalar(#"count({__name__=~"aegis_.*"})"#)
        XCTAssertEqual(seriesLast, before)
    }

    /// `each` short agents per tenant, the tenants' submissions concurrent; waits for every
    /// answer (each placed by then).
    private func submitShortAgents(_ c: Controller, tenants: [String], each: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in tenants {
                group.addTask {
                    let caller = Caller(isAdmin: false, tenant: t)
                    for _ in 0..<each { _ = try await c.submit(SubmitRequest(run: RunFlags(command: ["true"])), caller: caller) }
                }
            }
            try await group.waitForAll()
        }
    }
}
