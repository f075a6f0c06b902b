// Multi-node clusters on one machine: a controller and workers, each a real `aegis up` in its own
// network namespace (ClusterTestbed), joined by token over mutual TLS. Failures are real: kill -9,
// SIGSTOP, a cut link, restarts. Agents are real sandboxes; "two copies" is checked by sampling
// the machine's processes every 50 ms.
//
// Most tests shrink the lease timing (renew 500 ms, NotReady 3 s, Down 6 s, margin 2 s, worker
// grace 6 s) to keep the suite short; the SIGSTOP 30 s / 60 s tests run the defaults
// (5 s, 20 s, 40 s, 10 s, grace 40 s).
import AegisProtocol
import Foundation
import XCTest

final class MultiNodeE2ETests: XCTestCase {
    var bed: ClusterTestbed!
    var controller: NodeHarness!
    var workers: [String: WorkerProcess] = [:]

    static let fastController = [
        "--lease-renew-every", "500ms", "--not-ready-after", "3s", "--down-after", "6s", "--reschedule-margin", "2s",
    ]
    static let fastWorker = ["--lease-grace", "6s"]

    override func tearDown() {
        workers.removeAll()
        controller = nil
        bed = nil
    }

    /// Starts the controller in "ctl" (cluster port on its address) and the named workers.
    func startCluster(_ names: [String], fast: Bool = true, workerArgs: [String: [String]] = [:]) throws {
        bed = try ClusterTestbed(["ctl"] + names)
        controller = try NodeHarness(
            extraArgs: ["--role", "controller", "--listen", "0.0.0.0:7443"] + (fast ? Self.fastController : []),
            netns: bed.ns("ctl"))
        try controller.start()
        for n in names { try startWorker(n, extra: (fast ? Self.fastWorker : []) + (workerArgs[n] ?? [])) }
        try waitFor("workers Ready", timeout: 60) { Set(try self.nodeStates().filter { $0.value == "Ready" }.keys) == Set(names) }
    }

    var joinURL: String {
        let port =
            (try? String(contentsOfFile: controller.dataDir + "/cluster.port", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        return "https://\(bed.address("ctl")):\(port)"
    }

    func token(_ extra: [String] = []) throws -> String {
        let r = try controller.cli(["token", "create", "--role", "worker"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func startWorker(_ name: String, extra: [String] = [], environment: [String: String] = [:]) throws {
        let w = try WorkerProcess(name: name, netns: bed.ns(name))
        try w.start(join: joinURL, token: try token(), extra: extra, environment: environment)
        workers[name] = w
    }

    func nodeStates() throws -> [String: String] {
        let r = try controller.cli(["node", "ls", "-o", "json"])
        guard r.status == 0 else { throw NSError(domain: "node ls", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        struct List: Decodable { var items: [NodeInfo] }
        return Dictionary(
            try JSONDecoder().decode(List.self, from: Data(r.stdout.utf8)).items.map { ($0.name, $0.state.rawValue) },
            uniquingKeysWith: { a, _ in a })
    }

    func workload(_ id: String) throws -> WorkloadDetail {
        let r = try controller.cli(["describe", id, "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONDecoder().decode(WorkloadDetail.self, from: Data(r.stdout.utf8))
    }

    func runDetached(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try controller.cli(["run", "--detach"] + args)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func waitFor(
        _ what: String, timeout: TimeInterval, file: StaticString = #filePath, line: UInt = #line, _ check: () throws -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? check()) == true { return }
            usleep(100_000)
        }
        XCTFail(
            "timed out after \(timeout) s waiting for \(what)\ncontroller log:\n\(controller.nodeLog().suffix(3000))\n"
                + workers.map { "worker \($0.key) log:\n\($0.value.log().suffix(2000))" }.joined(separator: "\n"), file: file, line: line)
        throw XCTSkip("gave up waiting for \(what)")
    }

    /// Lines of the controller log recording `node`'s transitions to `state`.
    func transitions(_ node: String, to state: String) -> Int {
        controller.nodeLog().split(separator: "\n").filter { $0.contains("node=\(node) ") && $0.hasSuffix("] node \(state)") }.count
    }

    /// Runs `argv` with `restart` on w1 (w2 cordoned while it is placed, uncordoned after).
    func runOnW1(_ argv: [String], restart: String = "always", file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try controller.cli(["node", "cordon", "w2"])
        let id = try runDetached(["--restart", restart, "--"] + argv, file: file, line: line)
        try waitFor("agent running on w1", timeout: 20, file: file, line: line) { try self.running(id, on: "w1") }
        try controller.cli(["node", "uncordon", "w2"])
        return id
    }

    func running(_ id: String, on node: String) throws -> Bool {
        let w = try workload(id).workload
        return w.state == .running && w.node == node
    }

    // MARK: join

    func testWorkerJoinsWithAGoodTokenAndIsRefusedWithABadRevokedOrMismatchedOne() throws {
        try startCluster(["w1"])
        XCTAssertEqual(try nodeStates()["w1"], "Ready")
        XCTAssertTrue(FileManager.default.fileExists(atPath: workers["w1"]!.dataDir + "/identity/node.crt"))

        func failingJoin(_ name: String, token: String) throws -> String {
            let w = try WorkerProcess(name: name, netns: bed.ns("w1"))
            try w.start(join: joinURL, token: token)
            XCTAssertNotEqual(w.waitExit(), 0, "a bad join must fail")
            XCTAssertFalse(FileManager.default.fileExists(atPath: w.dataDir + "/identity/node.crt"))
            return w.log()
        }
        let good = try token()
        let (prefix, rest) = (good.components(separatedBy: "::")[0], good.components(separatedBy: "::")[1])
        let id = rest.split(separator: ".")[0]
        XCTAssertTrue(
            try failingJoin("bad", token: "\(prefix)::\(id).wrongsecretwrongsecret").contains("join token"),
            "a wrong secret is refused")
        let mismatch = "AEG1" + String(repeating: "ab", count: 32) + "::" + rest
        let log = try failingJoin("mismatch", token: mismatch)
        XCTAssertTrue(
            log.contains(String(repeating: "ab", count: 32)) && log.contains(String(prefix.dropFirst(4))),
            "a CA mismatch names both fingerprints: \(log)")
        let revoked = try token()
        XCTAssertEqual(
            try controller.cli(["token", "revoke", revoked.components(separatedBy: "::")[1].split(separator: ".").map(String.init)[0]])
                .status, 0)
        XCTAssertTrue(try failingJoin("revoked", token: revoked).contains("revoked"))
        XCTAssertEqual(Set(try nodeStates().keys), ["w1"], "no refused node registered")

        // `aegis node forget`: the live session ends, the worker stops (non-zero) after the
        // controller refused it three times; --token --rejoin joins again with the same key.
        let w1 = workers["w1"]!
        let key = try String(contentsOfFile: w1.dataDir + "/identity/node.key", encoding: .utf8)
        XCTAssertEqual(try controller.cli(["node", "forget", "w1"]).status, 0)
        let status = w1.waitExit(timeout: 30)
        XCTAssertNotNil(status, "the forgotten worker stops")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(w1.log().contains("--rejoin"), w1.log())
        try w1.start(join: joinURL, token: try token(), extra: Self.fastWorker + ["--rejoin"])
        try waitFor("w1 back after --rejoin", timeout: 30) { try self.nodeStates()["w1"] == "Ready" && w1.isRunning }
        XCTAssertEqual(try String(contentsOfFile: w1.dataDir + "/identity/node.key", encoding: .utf8), key, "the key is kept")
    }

    /// Role and lease flags that can't work are refused before anything is created.
    func testRoleAndLeaseFlagsThatCannotWorkAreRefusedWithTheFlagNamed() throws {
        let binary = try NodeHarness.locate("aegis")
        var template = Array("/tmp/aegis-flags-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        let dir = String(cString: p)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [([String], String)] = [
            (["--role", "worker"], "--join"),
            (["--role", "worker", "--join", "http://127.0.0.1:1"], "https://"),
            (["--role", "worker", "--join", "https://127.0.0.1:1", "--listen", "0.0.0.0:7443"], "--listen"),
            (["--role", "controller"], "--listen"),
            (["--role", "hybrid", "--join", "https://127.0.0.1:1"], "--join"),
            (["--lease-renew-every", "0s"], "--lease-renew-every"),
            (["--lease-renew-every", "five"], "--lease-renew-every"),
            (["--not-ready-after", "50s", "--down-after", "40s"], "notReadyAfter"),
            (["--role", "worker", "--join", "https://127.0.0.1:1", "--lease-grace", "2s", "--lease-renew-every", "5s"], "--lease-grace"),
            (["--role", "worker", "--join", "https://127.0.0.1:1"], "--token"),
            (["--role", "worker", "--join", "https://127.0.0.1:99999", "--token", "x"], "1-65535"),
            (["--role", "worker", "--join", "https://127.0.0.1:1", "--down-after", "60s"], "--down-after"),
            (["--role", "controller", "--listen", "127.0.0.1:0", "--lease-grace", "5s"], "--lease-grace"),
            (["--role", "controller", "--listen", "127.0.0.1:0", "--cgroup-parent", "x"], "--cgroup-parent"),
            (["--lease-grace", "5s"], "--lease-grace"),
            (["--reschedule-margin", "0s"], "--reschedule-margin"),
        ]
        for (args, named) in cases {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["up", "--data-dir", dir + "/d", "--api-port", "0", "--name", "flags"] + args
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertNotEqual(p.terminationStatus, 0, "\(args)")
            XCTAssertTrue(text.contains(named), "\(args): the error names \(named): \(text)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/d/identity/node.crt"), "\(args)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/d/aegis.db"), "\(args): nothing created")
        }
    }

    /// Node certificates valid 30 s: the worker asks for a new one over its session once 2/3 have
    /// passed, and a restart after the first certificate expired connects with the renewed one.
    func testTheNodeCertificateIsRenewedOverTheSessionBeforeItExpires() throws {
        bed = try ClusterTestbed(["ctl", "w1"])
        controller = try NodeHarness(
            extraArgs: ["--role", "controller", "--listen", "0.0.0.0:7443", "--node-cert-validity", "30s"]
                + Self.fastController, netns: bed.ns("ctl"))
        try controller.start()
        try startWorker("w1", extra: Self.fastWorker)
        try waitFor("w1 Ready", timeout: 30) { try self.nodeStates()["w1"] == "Ready" }
        let w1 = workers["w1"]!
        let first = try String(contentsOfFile: w1.dataDir + "/identity/node.crt", encoding: .utf8)
        try waitFor("certificate renewed", timeout: 45) {
            (try String(contentsOfFile: w1.dataDir + "/identity/node.crt", encoding: .utf8)) != first
        }
        let renewedAt = Date()
        XCTAssertEqual(w1.log().components(separatedBy: "node certificate renewed").count, 2, "renewed once, at 2/3 (20 s): \(w1.log())")
        // Restart once the first certificate (30 s from the join) has expired: only the renewed one works.
        let joinedAt = renewedAt.addingTimeInterval(-20)
        let wait = joinedAt.addingTimeInterval(32).timeIntervalSinceNow
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        w1.stop()
        try w1.start(join: joinURL, token: nil, extra: Self.fastWorker)
        try waitFor("w1 back with the renewed certificate", timeout: 30) {
            try self.nodeStates()["w1"] == "Ready" && w1.log().components(separatedBy: "controller session open").count >= 3
        }
    }

    // MARK: routing

    func testAGPUAgentLandsOnlyOnTheWorkerThatAdvertisesGPUsAndPendingReasonsNameTheNodes() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("AegisNodeTests/Fixtures/nvidia-8gpu").path
        try startCluster(["w1", "w2"], workerArgs: ["w1": ["--detect-root", fixture]])
        let gpu = try runDetached(["--gpus", "2", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES"])
        try waitFor("GPU agent done", timeout: 30) { try self.workload(gpu).workload.state.isFinal }
        let w = try workload(gpu).workload
        XCTAssertEqual(w.node, "w1")
        XCTAssertEqual(w.gpus.count, 2)
        XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
        let plain = try (0..<4).map { _ in try runDetached(["--", "true"]) }
        try waitFor("plain agents done", timeout: 30) { try plain.allSatisfy { try self.workload($0).workload.state.isFinal } }
        // A runtime only w2 advertises (w1's detection finds runtimes inside the fixture tree, which has no perl).
        try controller.cli(["node", "cordon", "w2"])
        let perlAgent = try runDetached(["--runtime", "perl", "--", "perl", "-e", "print 6 * 7, qq(\\n)"])
        try waitFor("a pending reason", timeout: 10) { try self.workload(perlAgent).workload.reason != nil }
        let pending = try workload(perlAgent).workload
        XCTAssertEqual(pending.state, .pending)
        XCTAssertTrue(pending.reason?.contains("perl") == true && pending.reason?.contains("w1") == true, pending.reason ?? "")
        try controller.cli(["node", "uncordon", "w2"])
        try waitFor("perl agent done", timeout: 30) { try self.workload(perlAgent).workload.state.isFinal }
        XCTAssertEqual(try workload(perlAgent).workload.node, "w2")
        XCTAssertEqual(try controller.cli(["logs", perlAgent]).stdout, "42\n")
        let tooMany = try runDetached(["--gpus", "9", "--", "true"])
        try waitFor("pending reason", timeout: 10) { try self.workload(tooMany).workload.reason?.contains("w2") == true }
        let reason = try workload(tooMany).workload.reason ?? ""
        XCTAssertTrue(reason.contains("w1") && reason.contains("w2"), "the reason names both nodes: \(reason)")
    }

    /// Drain of a remote worker moves its agent to the other worker and waits; the tenant API on
    /// the cluster port works from another node's namespace with the CA file.
    func testDrainOfARemoteWorkerMovesItsAgentAndTheAPIWorksOverTLSFromAnotherNode() throws {
        try startCluster(["w1", "w2"])
        try controller.cli(["node", "cordon", "w2"])
        let argv = ["sleep", "36075"]
        let id = try runDetached(["--restart", "always", "--"] + argv)
        try waitFor("agent running on w1", timeout: 20) { try self.running(id, on: "w1") }
        // Files both ways through the worker's session: an input uploaded with the run, an output copied back.
        let work = controller.dataDir + "/files"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try "through the session\n".write(toFile: work + "/in.txt", atomically: true, encoding: .utf8)
        let copy = try controller.cli(["run", "--", "cp", "in.txt", "output/out.txt"], cwd: work)
        XCTAssertEqual(copy.status, 0, copy.stderr)
        let copied = try JSONDecoder().decode(WorkloadList.self, from: Data(try controller.cli(["ps", "-a", "-o", "json"]).stdout.utf8))
            .items.first { $0.spec.args.first == "cp" }
        XCTAssertEqual(copied?.node, "w1")
        XCTAssertEqual(try controller.cli(["cp", "\(copied?.id ?? "?"):out.txt", work + "/back.txt"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: work + "/back.txt", encoding: .utf8), "through the session\n")
        // 30 MiB: more than one frame may carry; it travels in 4 MiB chunks.
        let big = try controller.cli([
            "run", "--", "sh", "-c", "head -c 31457280 /dev/urandom > output/big.bin && sha256sum output/big.bin",
        ])
        XCTAssertEqual(big.status, 0, big.stderr)
        let bigID =
            try JSONDecoder().decode(WorkloadList.self, from: Data(try controller.cli(["ps", "-a", "-o", "json"]).stdout.utf8))
            .items.first { $0.spec.args.last?.contains("big.bin") == true }?.id ?? "?"
        let bigCopy = try controller.cli(["cp", "\(bigID):big.bin", work + "/big.bin"], timeout: 120)
        XCTAssertEqual(bigCopy.status, 0, bigCopy.stderr)
        if bigCopy.status != 0 { print("DEBUG-CTL\n" + controller.nodeLog() + "\nDEBUG-W1\n" + (workers["w1"]?.log() ?? "")) }
        let sum = try sh(["sha256sum", work + "/big.bin"]).split(separator: " ").first.map(String.init) ?? ""
        XCTAssertTrue(big.stdout.hasPrefix(sum) && !sum.isEmpty, "\(big.stdout) vs \(sum)")

        try controller.cli(["node", "uncordon", "w2"])
        let drain = try controller.cli(["node", "drain", "w1", "--timeout", "30s"])
        XCTAssertEqual(drain.status, 0, drain.stderr)
        try waitFor("agent running on w2", timeout: 20) { try self.running(id, on: "w2") }
        XCTAssertEqual(CopySampler.count(argv), 1)
        XCTAssertTrue(workers["w1"]!.sandboxes().isEmpty, "the drained worker removed its sandbox")

        // From w2's namespace, over the cluster port: trusted only with the cluster CA.
        let binary = try NodeHarness.locate("aegis")
        let common = ["--net=/run/netns/\(bed.ns("w2"))", "--", binary, "ps", "--server", joinURL, "--token", controller.adminToken()]
        let trusted = try sh(["nsenter"] + common + ["--ca-file", controller.dataDir + "/pki/ca.crt"])
        XCTAssertTrue(trusted.contains(id), trusted)
        let untrusted = try sh(["nsenter"] + common, allowFailure: true)
        XCTAssertFalse(untrusted.contains(id), "without the CA the server is not trusted: \(untrusted)")
    }

    // MARK: failures

    /// kill -9 of the worker daemon (not restarted): its agent fences itself at the grace, then
    /// runs again on the other worker; at no sampled moment do two copies run.
    func testKilledWorkerFencesItsAgentWhichThenRunsOnAnotherWorkerNeverTwice() throws {
        try startCluster(["w1", "w2"])
        let argv = ["sleep", "36071"]
        let id = try runOnW1(argv, restart: "always")
        let sampler = CopySampler(argv: argv)
        workers["w1"]!.signal(SIGKILL)
        _ = workers["w1"]!.waitExit()
        try waitFor("agent running on w2", timeout: 30) { try self.running(id, on: "w2") && CopySampler.count(argv) == 1 }
        let (maxCopies, samples) = sampler.finish()
        XCTAssertEqual(maxCopies, 1, "two copies ran at once (\(samples) samples)")
        XCTAssertGreaterThan(samples, 50)
        let d = try workload(id)
        XCTAssertEqual(d.workload.generation, 2)
        XCTAssertTrue(d.events.contains { $0.type == .rescheduling }, "\(d.events)")
        let outcome = try String(contentsOfFile: workers["w1"]!.dataDir + "/sandboxes/\(id).g1/outcome.json", encoding: .utf8)
        XCTAssertTrue(outcome.contains("\"fenced\":true"), outcome)
        XCTAssertEqual(transitions("w1", to: "Down"), 1)
    }

    /// A link cut longer than Down + margin, then healed: the agent moves; the returning worker
    /// keeps no stale copy; never two copies.
    func testLinkCutMovesTheAgentAndTheHealedWorkerHoldsNoStaleCopy() throws {
        try startCluster(["w1", "w2"])
        let argv = ["sleep", "36072"]
        let id = try runOnW1(argv, restart: "on-failure")
        let sampler = CopySampler(argv: argv)
        try bed.cut("w1")
        try waitFor("agent running on w2", timeout: 30) { try self.running(id, on: "w2") }
        try bed.heal("w1")
        try waitFor("w1 Ready again", timeout: 30) { try self.nodeStates()["w1"] == "Ready" }
        try waitFor("w1 holds no stale sandbox", timeout: 15) { self.workers["w1"]!.sandboxes().isEmpty }
        usleep(500_000)
        let (maxCopies, samples) = sampler.finish()
        XCTAssertEqual(maxCopies, 1, "two copies ran at once (\(samples) samples)")
        XCTAssertEqual(CopySampler.count(argv), 1)
        XCTAssertTrue(try running(id, on: "w2"))
        XCTAssertEqual(transitions("w1", to: "Down"), 1)
        XCTAssertEqual(transitions("w1", to: "Ready"), 1)
    }

    /// SIGSTOP for 30 s with the default lease timing (NotReady at 20 s, Down at 40 s): exactly
    /// one transition each way, the agent neither restarted nor moved.
    func testWorkerPausedThirtySecondsComesBackWithOneTransitionEachWayAndNothingMoved() throws {
        try startCluster(["w1", "w2"], fast: false)
        let argv = ["sleep", "36073"]
        let id = try runOnW1(argv, restart: "always")
        let sampler = CopySampler(argv: argv, intervalMs: 200)
        workers["w1"]!.signal(SIGSTOP)
        sleep(30)
        XCTAssertEqual(try nodeStates()["w1"], "NotReady")
        workers["w1"]!.signal(SIGCONT)
        try waitFor("w1 Ready again", timeout: 20) { try self.nodeStates()["w1"] == "Ready" }
        sleep(2)
        let (maxCopies, _) = sampler.finish()
        XCTAssertEqual(maxCopies, 1)
        let d = try workload(id)
        XCTAssertEqual(d.workload.state, .running)
        XCTAssertEqual(d.workload.node, "w1")
        XCTAssertEqual(d.workload.generation, 1, "not moved")
        XCTAssertEqual(d.workload.restarts, 0, "not restarted")
        XCTAssertEqual(d.events.filter { $0.type == .started }.count, 1)
        XCTAssertEqual(transitions("w1", to: "NotReady"), 1)
        XCTAssertEqual(transitions("w1", to: "Ready"), 1)
        XCTAssertEqual(transitions("w1", to: "Down"), 0)
        XCTAssertEqual(CopySampler.count(argv), 1)
    }

    /// SIGSTOP for 60 s with the default timing: Down at 40 s, moved at 50 s; the resumed worker
    /// holds no stale copy.
    func testWorkerPausedSixtySecondsLosesItsAgentToAnotherWorkerAndKeepsNoStaleCopy() throws {
        try startCluster(["w1", "w2"], fast: false)
        let argv = ["sleep", "36074"]
        let id = try runOnW1(argv, restart: "always")
        let sampler = CopySampler(argv: argv, intervalMs: 200)
        workers["w1"]!.signal(SIGSTOP)
        sleep(60)
        XCTAssertTrue(try running(id, on: "w2"), "moved while w1 was paused")
        workers["w1"]!.signal(SIGCONT)
        try waitFor("w1 Ready again", timeout: 30) { try self.nodeStates()["w1"] == "Ready" }
        try waitFor("w1 holds no stale sandbox", timeout: 15) { self.workers["w1"]!.sandboxes().isEmpty }
        let (maxCopies, _) = sampler.finish()
        XCTAssertEqual(maxCopies, 1)
        XCTAssertEqual(CopySampler.count(argv), 1)
        XCTAssertTrue(try running(id, on: "w2"))
        XCTAssertEqual(try workload(id).workload.generation, 2)
    }

    /// A worker whose grace is longer than the controller's Down (6 s here, 10 s there) keeps
    /// its agent until the grace; the controller waits for that grace + margin before moving it.
    func testAWorkerWithALongerGraceIsWaitedForBeforeItsAgentMoves() throws {
        try startCluster(["w1", "w2"], workerArgs: ["w1": ["--lease-grace", "10s"]])
        let argv = ["sleep", "36076"]
        let id = try runOnW1(argv, restart: "always")
        let sampler = CopySampler(argv: argv)
        let killed = Date()
        workers["w1"]!.signal(SIGKILL)
        try waitFor("agent running on w2", timeout: 40) { try self.running(id, on: "w2") }
        let moved = Date().timeIntervalSince(killed)
        let (maxCopies, samples) = sampler.finish()
        XCTAssertEqual(maxCopies, 1, "two copies ran at once (\(samples) samples)")
        XCTAssertGreaterThan(moved, 10, "moved only after the worker's 10 s grace (+ 2 s margin)")
    }

    /// `aegis down` on a worker stops its agents and they run again elsewhere (restart always);
    /// `aegis kill` while a worker is away is carried out when it comes back.
    func testWorkerDownEvictsItsAgentsAndAKillWhileAwayIsCarriedOutOnReturn() throws {
        try startCluster(["w1", "w2"])
        try controller.cli(["node", "cordon", "w2"])
        let moving = try runDetached(["--restart", "always", "--", "sleep", "36077"])
        let killed = try runDetached(["--", "sleep", "36078"])
        try waitFor("agents running on w1", timeout: 20) { try self.running(moving, on: "w1") && self.running(killed, on: "w1") }
        try controller.cli(["node", "uncordon", "w2"])
        // Away (SIGTERM: the agents keep running) while the kill is asked for.
        workers["w1"]!.stop()
        XCTAssertEqual(try controller.cli(["kill", killed]).status, 0)
        try workers["w1"]!.start(join: joinURL, token: nil, extra: Self.fastWorker)
        try waitFor("the kill carried out", timeout: 30) { try self.workload(killed).workload.state == .cancelled }
        XCTAssertEqual(CopySampler.count(["sleep", "36078"]), 0)
        // `aegis down` of the worker: evicted, placed again on w2.
        let down = try controller.cli(["down", "--data-dir", workers["w1"]!.dataDir])
        XCTAssertEqual(down.status, 0, down.stderr)
        try waitFor("evicted agent running on w2", timeout: 30) { try self.running(moving, on: "w2") }
        let d = try workload(moving)
        XCTAssertTrue(d.events.contains { $0.type == .evicted }, "\(d.events)")
        let afterEviction = d.events.drop { $0.type != .evicted }
        XCTAssertFalse(
            afterEviction.contains { $0.message.contains("placed on node w1") }, "never placed on the stopping worker: \(d.events)")
        XCTAssertEqual(CopySampler.count(["sleep", "36077"]), 1)
    }

    // MARK: restarts

    /// A worker restarted mid-run re-adopts its agent (same placement, not restarted); the run
    /// ends normally and its full output arrives through the controller.
    func testWorkerRestartMidRunReadoptsTheAgent() throws {
        try startCluster(["w1"])
        let id = try runDetached(["--", "sh", "-c", "echo before; sleep 4; echo after"])
        try waitFor("agent running", timeout: 20) { try self.running(id, on: "w1") }
        workers["w1"]!.stop()
        try workers["w1"]!.start(join: joinURL, token: nil, extra: Self.fastWorker)
        try waitFor("agent done", timeout: 30) { try self.workload(id).workload.state.isFinal }
        let d = try workload(id)
        XCTAssertEqual(d.workload.state, .succeeded, d.workload.reason ?? "")
        XCTAssertEqual(d.workload.generation, 1)
        XCTAssertEqual(d.events.filter { $0.type == .started }.count, 1)
        XCTAssertTrue(workers["w1"]!.log().contains("re-adopted sandbox"), workers["w1"]!.log())
        let logs = try controller.cli(["logs", id])
        XCTAssertEqual(logs.stdout, "before\nafter\n")
    }

    /// A controller restarted mid-run loses nothing: the worker reconnects, the agent keeps
    /// running and its end is recorded; `aegis logs -f` of the remote agent streams live output.
    func testControllerRestartMidRunLosesNothing() throws {
        try startCluster(["w1"])
        let id = try runDetached(["--name", "survivor", "--", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9; do echo tick $i; sleep 1; done"])
        try waitFor("agent running", timeout: 20) { try self.running(id, on: "w1") }
        let before = try controller.cli(["ps", "-a", "-o", "json"]).stdout
        controller.stop()
        sleep(3)  // unreachable for half the worker's 6 s grace: nothing may stop or restart
        try controller.start()
        try waitFor("w1 back", timeout: 30) { try self.nodeStates()["w1"] == "Ready" }
        XCTAssertTrue(before.contains(id))
        let follow = try controller.cli(["logs", "-f", id], timeout: 30)
        XCTAssertEqual(follow.status, 0, follow.stderr)
        XCTAssertTrue(follow.stdout.hasSuffix("tick 9\n"), follow.stdout)
        let d = try workload(id)
        XCTAssertEqual(
            d.workload.state, .succeeded,
            (d.workload.reason ?? "") + "\nworker log:\n" + (workers["w1"]?.log().suffix(4000) ?? "") + "\ncontroller log:\n"
                + controller.nodeLog().suffix(3000))
        XCTAssertEqual(d.workload.generation, 1)
        XCTAssertEqual(d.workload.spec.name, "survivor")
        XCTAssertEqual(d.events.filter { $0.type == .started }.count, 1, "not restarted")
    }
}
