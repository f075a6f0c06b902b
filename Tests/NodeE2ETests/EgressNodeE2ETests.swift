// EgressNodeE2ETests.swift — a real `aegis up --egress` node inside a test namespace whose uplink
// leads to an "outside" namespace (Testbed), real agents with network egress, driven by the CLI.
import Foundation
import XCTest

final class EgressNodeE2ETests: XCTestCase {
    var bed: Testbed!
    var node: NodeHarness!

    override func setUpWithError() throws {
        try Testbed.available()
        bed = try Testbed()
        try bed.server(in: bed.outside, host: "203.0.113.10", port: 8080, reply: "allowed")
        try bed.server(in: bed.outside, host: "203.0.113.10", port: 8081, reply: "other-port")
        try bed.server(in: bed.node, host: "0.0.0.0", port: 9000, reply: "node-service")
        node = try NodeHarness(extraArgs: ["--egress", "--egress-subnet", "10.213.0.0/24", "--reach", "internet"], netns: bed.node)
        try node.start()
    }

    override func tearDown() {
        if let node { _ = try? node.cli(["down", "--data-dir", node.dataDir]) }
        node = nil
        bed = nil
    }

    /// Agent script: prints its own address, then the result of each HOST:PORT in argv.
    static let probe = """
        import socket, sys
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("203.0.113.10", 9))
        print("addr", u.getsockname()[0], flush=True)
        for t in sys.argv[1:]:
            h, p = t.rsplit(":", 1)
            s = socket.socket(); s.settimeout(1.5)
            try:
                s.connect((h, int(p))); r = "ok " + s.recv(64).decode().strip()
            except socket.timeout: r = "timeout"
            except ConnectionRefusedError: r = "refused"
            except OSError as e: r = "refused" if e.errno == 113 else "error %s" % e.errno
            print(t, r, flush=True)
        """

    /// A server agent: prints its address, answers on :7000 for 60 s.
    static let server = """
        import socket
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("203.0.113.10", 9))
        print("addr", u.getsockname()[0], flush=True)
        s = socket.socket(); s.bind(("0.0.0.0", 7000)); s.listen(4); s.settimeout(60)
        while True:
            c, _ = s.accept(); c.sendall(b"sandbox-b\\n"); c.close()
        """

    func results(_ out: String) -> [String: String] {
        var r: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 1)
            if f.count == 2 { r[String(f[0])] = String(f[1]) }
        }
        return r
    }

    /// Workload id → state, from `aegis ps --all -o json`.
    func states() throws -> [String: String] {
        let out = try node.cli(["ps", "--all", "-o", "json"]).stdout
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8))
        let items = (obj as? [String: Any])?["items"] as? [[String: Any]] ?? (obj as? [[String: Any]]) ?? []
        var r: [String: String] = [:]
        for i in items { if let id = i["id"] as? String { r[id] = i["state"] as? String } }
        return r
    }

    /// Polls until every id is in a final state (or `seconds` pass); returns their states.
    func waitFinal(_ ids: [String], seconds: Double = 120) throws -> [String: String] {
        let final: Set<String> = ["succeeded", "failed", "cancelled", "lost"]
        let deadline = Date().addingTimeInterval(seconds)
        var s = try states()
        while Date() < deadline && !ids.allSatisfy({ final.contains(s[$0] ?? "") }) {
            usleep(200_000)
            s = try states()
        }
        return s
    }

    /// Polls `leftovers()` until it is empty (or `seconds` pass).
    func waitNoLeftovers(seconds: Double = 15) throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var left = try leftovers()
        while !left.isEmpty && Date() < deadline {
            usleep(100_000)
            left = try leftovers()
        }
        return left
    }

    func leftovers() throws -> [String] {
        var found: [String] = []
        let links = try sh(["ip", "-n", bed.node, "-o", "link"])
        found += links.split(separator: "\n").filter { $0.contains("aegv") }.map { "link: \($0)" }
        let rules = try sh(["ip", "netns", "exec", bed.node, "nft", "list", "table", "inet", "aegis"])
        found += rules.split(separator: "\n").filter { $0.contains("aegv") || $0.contains("jump") }.map { "nft: \($0)" }
        let records = (try? FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/network")) ?? []
        found += records.map { "record: \($0)" }
        return found
    }

    func testEgressAgentReachesOnlyWhatPolicyAllows() throws {
        let b = try node.cli(["run", "-d", "--network", "egress", "--name", "peer", "--", "python3", "-c", Self.server])
        XCTAssertEqual(b.status, 0, b.stderr)
        let bid = b.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard b.status == 0, !bid.isEmpty else { return }
        var bAddr = ""
        let deadline = Date().addingTimeInterval(20)
        while bAddr.isEmpty && Date() < deadline {
            bAddr = results(try node.cli(["logs", bid], timeout: 10).stdout)["addr"] ?? ""
            if bAddr.isEmpty { usleep(100_000) }
        }
        XCTAssertTrue(bAddr.hasPrefix("10.213.0."), "peer address \(bAddr)")

        let a = try node.cli([
            "run", "--network", "egress", "--allow", "203.0.113.10:8080/tcp", "--", "python3", "-c", Self.probe,
            "203.0.113.10:8080", "203.0.113.10:8081", "169.254.169.254:80", "198.51.100.2:9000",
            "10.213.0.1:9000", "127.0.0.1:9000", "\(bAddr):7000",
            "127.0.0.1:\(node.port)", "10.213.0.1:\(node.port)", "198.51.100.2:\(node.port)",
        ])
        XCTAssertEqual(a.status, 0, a.stderr)
        let r = results(a.stdout)
        XCTAssertEqual(r["203.0.113.10:8080"], "ok allowed", a.stdout)
        XCTAssertEqual(r["203.0.113.10:8081"], "refused", "port not on the allowlist")
        XCTAssertEqual(r["169.254.169.254:80"], "refused", "metadata address")
        XCTAssertEqual(r["198.51.100.2:9000"], "refused", "the node's own uplink address")
        XCTAssertEqual(r["10.213.0.1:9000"], "refused", "the node's bridge address")
        XCTAssertEqual(r["127.0.0.1:9000"], "refused", "loopback is the sandbox's own, not the node's")
        XCTAssertNotEqual(r["\(bAddr):7000"]?.prefix(2), "ok", "another agent's sandbox")
        for target in ["127.0.0.1", "10.213.0.1", "198.51.100.2"] {
            XCTAssertEqual(
                r["\(target):\(node.port)"], "refused", "the node's API port (127.0.0.1:\(node.port) in its namespace) via \(target)")
        }
        XCTAssertNotNil(r["\(bAddr):7000"], a.stdout)
        // The resolver the agent sees: the host's upstream nameservers, never a loopback stub.
        let dns = try node.cli(["run", "--network", "egress", "--", "cat", "/etc/resolv.conf"])
        XCTAssertFalse(dns.stdout.contains("127.0.0."), dns.stdout)

        XCTAssertEqual(try node.cli(["kill", bid]).status, 0)
        XCTAssertEqual(try waitFinal([bid], seconds: 30)[bid], "cancelled")
        XCTAssertEqual(try waitNoLeftovers(), [], "after the agents end nothing of theirs remains")
    }

    func testReachLabelsRouteAndNameWhatIsMissing() throws {
        let ok = try node.cli(["run", "--network", "egress", "--reach", "internet", "--", "true"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let r = try node.cli(["run", "-d", "--network", "egress", "--reach", "corp-vpn", "--", "true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let out = try node.cli(["describe", id]).stdout
        XCTAssertTrue(out.contains("pending"), out)
        XCTAssertTrue(out.contains("needs reach=corp-vpn") && out.contains("e2e-node has reach internet"), out)
    }

    func testFiftyAgentsLeaveNothingAndRestartReconciles() throws {
        var ids: [String] = []
        for i in 0..<50 {
            let r = try node.cli(["run", "-d", "--network", "egress", "--name", "burst-\(i)", "--", "true"])
            XCTAssertEqual(r.status, 0, r.stderr)
            ids.append(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let final = try waitFinal(ids)
        XCTAssertEqual(ids.filter { final[$0] != "succeeded" }.map { "\($0): \(final[$0] ?? "?")" }, [])
        XCTAssertEqual(try waitNoLeftovers(), [])

        // A crash (SIGKILL) with an egress agent running; its sandbox dies while the node is down;
        // a stray port is left on the bridge. The restarted node removes all of it.
        let long = try node.cli(["run", "-d", "--network", "egress", "--", "sleep", "300"])
        XCTAssertEqual(long.status, 0, long.stderr)
        let lid = long.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = Date().addingTimeInterval(20)
        while try states()[lid] != "running" && Date() < deadline { usleep(100_000) }
        XCTAssertFalse(try leftovers().isEmpty, "the running agent has its veth and chain")
        kill(node.process!.processIdentifier, SIGKILL)
        node.process!.waitUntilExit()
        let parent = "/sys/fs/cgroup/unified/" + node.cgroupParent
        for leaf in try FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/sandboxes") where leaf.hasPrefix(lid) {
            try "1".write(toFile: parent + "/\(leaf)/cgroup.kill", atomically: false, encoding: .utf8)
        }
        try sh(["ip", "-n", bed.node, "link", "add", "aegvdeadbeef", "type", "veth", "peer", "name", "strayp"])
        try sh(["ip", "-n", bed.node, "link", "set", "aegvdeadbeef", "master", "aegis0"])
        try node.start()
        let end = try waitFinal([lid], seconds: 30)[lid] ?? "?"
        XCTAssertTrue(["lost", "failed"].contains(end), "killed while the node was down: \(end)")
        XCTAssertEqual(try waitNoLeftovers(seconds: 5), [], "restart reconciled: no veth, chain or record of the dead sandbox")
    }
}
