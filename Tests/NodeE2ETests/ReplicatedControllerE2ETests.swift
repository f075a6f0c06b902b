// Replicated controllers on one PostgreSQL: real `aegis up --role controller --datastore
// postgres://…` processes, a real PostgreSQL (Debian's postgresql, started here with its own data
// directory), a real worker with a real agent, all inside one network namespace the test creates
// (loopback only). Failures are real: kill -9 of the leader, SIGSTOP of the leader, SIGSTOP of
// every PostgreSQL process. Leader terms are shortened (lease 3 s, renewals every 1 s) and the
// worker's grace (12 s) outlasts a failover (lease + renewal + reconnect), as the README's rule says.
import AegisProtocol
import Foundation
import XCTest

final class ReplicatedControllerE2ETests: XCTestCase {
    var bed: ClusterTestbed!
    var database: LocalPostgres!
    var controllers: [NodeHarness] = []
    var worker: WorkerProcess?

    static let ports = [17443, 17444, 17445]
    static let terms = ["--leader-lease", "3s", "--leader-renew", "1s"]
    static let fastLeases = ["--lease-renew-every", "500ms", "--not-ready-after", "3s", "--down-after", "6s", "--reschedule-margin", "2s"]

    override func setUpWithError() throws {
        bed = try ClusterTestbed(["lab"])
        database = try LocalPostgres(netns: bed.ns("lab"))
        try database.start()
    }

    override func tearDown() {
        database?.resume()
        worker = nil
        for c in controllers {
            c.process.map { kill($0.processIdentifier, SIGCONT) }
            c.stop()
        }
        controllers = []
        database = nil
        bed = nil
    }

    var joinList: String { Self.ports.prefix(controllers.count).map { "https://127.0.0.1:\($0)" }.joined(separator: ",") }

    /// Starts controller `i` (its PKI copied from the first, as the README tells operators) and
    /// waits until it answers: the leader with its API, a standby with a 503 /readyz.
    @discardableResult
    func startController(_ i: Int, standby: Bool) throws -> NodeHarness {
        let c = try NodeHarness(
            extraArgs: [
                "--role", "controller", "--name", "c\(i + 1)", "--listen", "127.0.0.1:\(Self.ports[i])",
                "--datastore", database.url,
            ] + Self.terms + Self.fastLeases, netns: bed.ns("lab"))
        if i > 0 {
            try FileManager.default.createDirectory(atPath: c.dataDir + "/pki", withIntermediateDirectories: true)
            for f in ["ca.crt", "ca.key"] {
                try FileManager.default.copyItem(atPath: controllers[0].dataDir + "/pki/" + f, toPath: c.dataDir + "/pki/" + f)
            }
        }
        c.isUp = { standby ? $0.readyz().hasPrefix("503 standby") : $0.readyz().hasPrefix("200") }
        try c.start()
        controllers.append(c)
        return c
    }

    /// The controllers whose /readyz says they lead.
    func leaders() -> [Int] {
        controllers.indices.filter { controllers[$0].process?.isRunning == true && controllers[$0].readyz().hasPrefix("200") }
    }

    func waitFor(_ what: String, timeout: TimeInterval, _ check: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? check()) == true { return }
            usleep(100_000)
        }
        let logs = controllers.enumerated().map { "c\($0.offset + 1) log:\n\($0.element.nodeLog().suffix(2500))" }
        XCTFail(
            "timed out after \(timeout) s waiting for \(what)\n" + logs.joined(separator: "\n")
                + "\nworker log:\n\(worker?.log().suffix(2000) ?? "")")
        throw XCTSkip("gave up waiting for \(what)")
    }

    func workload(_ id: String, via c: NodeHarness) throws -> Workload {
        let r = try c.cli(["describe", id, "-o", "json"])
        guard r.status == 0 else { throw NSError(domain: "describe", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return try JSONDecoder().decode(WorkloadDetail.self, from: Data(r.stdout.utf8)).workload
    }

    func nodeState(_ name: String, via c: NodeHarness) throws -> String? {
        let r = try c.cli(["node", "ls", "-o", "json"])
        guard r.status == 0 else { return nil }
        struct List: Decodable { var items: [NodeInfo] }
        return try JSONDecoder().decode(List.self, from: Data(r.stdout.utf8)).items.first { $0.name == name }?.state.rawValue
    }

    /// `count` controllers (the first leads), a worker joined through the list of all, an agent running.
    func startClusterWithAnAgent(controllers count: Int = 2) throws -> (id: String, agentPid: String) {
        let c1 = try startController(0, standby: false)
        for i in 1..<count { try startController(i, standby: true) }
        let token = try c1.cli(["token", "create", "--role", "worker"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let w = try WorkerProcess(name: "w1", netns: bed.ns("lab"))
        try w.start(join: joinList, token: token, extra: ["--lease-grace", "12s", "--lease-renew-every", "500ms"])
        worker = w
        try waitFor("w1 Ready", timeout: 60) { try self.nodeState("w1", via: c1) == "Ready" }
        let r = try c1.cli(["run", "--detach", "--", "sh", "-c", "echo $$ > /tmp/pid; exec sleep 600"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try waitFor("the agent running", timeout: 30) { try self.workload(id, via: c1).state == .running }
        return (id, w.sandboxes().joined(separator: ","))
    }

    func testKillingTheLeaderHandsOverWithinTheBoundAndTheAgentKeepsRunning() throws {
        let (id, sandboxes) = try startClusterWithAnAgent(controllers: 3)
        let before = try workload(id, via: controllers[0])
        XCTAssertEqual(leaders(), [0])

        // A submission whose answer the client never saw: it retries after the failover with its key.
        let keyed = ["run", "--detach", "--idempotency-key", "retry-1", "--", "sleep", "300"]
        let firstTry = try controllers[0].cli(keyed)
        XCTAssertEqual(firstTry.status, 0, firstTry.stderr)

        let killedAt = Date()
        kill(controllers[0].process!.processIdentifier, SIGKILL)
        controllers[0].process!.waitUntilExit()
        try waitFor("a standby leads", timeout: 20) { self.leaders().count == 1 }
        let handover = Date().timeIntervalSince(killedAt)
        XCTAssertLessThanOrEqual(handover, 3 + 1 + 2, "lease + one retry + start")
        let newLeader = leaders()[0]
        let c2 = controllers[newLeader]
        try waitFor("w1 Ready under c2", timeout: 30) { try self.nodeState("w1", via: c2) == "Ready" }

        // Nothing was rescheduled: the same placement, never restarted, the same sandbox on w1.
        let after = try workload(id, via: c2)
        XCTAssertEqual(after.state, .running)
        XCTAssertEqual(after.node, "w1")
        XCTAssertEqual(after.generation, before.generation)
        XCTAssertEqual(after.restarts, 0)
        XCTAssertTrue(worker!.sandboxes().contains(sandboxes), "\(worker!.sandboxes()) keeps \(sandboxes)")

        let retry = try c2.cli(keyed)
        XCTAssertEqual(retry.status, 0, retry.stderr)
        XCTAssertEqual(retry.stdout, firstTry.stdout, "the retry across the failover names the first workload")
        let listed = try JSONDecoder().decode(WorkloadList.self, from: Data(try c2.cli(["ps", "-a", "-o", "json"]).stdout.utf8))
        XCTAssertEqual(listed.items.filter { $0.spec.args.contains("300") }.count, 1, "one workload, not two")

        // The old leader, restarted, is a standby.
        let old = controllers[0]
        old.isUp = { $0.readyz().hasPrefix("503 standby") }
        try old.start()
        XCTAssertTrue(old.readyz().contains("c\(newLeader + 1)/"), old.readyz())
        XCTAssertEqual(leaders(), [newLeader], "one leader among three")
    }

    func testAPausedLeaderIsFencedStepsDownAndNeverActsBesideTheNewOne() throws {
        let (id, _) = try startClusterWithAnAgent()
        let c1 = controllers[0], c2 = controllers[1]
        // Every 50 ms for the rest of the test: how many copies of each agent run on the machine.
        let firstCopies = CopySampler(argv: ["sleep", "600"]), secondCopies = CopySampler(argv: ["sleep", "601"])
        let pid = c1.process!.processIdentifier
        kill(pid, SIGSTOP)
        try waitFor("c2 leads while c1 is paused", timeout: 20) { c2.readyz().hasPrefix("200") }
        try waitFor("w1 Ready under c2", timeout: 30) { try self.nodeState("w1", via: c2) == "Ready" }
        // Work only the new leader dispatches, while the old one is paused with its term still open.
        let started = try c2.cli(["run", "--detach", "--", "sleep", "601"])
        XCTAssertEqual(started.status, 0, started.stderr)
        let second = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try waitFor("the second agent running", timeout: 30) { try self.workload(second, via: c2).state == .running }
        kill(pid, SIGCONT)
        try waitFor("c1 stepped down", timeout: 10) { c1.readyz().hasPrefix("503 standby") }
        XCTAssertTrue(
            c1.nodeLog().contains("stepped down") || c1.nodeLog().contains("lost the leader lease"), c1.nodeLog().suffix(3000).description)
        XCTAssertEqual(leaders(), [1])
        let w = try workload(id, via: c2)
        XCTAssertEqual(w.state, .running)
        XCTAssertEqual(w.restarts, 0)
        XCTAssertEqual(try nodeState("w1", via: c2), "Ready")
        // No workload was dispatched twice: one sandbox per workload on the worker, generation 1.
        Thread.sleep(forTimeInterval: 2)
        let onWorker = worker!.sandboxes()
        XCTAssertEqual(onWorker.sorted(), [id + ".g1", second + ".g1"].sorted(), "\(onWorker)")
        let (first, secondSeen) = (firstCopies.finish(), secondCopies.finish())
        XCTAssertEqual(first.max, 1, "the first agent never ran twice (\(first.samples) samples)")
        XCTAssertEqual(secondSeen.max, 1, "the agent dispatched by the new leader never ran twice (\(secondSeen.samples) samples)")
        XCTAssertGreaterThan(first.samples, 50)
    }

    func testAPausedDatabaseMakesTheLeaderStepDownWithoutACrashAndOneLeadsAgain() throws {
        let (id, _) = try startClusterWithAnAgent()
        database.pause()
        Thread.sleep(forTimeInterval: 5)  // longer than the 3 s lease
        try waitFor("no controller claims to lead", timeout: 10) { self.leaders().isEmpty }
        // The old leader's term ends (its calls to the paused database time out) and it stands by, saying why.
        try waitFor("c1 says why it stands by", timeout: 20) { self.controllers[0].readyz().contains("unreachable") }
        database.resume()
        try waitFor("one leader again", timeout: 20) { self.leaders().count == 1 }
        XCTAssertTrue(controllers.allSatisfy { $0.process?.isRunning == true }, "no controller exited")
        let leader = controllers[leaders()[0]]
        try waitFor("w1 Ready", timeout: 30) { try self.nodeState("w1", via: leader) == "Ready" }
        let w = try workload(id, via: leader)
        XCTAssertEqual(w.state, .running, "not rescheduled")
        XCTAssertEqual(w.restarts, 0)
    }
}

extension ReplicatedControllerE2ETests {
    func testASingleNodesSQLiteStateMigratedToPostgreSQLServesTheSameCluster() throws {
        // A hybrid node on SQLite runs an agent to its end, then stops.
        let node = try NodeHarness(netns: bed.ns("lab"))
        try node.start()
        let run = try node.cli(["run", "--detach", "--idempotency-key", "before", "--", "sh", "-c", "echo migrated"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try waitFor("the agent succeeded", timeout: 30) { try self.workload(id, via: node).state == .succeeded }
        let before = try node.cli(["describe", id, "-o", "json"]).stdout
        node.stop()

        // Its state moves into PostgreSQL (over the server's unix socket), verified table by table.
        let migrate = try node.cli([
            "datastore", "migrate", "--from", "sqlite:\(node.dataDir)/aegis.db",
            "--to", "postgres://postgres@:\(database.port)/aegis?host=\(database.dir)",
        ])
        XCTAssertEqual(migrate.status, 0, migrate.stderr)
        XCTAssertTrue(migrate.stdout.contains("every table verified"), migrate.stdout)
        XCTAssertTrue(migrate.stdout.contains("workloads\t1\t"), migrate.stdout)

        // The same data dir (admin token, cluster CA) now runs a replicated controller on PostgreSQL.
        let controller = NodeHarness(
            sameDataDirAs: node,
            extraArgs: [
                "--role", "controller", "--name", "c1", "--listen", "127.0.0.1:\(Self.ports[0])", "--datastore", database.url,
            ] + Self.terms)
        controller.isUp = { $0.readyz().hasPrefix("200") }
        try controller.start()
        controllers.append(controller)
        let after = try controller.cli(["describe", id, "-o", "json"])
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertEqual(after.stdout, before, "the workload, its events and outputs list read the same")
        let again = try controller.cli(["run", "--detach", "--idempotency-key", "before", "--", "sh", "-c", "echo migrated"])
        XCTAssertEqual(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines), id, "its idempotency key came along")
    }
}

extension ReplicatedControllerE2ETests {
    func testALeaderWhoseTermCannotStartTriesAgainWhileItHoldsTheLease() throws {
        // Something else holds the cluster port: the leader's term fails to listen.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        holder.arguments = [
            "--net=/run/netns/\(bed.ns("lab"))", "--", "python3", "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', \(Self.ports[0]))); s.listen(); time.sleep(120)",
        ]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        Thread.sleep(forTimeInterval: 0.5)
        let c = try NodeHarness(
            extraArgs: ["--role", "controller", "--name", "c1", "--listen", "127.0.0.1:\(Self.ports[0])", "--datastore", database.url]
                + Self.terms, netns: bed.ns("lab"))
        controllers.append(c)
        c.isUp = { _ in true }
        try c.start()
        try waitFor("the term retried twice", timeout: 30) {
            c.nodeLog().components(separatedBy: "starting it again in 1 s").count > 2
        }
        XCTAssertTrue(c.nodeLog().contains("Address already in use"), String(c.nodeLog().suffix(2000)))
        holder.terminate()
        holder.waitUntilExit()
        try waitFor("the leader serves once the port is free", timeout: 20) { c.readyz().hasPrefix("200") }
        XCTAssertEqual(c.process?.isRunning, true)
    }
}

extension NodeHarness {
    /// `aegis health --path /readyz` on the node's socket: "200 ready", "503 standby: …", or "" when it does not answer.
    func readyz() -> String {
        guard let r = try? cli(["health", "--socket", dataDir + "/aegis.sock", "--path", "/readyz"], timeout: 10) else { return "" }
        return (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
