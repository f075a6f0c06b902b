// End-to-end: a real hybrid node (`aegis up`) driven through the CLI and over HTTP.
import AegisProtocol
import Foundation
import XCTest

final class NodeE2ETests: SingleNodeTestCase {

    func testRunStreamsOutputAndExitsWithTheAgentsCode() throws {
        let ok = try node.cli(["run", "--", "/bin/sh", "-c", "echo out-line; echo err-line >&2"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "out-line\n")
        XCTAssertTrue(ok.stderr.contains("err-line"), ok.stderr)
        let failing = try node.cli(["run", "--", "/bin/sh", "-c", "exit 7"])
        XCTAssertEqual(failing.status, 7, failing.stderr)
    }

    /// Workload detail over HTTP (state and pending reason).
    func detail(_ id: String) throws -> Workload {
        try JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body).workload
    }

    func testEgressAgentStaysPendingOnANodeWithoutEgressAndSaysWhy() throws {
        let r = try node.cli(["run", "-d", "--network", "egress", "--", "true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let w = try detail(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(w.state, .pending)
        XCTAssertTrue(w.reason?.contains("needs network egress") == true, w.reason ?? "no reason")
        XCTAssertTrue(w.reason?.contains("e2e-node") == true && w.reason?.contains("aegis up --egress") == true, w.reason ?? "")
    }

    func testDefaultAgentHasNoWayOut() throws {
        let script = """
            import os, socket
            print("ifaces", sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
            print("routes", len(open("/proc/net/route").readlines()) - 1)
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", \(node.port))); print("api reachable")
            except OSError as e:
                print("api refused", e.errno)
            print("procs", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
            print("uid", os.getuid())
            """
        try script.write(toFile: node.dataDir + "/probe.py", atomically: true, encoding: .utf8)
        let r = try node.cli(["run", "--runtime", "python3", "--", "probe.py"], cwd: node.dataDir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ifaces ['lo']"), r.stdout)
        XCTAssertTrue(r.stdout.contains("routes 0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("api refused 111"), "the node's API port must be unreachable: \(r.stdout)")
        // Only the agent's own processes: the sandbox's init (1) and python.
        XCTAssertTrue(r.stdout.contains("procs [1, 2]"), r.stdout)
        XCTAssertFalse(r.stdout.contains("uid 0"), "agents must not run as root: \(r.stdout)")
    }

    func testTenantsSeeAndControlOnlyTheirOwnWorkloads() throws {
        let a = try node.cli(["tenant", "create", "alpha"])
        let b = try node.cli(["tenant", "create", "beta"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        let tokenA = a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let tokenB = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(tokenA.count, 64)
        let sub = try node.cli(
            ["run", "--detach", "--", "sleep", "30"], env: ["AEGIS_TOKEN": tokenA, "AEGIS_SERVER": "http://127.0.0.1:\(node.port)"])
        XCTAssertEqual(sub.status, 0, sub.stderr)
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(id.hasPrefix("a-"), sub.stdout)

        XCTAssertEqual(try node.http("GET", "/v1/workloads/\(id)", token: tokenA).status, 200)
        XCTAssertEqual(try node.http("GET", "/v1/workloads/\(id)", token: tokenB).status, 404, "another tenant's workload is 404, not 403")
        XCTAssertEqual(try node.http("POST", "/v1/workloads/\(id)/cancel", token: tokenB).status, 404)
        XCTAssertEqual(try node.http("GET", "/v1/workloads/\(id)/logs", token: tokenB).status, 404)
        let listB = try JSONDecoder().decode(WorkloadList.self, from: node.http("GET", "/v1/workloads", token: tokenB).body)
        XCTAssertTrue(listB.items.isEmpty)
        XCTAssertEqual(try node.http("GET", "/v1/workloads", token: nil).status, 401)
        XCTAssertEqual(try node.http("GET", "/v1/workloads", token: "not-a-token").status, 401)
        XCTAssertEqual(try node.http("GET", "/v1/nodes", token: tokenA).status, 403, "nodes are admin-only")
        XCTAssertEqual(try node.http("GET", "/v1/workloads/\(id)", token: tokenA, headers: ["X-Aegis-Tenant": "beta"]).status, 403)
        // The admin acts for a tenant with X-Aegis-Tenant.
        XCTAssertEqual(
            try node.http("GET", "/v1/workloads/\(id)", token: node.adminToken(), headers: ["X-Aegis-Tenant": "alpha"]).status, 200)
        XCTAssertEqual(
            try node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).status, 404, "admin defaults to tenant default")

        let kill = try node.cli(["kill", id], env: ["AEGIS_TOKEN": tokenA, "AEGIS_SERVER": "http://127.0.0.1:\(node.port)"])
        XCTAssertEqual(kill.status, 0, kill.stderr)
        let w = try waitFinal(id, token: tokenA)
        XCTAssertEqual(w.state, .cancelled)
    }

    func testManifestRunKeepsOutputsForDownload() throws {
        let example = NodeHarness.repoRoot + "/examples/hello-agent"
        let sub = try node.cli(["run", "--detach", "-f", "agent.yaml"], cwd: example)
        // This host has no memory/cpu/pids controller: the example's limits keep it pending with a reason.
        XCTAssertEqual(sub.status, 0, sub.stderr)
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pending = try JSONDecoder().decode(
            WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
        if pending.workload.state == .pending {
            XCTAssertTrue(pending.workload.reason?.contains("controller") == true, pending.workload.reason ?? "")
            _ = try node.cli(["kill", id])
            // Restart with --allow-unenforced-limits: the agent runs and shows its limits as not enforced.
            node.stop()
            node.extraArgs = ["--allow-unenforced-limits"]
            try node.start()
            let again = try node.cli(["run", "-f", "agent.yaml"], cwd: example)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.contains("wrote output/report.json"), again.stdout)
            let list = try JSONDecoder().decode(WorkloadList.self, from: node.http("GET", "/v1/workloads", token: node.adminToken()).body)
            let ran = try XCTUnwrap(list.items.last(where: { $0.state == .succeeded }))
            XCTAssertEqual(Set(ran.unenforcedLimits), ["memory", "cpu", "pids"])
            let dest = node.dataDir + "/report.json"
            let cp = try node.cli(["cp", "\(ran.id):report.json", dest])
            XCTAssertEqual(cp.status, 0, cp.stderr)
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dest))) as? [String: Any]
            XCTAssertGreaterThan(report?["words"] as? Int ?? 0, 100)
        } else {
            XCTAssertEqual(try waitFinal(id, token: node.adminToken()).state, .succeeded)
        }
    }

    func testInvalidManifestNamesFieldAndLine() throws {
        let dir = node.dataDir + "/bad"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "name: bad\nruntime: command\ncommand: [\"true\"]\nresources:\n  memory: 12x\n".write(
            toFile: dir + "/agent.yaml", atomically: true, encoding: .utf8)
        let r = try node.cli(["run", "-f", "agent.yaml"], cwd: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("resources.memory") && r.stderr.contains(":5:"), r.stderr)
    }

    func testQuotaKeepsAgentPendingWithReason() throws {
        let t = try node.cli(["tenant", "create", "gamma", "--max-agents", "1"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let env = [
            "AEGIS_TOKEN": t.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "AEGIS_SERVER": "http://127.0.0.1:\(node.port)",
        ]
        let first = try node.cli(["run", "--detach", "--", "sleep", "30"], env: env)
        let second = try node.cli(["run", "--detach", "--", "sleep", "30"], env: env)
        let id2 = second.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let w = try JSONDecoder().decode(
            WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id2)", token: env["AEGIS_TOKEN"]).body
        ).workload
        XCTAssertEqual(w.state, .pending)
        XCTAssertTrue(w.reason?.contains("running agents 1/1") == true, w.reason ?? "")
        // When the first ends, the second is scheduled.
        _ = try node.cli(["kill", first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)], env: env)
        let deadline = Date().addingTimeInterval(20)
        var state = WorkloadState.pending
        while Date() < deadline && state == .pending {
            usleep(100_000)
            state = try JSONDecoder().decode(
                WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id2)", token: env["AEGIS_TOKEN"]).body
            ).workload.state
        }
        XCTAssertNotEqual(state, .pending)
        _ = try node.cli(["kill", id2], env: env)
    }

    func testRestartReadoptsRunningAgentAndKeepsState() throws {
        let sub = try node.cli(["run", "--detach", "--", "/bin/sh", "-c", "sleep 2; echo survived"])
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline,
            (try? JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
                .workload.state) != .running
        {
            usleep(50_000)
        }
        node.stop()  // SIGTERM: the agent keeps running
        try node.start()
        let w = try waitFinal(id, token: node.adminToken())
        XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
        let logs = try node.cli(["logs", id])
        XCTAssertEqual(logs.stdout, "survived\n")
        // Re-adopted, not run again: still its first placement, no restart.
        XCTAssertEqual(w.generation, 1)
        XCTAssertEqual(w.restarts, 0)
    }

    func testSandboxThatVanishedWhileDownIsReportedLost() throws {
        let sub = try node.cli(["run", "--detach", "--", "sleep", "60"])
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline,
            (try? JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
                .workload.state) != .running
        {
            usleep(50_000)
        }
        node.stop()
        // While the node is down the sandbox disappears without an outcome: processes killed, state gone.
        let sandboxes = node.dataDir + "/sandboxes"
        for d in try FileManager.default.contentsOfDirectory(atPath: sandboxes) where d.hasPrefix(id) {
            let leaf = "/sys/fs/cgroup/unified/\(node.cgroupParent)/\(d)"
            try "1".write(toFile: leaf + "/cgroup.kill", atomically: false, encoding: .utf8)
            for _ in 0..<100 where rmdir(leaf) != 0 { usleep(20_000) }
            usleep(200_000)
            try FileManager.default.removeItem(atPath: sandboxes + "/" + d)
        }
        try node.start()
        let w = try waitFinal(id, token: node.adminToken())
        XCTAssertEqual(w.state, .lost, "a vanished sandbox is lost, never succeeded: \(w.state) \(w.reason ?? "")")
    }

    func testDownStopsAgentsAndRecordsTheirState() throws {
        let sub = try node.cli(["run", "--detach", "--", "sleep", "60"])
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        usleep(500_000)
        let down = try node.cli(["down", "--data-dir", node.dataDir])
        XCTAssertEqual(down.status, 0, down.stderr)
        node.process?.waitUntilExit()
        try node.start()
        let w = try JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
            .workload
        XCTAssertEqual(w.state, .cancelled, "drained agents are stopped and recorded: \(w.state) \(w.reason ?? "")")
    }

    func waitFinal(_ id: String, token: String, timeout: TimeInterval = 30) throws -> Workload {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let w = try JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: token).body).workload
            if w.state.isFinal || Date() > deadline { return w }
            usleep(100_000)
        }
    }
}

extension NodeHarness {
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}
