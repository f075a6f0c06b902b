// ControllerMetricsTests.swift — the controller's Prometheus series: names, types and labels after
// submissions, placements, registrations and lease events; node series removed with their node;
// pending reason classes; content negotiation; both exposition formats checked by promtool; a
// scrape of 5,000 nodes within issue 13's 2 MB.
import AegisControl
import AegisMetrics
import AegisProtocol
import AegisStore
import Foundation
import Logging
import XCTest

final class ControllerMetricsTests: StoreBackedTestCase {
    let admin = Caller(isAdmin: true, tenant: "default")

    func makeController(metrics: ControllerMetrics, leases: LeaseConfig = LeaseConfig()) throws -> Controller {
        var logger = Logger(label: "test.metrics")
        logger.logLevel = .warning
        return Controller(store: SQLiteStateStore(store), logger: logger, leases: try LeaseTracker(config: leases), metrics: metrics)
    }

    static func capabilities(cpus: Int64 = 4, gpus: Int = 0) -> NodeCapabilities {
        var caps = NodeCapabilities(
            cpuMillis: cpus * 1000, memoryBytes: 8 << 30,
            gpus: (0..<gpus).map { GPUDevice(vendor: "nvidia", model: "A100", pciAddress: "0000:0\($0):00.0") },
            isolation: IsolationFeatures(cgroupControllers: ["cpu", "memory", "pids"]))
        caps.leaseGraceMs = nil
        return caps
    }

    @discardableResult
    func attach(_ c: Controller, _ name: String, gpus: Int = 0, exits: Bool = false) async throws -> AcknowledgingLink {
        let link = AcknowledgingLink(node: name, exits: exits)
        link.attach(to: c)
        try await c.attach(node: NodeInfo(name: name, role: .worker, capabilities: Self.capabilities(gpus: gpus)), link: link)
        return link
    }

    func text(_ c: Controller, accept: String? = nil) async -> String { await c.metricsExposition(accept: accept).text }

    func testEverySeriesWithAFixedLabelSetExistsFromTheStartWithItsType() {
        let text = ControllerMetrics().render(.prometheusText).text
        let types = Exposed.types(text)
        let expected = [
            "aegis_scheduling_pass_duration_seconds": "histogram", "aegis_pending_workloads": "gauge",
            "aegis_placements_total": "counter", "aegis_dispatch_to_start_seconds": "histogram",
            "aegis_lease_renewals_total": "counter", "aegis_node_transitions_total": "counter",
            "aegis_rescheduled_workloads_total": "counter", "aegis_store_write_duration_seconds": "histogram",
        ]
        for (name, type) in expected { XCTAssertEqual(types[name], type, name) }
        for c in PendingReasonClass.allCases {
            XCTAssertEqual(Exposed.value(text, "aegis_pending_workloads", ["reason_class": c.rawValue]), 0, c.rawValue)
        }
        for to in ["Ready", "NotReady", "Down"] { XCTAssertEqual(Exposed.value(text, "aegis_node_transitions_total", ["to": to]), 0) }
        for op in ["insert", "placement", "update", "node"] {
            XCTAssertEqual(Exposed.value(text, "aegis_store_write_duration_seconds_count", ["op": op]), 0, op)
        }
        XCTAssertTrue(Exposed.samples(text).allSatisfy { $0.name.hasPrefix("aegis_") })
    }

    /// Two nodes (one with 2 GPUs), placements, a start acknowledged, workloads pending for
    /// capacity, GPUs, a runtime and quota: every series says so, with node labels only.
    func testSubmissionsPlacementsAndRegistrationsShowInTheSeries() async throws {
        let metrics = ControllerMetrics()
        let c = try makeController(metrics: metrics)
        try await attach(c, "n1")
        try await attach(c, "n2", gpus: 2)
        _ = await c.renewLease(node: "n1", capacity: LiveCapacity(runningAgents: 3, memoryAvailableBytes: 6 << 30, loadMillis: 1500))
        for _ in 0..<3 { _ = try await c.submit(SubmitRequest(run: RunFlags(cpus: "1", command: ["sleep", "9"])), caller: admin) }
        _ = try await c.submit(SubmitRequest(run: RunFlags(gpus: 1, command: ["nvidia-smi"])), caller: admin)
        _ = try await c.submit(SubmitRequest(run: RunFlags(cpus: "64", command: ["big"])), caller: admin)
        _ = try await c.submit(SubmitRequest(run: RunFlags(gpus: 4, command: ["many-gpus"])), caller: admin)
        _ = try await c.submit(SubmitRequest(run: RunFlags(runtime: "python3", command: ["-c", "print(1)"])), caller: admin)
        _ = try await c.createTenant(CreateTenantRequest(name: "small", quota: Quota(runningAgents: 1)), caller: admin)
        let small = Caller(isAdmin: false, tenant: "small")
        for _ in 0..<2 { _ = try await c.submit(SubmitRequest(run: RunFlags(command: ["sleep", "9"])), caller: small) }
        try await eventually("starts acknowledged") {
            Exposed.value(await self.text(c), "aegis_dispatch_to_start_seconds_count") == 5
        }
        let text = await text(c)
        XCTAssertEqual(Exposed.value(text, "aegis_placements_total"), 5)
        for (reasonClass, count) in ["capacity": 1.0, "gpu": 1, "runtime": 1, "quota": 1, "no_nodes": 0, "other": 0] {
            XCTAssertEqual(Exposed.value(text, "aegis_pending_workloads", ["reason_class": reasonClass]), count, reasonClass)
        }
        XCTAssertEqual(Exposed.value(text, "aegis_lease_renewals_total"), 1)
        XCTAssertGreaterThan(Exposed.value(text, "aegis_scheduling_pass_duration_seconds_count") ?? 0, 0)
        for op in ["insert", "placement", "update", "node"] {
            XCTAssertGreaterThan(Exposed.value(text, "aegis_store_write_duration_seconds_count", ["op": op]) ?? 0, 0, op)
        }
        // Node series: capacity, the scheduler's allocation, the condition, and n1's renewal report.
        let allocated = (1...2).map { Exposed.value(text, "aegis_node_cpu_allocated_cores", ["node": "n\($0)"]) ?? -1 }
        XCTAssertEqual(allocated.reduce(0, +), 3 + 0.1 * 2, "3 × 1 core + 2 × the default 100m")
        XCTAssertEqual(Exposed.value(text, "aegis_node_cpu_cores", ["node": "n1"]), 4)
        XCTAssertEqual(Exposed.value(text, "aegis_node_memory_bytes", ["node": "n2"]), Double(8 << 30))
        XCTAssertGreaterThan(Exposed.value(text, "aegis_node_memory_allocated_bytes", ["node": "n1"]) ?? 0, 0)
        XCTAssertEqual(Exposed.value(text, "aegis_node_gpus", ["node": "n2"]), 2)
        XCTAssertEqual(Exposed.value(text, "aegis_node_gpus_allocated", ["node": "n2"]), 1)
        XCTAssertNil(Exposed.value(text, "aegis_node_gpus", ["node": "n1"]), "no GPU series for a node without GPUs")
        XCTAssertNil(Exposed.value(text, "aegis_node_gpus_allocated", ["node": "n1"]))
        XCTAssertEqual(Exposed.value(text, "aegis_node_running_sandboxes", ["node": "n1"]), 3)
        XCTAssertNil(Exposed.value(text, "aegis_node_running_sandboxes", ["node": "n2"]), "n2 has reported nothing")
        for node in ["n1", "n2"] {
            let conditions = Exposed.samples(text).filter { $0.name == "aegis_node_condition" && $0.labels["node"] == node }
            XCTAssertEqual(conditions, [Sample(name: "aegis_node_condition", labels: ["node": node, "condition": "Ready"], value: 1)])
            XCTAssertEqual(Exposed.value(text, "aegis_node_cordoned", ["node": node]), 0)
        }
        // Bounded labels only: no workload id, no tenant anywhere.
        let labelNames = Set(Exposed.samples(text).flatMap(\.labels.keys))
        XCTAssertEqual(labelNames.subtracting(["reason_class", "to", "op", "le", "node", "condition"]), [])
    }

    func testRemovingANodeRemovesEveryOneOfItsSeries() async throws {
        let metrics = ControllerMetrics()
        let c = try makeController(metrics: metrics)
        try await attach(c, "n1")
        try await attach(c, "n2")
        _ = await c.renewLease(node: "n2", capacity: LiveCapacity(runningAgents: 1))
        var text = await text(c)
        // cpu and memory capacity and allocation, running sandboxes, cordon, condition (no GPUs).
        XCTAssertEqual(Exposed.samples(text).filter { $0.labels["node"] == "n2" }.count, 7)
        try await store.deleteNode(name: "n2")
        text = await self.text(c)
        XCTAssertEqual(Exposed.samples(text).filter { $0.labels["node"] == "n2" }, [], "no stale series of a removed node")
        XCTAssertFalse(text.contains("\"n2\""))
        XCTAssertEqual(Exposed.value(text, "aegis_node_condition", ["node": "n1", "condition": "Ready"]), 1)
        metrics.removeNode("n1")
        XCTAssertEqual(Exposed.samples(metrics.render(.prometheusText).text).filter { $0.labels["node"] != nil }, [])
    }

    /// A silent node goes NotReady then Down, and its agent is rescheduled: counted once each.
    func testLeaseTransitionsAndReschedulingAreCounted() async throws {
        let metrics = ControllerMetrics()
        let c = try makeController(
            metrics: metrics,
            leases: LeaseConfig(
                renewEvery: .milliseconds(50), notReadyAfter: .milliseconds(300), downAfter: .milliseconds(600),
                rescheduleMargin: .milliseconds(100)))
        try await attach(c, "w1")
        _ = try await c.submit(SubmitRequest(run: RunFlags(restart: "always", command: ["sleep", "100"])), caller: admin)
        try await attach(c, "w2")
        let monitor = Task { await c.runLeaseMonitor() }
        let renewer = Task {
            while !Task.isCancelled {
                _ = await c.renewLease(node: "w2")
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { [monitor, renewer].forEach { $0.cancel() } }
        try await eventually("w1's agent rescheduled") {
            Exposed.value(await self.text(c), "aegis_rescheduled_workloads_total") == 1
        }
        let text = await text(c)
        XCTAssertEqual(Exposed.value(text, "aegis_node_transitions_total", ["to": "NotReady"]), 1)
        XCTAssertEqual(Exposed.value(text, "aegis_node_transitions_total", ["to": "Down"]), 1)
        XCTAssertEqual(Exposed.value(text, "aegis_node_condition", ["node": "w1", "condition": "Down"]), 1)
        XCTAssertNil(Exposed.value(text, "aegis_node_condition", ["node": "w1", "condition": "Ready"]), "the current condition only")
        XCTAssertGreaterThan(Exposed.value(text, "aegis_lease_renewals_total") ?? 0, 1)
    }

    func testPendingReasonTextsMapToTheirClass() {
        let cases: [(String, PendingReasonClass)] = [
            ("no nodes registered", .noNodes),
            ("node n1 is not Ready (state NotReady)", .noNodes),
            ("no node fits: n1: is cordoned; n2: is not Ready (state Down)", .noNodes),
            ("needs 2000m CPU; node n1 has 500m free", .capacity),
            ("needs 1 GiB memory; node n1 has 512 MiB free", .capacity),
            ("needs an egress address; node n1 has all 4 addresses of subnet 10.0.0.0/30 in use", .capacity),
            ("needs 2 nvidia GPUs; node n1 has 0 free", .gpu),
            ("no node fits (12 nodes): n3: needs 1 GPU, has 0 free (+9 like it); n1: needs 64000m CPU, has 4000m free", .gpu),
            ("needs python3 >=3.12; node n1 has python3 3.11.2", .runtime),
            ("no node fits: n1: needs node 20, has no node; n2: needs 500m CPU, has 0m free", .runtime),
            ("needs label zone=eu; node n1 has no zone label", .constraint),
            (
                "needs memory limit enforcement; node n1 has no memory cgroup controller (start it with --allow-unenforced-limits to run unenforced)",
                .constraint
            ),
            ("needs network egress; node n1 has no egress", .constraint),
            ("tenant acme: running agents 5/5", .quota),
            ("tenant acme: cpu 3500m used + 1000m requested > 4000m quota", .quota),
            ("tenant ghost does not exist", .other),
            ("restarting after: exited with 1 (back-off 10s)", .restartBackoff),
            ("ImagePullBackOff: registry unreachable (attempt 1 of 5; next in 10s)", .imagePullBackoff),
            ("invalid workload: requires.runtimes[0].version: bad", .other),
            ("", .other),
        ]
        for (text, expected) in cases { XCTAssertEqual(PendingReasonClass(reason: text), expected, text) }
    }

    func testTheAcceptHeaderChoosesTheFormat() {
        let prometheus2 =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        let cases: [(String?, ExpositionFormat)] = [
            (nil, .prometheusText), ("", .prometheusText), ("*/*", .prometheusText), ("text/plain", .prometheusText),
            (prometheus2, .openMetrics), ("application/openmetrics-text", .openMetrics),
            ("text/plain;version=0.0.4;q=0.9, application/openmetrics-text; version=1.0.0", .openMetrics),
            ("application/openmetrics-text;version=1.0.0;q=0.2,text/plain;q=0.5", .prometheusText),
            ("application/openmetrics-text;version=2.0.0", .prometheusText),
            ("application/openmetrics-text;q=0", .prometheusText), ("application/json", .prometheusText),
            ("text/plain, application/openmetrics-text", .prometheusText),
        ]
        for (accept, expected) in cases { XCTAssertEqual(ExpositionFormat.negotiate(accept: accept), expected, accept ?? "nil") }
        XCTAssertEqual(ExpositionFormat.openMetrics.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertEqual(ExpositionFormat.prometheusText.contentType, "text/plain; version=0.0.4; charset=utf-8")
    }

    func testOpenMetricsNamesCounterFamiliesWithoutTotalAndEndsWithEOF() {
        let text = """
            # HELP a_total Things "done".
            # TYPE a_total counter
            a_total{x="1"} 3
            # TYPE b counter
            # HELP b Other things.
            b 2
            # TYPE c_seconds histogram
            c_seconds_bucket{le="+Inf"} 1
            c_seconds_sum 0.5
            c_seconds_count 1

            # a comment
            # TYPE d untyped
            d 1

            """
        XCTAssertEqual(
            OpenMetricsText.convert(text),
            """
            # TYPE a counter
            # HELP a Things \\"done\\".
            a_total{x="1"} 3
            # TYPE b counter
            # HELP b Other things.
            b_total 2
            # TYPE c_seconds histogram
            # UNIT c_seconds seconds
            c_seconds_bucket{le="+Inf"} 1
            c_seconds_sum 0.5
            c_seconds_count 1
            # TYPE d unknown
            d 1
            # EOF

            """)
    }

    /// The populated exposition in both formats: the text format passes `promtool check metrics`
    /// (syntax and the naming lint) silently; OpenMetrics, with timestamps added, is read by
    /// promtool's strict OpenMetrics parser (`tsdb create-blocks-from openmetrics`).
    func testBothFormatsPassPromtool() async throws {
        guard let promtool = prometheusTool("promtool") else { return }
        let metrics = ControllerMetrics()
        let c = try makeController(metrics: metrics)
        try await attach(c, "n1", gpus: 1)
        _ = await c.renewLease(node: "n1", capacity: LiveCapacity(runningAgents: 1, memoryAvailableBytes: 1 << 30, loadMillis: 250))
        _ = try await c.submit(SubmitRequest(run: RunFlags(command: ["true"])), caller: admin)
        _ = try await c.submit(SubmitRequest(run: RunFlags(cpus: "64", command: ["big"])), caller: admin)
        metrics.recordAPIRequest(route: "/v1/workloads/:id", method: "GET", status: 404, seconds: 0.002)
        let text = await c.metricsExposition(accept: nil)
        XCTAssertEqual(text.format, .prometheusText)
        let check = try runTool(promtool, ["check", "metrics"], input: text.body)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertEqual(check.output, "", "promtool's lint found problems")

        let om = await c.metricsExposition(accept: "application/openmetrics-text;version=1.0.0")
        XCTAssertEqual(om.format, .openMetrics)
        XCTAssertTrue(om.text.hasSuffix("# EOF\n"))
        XCTAssertTrue(om.text.contains("# TYPE aegis_placements counter\n"))
        XCTAssertTrue(om.text.contains("\naegis_placements_total 1\n"))
        let stamped =
            om.text.split(separator: "\n").map { $0.hasPrefix("#") ? String($0) : "\($0) 1700000000" }.joined(separator: "\n") + "\n"
        let file = directory + "/exposition.om"
        try stamped.write(toFile: file, atomically: true, encoding: .utf8)
        let blocks = try runTool(promtool, ["tsdb", "create-blocks-from", "openmetrics", file, directory + "/blocks"])
        XCTAssertEqual(blocks.status, 0, blocks.output)
    }

    /// One scrape with 5,000 nodes stays within issue 13's 2 MB in both formats. The size is
    /// deterministic, so a family or a series per node more fails here (time is measured by
    /// Benchmarks/scrape-bench, in release, and only printed here): the nodes are as large as
    /// scrape-bench's (64 cores, 256 GiB, fractional allocations, every tenth with 8 GPUs, every
    /// one reporting, a few cordoned or not Ready), the API series of 15 routes are there, and
    /// every node has exactly its 7 series (9 with GPUs); promtool's lint stays silent on it.
    func testAScrapeOfFiveThousandNodesStaysUnderTwoMegabytes() throws {
        let metrics = ControllerMetrics()
        for route in 0..<15 {
            for status in [200, 404] {
                metrics.recordAPIRequest(route: "/v1/route-\(route)/:id", method: "GET", status: status, seconds: 0.001)
            }
        }
        metrics.setNodes((0..<5_000).map(Self.largeNode))
        let start = ContinuousClock.now
        let text = metrics.render(.prometheusText)
        let rendered = ContinuousClock.now
        let om = metrics.render(.openMetrics)
        print(
            "5,000 nodes: text \(text.body.count) bytes in \(rendered - start), OpenMetrics \(om.body.count) bytes in "
                + "\(ContinuousClock.now - rendered) (debug build)")
        XCTAssertLessThanOrEqual(text.body.count, 2_000_000, "issue 13: a scrape of 5,000 nodes is at most 2 MB")
        XCTAssertLessThanOrEqual(om.body.count, 2_000_000, "issue 13: a scrape of 5,000 nodes is at most 2 MB")
        var perNode: [String: Int] = [:]
        for sample in Exposed.samples(text.text) { if let node = sample.labels["node"] { perNode[node, default: 0] += 1 } }
        XCTAssertEqual(perNode.count, 5_000)
        XCTAssertEqual(perNode.filter { $0.value != ($0.key.hasSuffix("0") ? 9 : 7) }.count, 0, "7 series per node, 9 with GPUs")
        let conditions = Exposed.samples(text.text).filter { $0.name == "aegis_node_condition" }
        XCTAssertEqual(conditions.count, 5_000, "one condition series per node")
        XCTAssertEqual(conditions.filter { $0.labels["condition"] == "Ready" }.count, 4_950)
        guard let promtool = prometheusTool("promtool") else { return }
        let check = try runTool(promtool, ["check", "metrics"], input: text.body)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertEqual(check.output, "", "promtool's lint found problems")
    }

    /// Node `i` of `testAScrapeOfFiveThousandNodesStaysUnderTwoMegabytes`: "node-i", 64 cores and
    /// 256 GiB, 4.25 cores and 4.5 GiB allocated, 8 GPUs (3 assigned) on every tenth, 9 running
    /// sandboxes reported; 1 % cordoned, 1 % NotReady.
    static func largeNode(_ i: Int) -> NodeInfo {
        let gpus = i % 10 == 0 ? (0..<8).map { GPUDevice(vendor: "nvidia", model: "A100", pciAddress: "\(i):\($0):00.0") } : []
        var n = NodeInfo(
            name: "node-\(i)", role: .worker, state: i % 100 == 13 ? .notReady : .ready, cordoned: i % 100 == 29,
            capabilities: NodeCapabilities(cpuMillis: 64_000, memoryBytes: 256 << 30, gpus: gpus),
            allocated: Allocation(cpuMillis: 4_250, memoryBytes: 4_831_838_208, gpus: gpus.prefix(3).map(\.pciAddress), agents: 9))
        n.live = LiveCapacity(runningAgents: 9, memoryAvailableBytes: 200 << 30, loadMillis: 1_250)
        return n
    }
}
