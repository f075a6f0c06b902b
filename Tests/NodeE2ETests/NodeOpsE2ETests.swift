// End-to-end node operations on a real hybrid node (`aegis up`): cordon, uncordon and drain,
// through the CLI and over HTTP.
import AegisProtocol
import Foundation
import XCTest

final class NodeOpsE2ETests: SingleNodeTestCase {

    func detail(_ id: String) throws -> WorkloadDetail {
        let r = try node.http("GET", "/v1/workloads/\(id)", token: node.adminToken())
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        return try JSONDecoder().decode(WorkloadDetail.self, from: r.body)
    }

    /// Polls the workload until `until` holds (or fails after `seconds`); returns the last state.
    @discardableResult
    func wait(
        _ id: String, seconds: Double = 30, file: StaticString = #filePath, line: UInt = #line,
        until: (Workload) -> Bool
    ) throws -> Workload {
        let deadline = Date().addingTimeInterval(seconds)
        var w = try detail(id).workload
        while !until(w) && Date() < deadline {
            usleep(100_000)
            w = try detail(id).workload
        }
        XCTAssertTrue(
            until(w), "workload \(id) stayed \(w.state.rawValue) (\(w.reason ?? "no reason"))\n\(node.nodeLog())",
            file: file, line: line)
        return w
    }

    func submit(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try node.cli(["run", "-d"] + args)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func nodeInfo() throws -> NodeInfo {
        let r = try node.cli(["node", "describe", "e2e-node", "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONDecoder().decode(NodeInfo.self, from: Data(r.stdout.utf8))
    }

    func testCordonKeepsNewAgentsPendingAcrossARestartUntilUncordon() throws {
        let c = try node.cli(["node", "cordon", "e2e-node"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.contains("cordoned"), c.stdout)
        let ls = try node.cli(["node", "ls"])
        XCTAssertTrue(ls.stdout.contains("Ready,Cordoned"), ls.stdout)
        XCTAssertTrue(try nodeInfo().cordoned)

        let id = try submit(["--", "true"])
        let w = try wait(id) { $0.reason?.contains("cordoned") == true }
        XCTAssertEqual(w.state, .pending)
        XCTAssertTrue(w.reason?.contains("e2e-node") == true, w.reason ?? "no reason")
        usleep(500_000)
        XCTAssertEqual(try detail(id).workload.state, .pending, "a cordoned node must not take the agent")

        // The cordon is stored: it survives a restart of the node (controller and worker).
        node.stop()
        try node.start()
        XCTAssertTrue(try nodeInfo().cordoned, "cordon lost across a restart")
        usleep(500_000)
        XCTAssertEqual(try detail(id).workload.state, .pending)

        let u = try node.cli(["node", "uncordon", "e2e-node"])
        XCTAssertEqual(u.status, 0, u.stderr)
        XCTAssertFalse(try nodeInfo().cordoned)
        XCTAssertFalse(try node.cli(["node", "ls"]).stdout.contains("Cordoned"))
        let done = try wait(id) { $0.state.isFinal }
        XCTAssertEqual(done.state, .succeeded, done.reason ?? "")
        XCTAssertEqual(done.generation, 1)
    }

    func testDrainRequeuesRestartableAgentsAndCancelsTheOthers() throws {
        let always = try submit(["--name", "keeper", "--restart", "always", "--", "sleep", "300"])
        let never = try submit(["--name", "oneshot", "--restart", "never", "--", "sleep", "300"])
        for id in [always, never] { try wait(id) { $0.state == .running } }
        XCTAssertEqual(try detail(always).workload.generation, 1)

        let d = try node.cli(["node", "drain", "e2e-node", "--timeout", "2m"], timeout: 150)
        XCTAssertEqual(d.status, 0, "stdout: \(d.stdout)\nstderr: \(d.stderr)")
        XCTAssertTrue(d.stdout.contains("2 agents drained (1 requeued, 1 cancelled)"), d.stdout)
        XCTAssertTrue(d.stdout.contains(always) && d.stdout.contains(never), d.stdout)
        XCTAssertTrue(d.stderr.contains("draining node e2e-node"), d.stderr)
        XCTAssertTrue(try nodeInfo().cordoned, "drain cordons the node")

        // The drain returned only when nothing of the node was active any more.
        let requeued = try detail(always)
        XCTAssertEqual(requeued.workload.state, .pending)
        XCTAssertEqual(requeued.workload.generation, 1, "not placed again while cordoned")
        XCTAssertTrue(requeued.workload.reason?.contains("e2e-node is cordoned") == true, requeued.workload.reason ?? "no reason")
        XCTAssertTrue(
            requeued.events.contains { $0.type == .drained && $0.message.contains("drained from node e2e-node") },
            "\(requeued.events)")
        XCTAssertEqual(requeued.workload.restarts, 0, "a drain is not a restart after a failure")
        let cancelled = try detail(never)
        XCTAssertEqual(cancelled.workload.state, .cancelled)
        XCTAssertEqual(cancelled.workload.reason, "drained from node e2e-node")
        XCTAssertTrue(cancelled.events.contains { $0.type == .draining }, "\(cancelled.events)")

        let ps = try node.cli(["ps", "--all", "-o", "json"])
        XCTAssertEqual(ps.status, 0, ps.stderr)
        let items = try JSONDecoder().decode(WorkloadList.self, from: Data(ps.stdout.utf8)).items
        XCTAssertEqual(Set(items.map(\.id)), [always, never])
        XCTAssertFalse(items.contains { $0.state == .running || $0.state == .scheduled }, ps.stdout)
        // No sandbox process left: every leaf under the node's cgroup parent is gone or empty.
        let parent = "/sys/fs/cgroup/unified/" + node.cgroupParent
        XCTAssertTrue(FileManager.default.fileExists(atPath: parent), "the node's cgroup parent \(parent) must exist to be checked")
        for leaf in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where !leaf.hasPrefix("cgroup.") {
            let procs = (try? String(contentsOfFile: "\(parent)/\(leaf)/cgroup.procs", encoding: .utf8)) ?? ""
            XCTAssertEqual(procs.trimmingCharacters(in: .whitespacesAndNewlines), "", "sandbox \(leaf) still has processes")
        }
        XCTAssertEqual(try nodeInfo().allocated.agents, 0)

        // Uncordon: the restartable agent is placed again, as a new generation.
        XCTAssertEqual(try node.cli(["node", "uncordon", "e2e-node"]).status, 0)
        let back = try wait(always) { $0.state == .running }
        XCTAssertEqual(back.generation, 2)
        XCTAssertEqual(try detail(never).workload.state, .cancelled, "a cancelled agent stays cancelled")
        XCTAssertEqual(try node.cli(["kill", always]).status, 0)
        try wait(always) { $0.state.isFinal }
    }

    func testNodeOperationsAreAdminOnlyAndCheckTheNode() throws {
        let t = try node.cli(["tenant", "create", "ops-tenant"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let tenantToken = t.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for verb in ["cordon", "uncordon", "drain"] {
            let r = try node.http("POST", "/v1/nodes/e2e-node/\(verb)", token: tenantToken)
            XCTAssertEqual(r.status, 403, "\(verb): \(String(decoding: r.body, as: UTF8.self))")
            XCTAssertEqual(try node.http("POST", "/v1/nodes/e2e-node/\(verb)", token: nil).status, 401, verb)
            let missing = try node.http("POST", "/v1/nodes/no-such-node/\(verb)", token: node.adminToken())
            XCTAssertEqual(missing.status, 404, verb)
            XCTAssertTrue(String(decoding: missing.body, as: UTF8.self).contains("no-such-node"), verb)
        }
        XCTAssertFalse(try nodeInfo().cordoned, "a refused request must not cordon")
        let bad = try node.http("POST", "/v1/nodes/e2e-node/drain", token: node.adminToken(), body: Data(#"{"timeoutSeconds": 0}"#.utf8))
        XCTAssertEqual(bad.status, 400, String(decoding: bad.body, as: UTF8.self))
        XCTAssertFalse(try nodeInfo().cordoned, "a refused drain must not cordon")

        let cli = try node.cli(
            ["node", "cordon", "e2e-node"], env: ["AEGIS_TOKEN": tenantToken, "AEGIS_SERVER": "http://127.0.0.1:\(node.port)"])
        XCTAssertEqual(cli.status, 1)
        XCTAssertTrue(cli.stderr.contains("admin-only"), cli.stderr)

        // An empty node drains at once; the admin's drain over HTTP answers with the (cordoned) node.
        let ok = try node.http("POST", "/v1/nodes/e2e-node/drain", token: node.adminToken(), body: Data(#"{"timeoutSeconds": 5}"#.utf8))
        XCTAssertEqual(ok.status, 200, String(decoding: ok.body, as: UTF8.self))
        let drained = try JSONDecoder().decode(DrainResponse.self, from: ok.body)
        XCTAssertTrue(drained.complete)
        XCTAssertTrue(drained.node.cordoned)
        XCTAssertEqual(drained.items, [])
    }
}
