// ControllerPodE2ETests.swift — the controller pod as operators run it: pod/aegis-controller.yaml
// itself (only the image, the hostPath and the node address changed) run by `aegis pod run` from
// the image scripts/build-image.sh writes, loaded from its oci-archive. The runner works in the
// "ctl" namespace of a ClusterTestbed (hostNetwork: the gateway listens on 192.0.2.1:7443 there);
// a worker in its own namespace joins through the gateway, an agent runs on it, logs and a
// tenant's calls go through the gateway; the gateway killed -9 is restarted by the runner and
// the worker's session comes back with nothing restarted; the metrics sidecar scrapes the whole
// cluster and comes back after kill -9; a SIGSTOPped gateway is replaced after its liveness probe
// fails; `aegis pod stop` stops controller → metrics → gateway.
import AegisProtocol
import Foundation
import XCTest

final class ControllerPodE2ETests: XCTestCase {
    var bed: ClusterTestbed!
    var worker: WorkerProcess?
    var runner: Process?
    var scratch = ""
    var podData: String { scratch + "/node" }
    var hostData: String { scratch + "/data" }
    var binary = ""

    /// The image, built once from the executables next to the test bundle (debug, stripped).
    static let image: Result<String, any Error> = Result {
        let out = NSTemporaryDirectory() + "aegis-pod-image-\(getpid())"
        let built = try sh([
            ImageWorkloadE2ETests.repoRoot + "/scripts/build-image.sh", "--debug", "--no-build", "--out", out, "--tag", "e2e",
        ])
        guard let archive = built.split(separator: "\n").first(where: { $0.hasPrefix("oci-archive:") }) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "build-image.sh printed no oci-archive: \(built)"])
        }
        return String(archive)
    }

    override class func tearDown() {
        if case .success = image { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "aegis-pod-image-\(getpid())") }
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "pods need root")
        binary = try NodeHarness.locate("aegis")
        bed = try ClusterTestbed(["ctl", "w1"])
        var template = Array("/tmp/aegis-ctlpod-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        scratch = String(cString: p)
        for dir in [scratch, podData, hostData] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o711)
        }
    }

    override func tearDown() {
        worker = nil
        if let runner, runner.isRunning {
            _ = try? run([binary, "pod", "stop", "--data-dir", podData, "aegis-controller"], timeout: 60)
            kill(runner.processIdentifier, SIGKILL)
            runner.waitUntilExit()
        }
        bed = nil
        if !scratch.isEmpty { try? FileManager.default.removeItem(atPath: scratch) }
    }

    // MARK: the pod

    /// pod/aegis-controller.yaml with the test's image and hostPath.
    func manifest() throws -> String {
        let image = try Self.image.get()
        let text = try String(contentsOfFile: ImageWorkloadE2ETests.repoRoot + "/pod/aegis-controller.yaml", encoding: .utf8)
        XCTAssertTrue(text.contains("image: localhost:5000/aegis:dev") && text.contains("path: /var/lib/aegis\n"))
        XCTAssertTrue(text.contains("path: /var/lib/aegis/pki\n"))
        // A shorter grace than the file's 30 s keeps the liveness restart of a SIGSTOPped gateway short.
        XCTAssertTrue(text.contains("terminationGracePeriodSeconds: 30\n"))
        return text.replacingOccurrences(of: "image: localhost:5000/aegis:dev", with: "image: \(image)")
            .replacingOccurrences(of: "path: /var/lib/aegis\n", with: "path: \(hostData)\n")
            .replacingOccurrences(of: "path: /var/lib/aegis/pki\n", with: "path: \(hostData)/pki\n")
            .replacingOccurrences(of: "terminationGracePeriodSeconds: 30\n", with: "terminationGracePeriodSeconds: 5\n")
    }

    /// `aegis pod run` in the ctl namespace, its output in <scratch>/runner.log.
    func startRunner() throws {
        let file = scratch + "/aegis-controller.yaml"
        try manifest().write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = [
            "--net=/run/netns/\(bed.ns("ctl"))", "--", binary, "pod", "run", "--data-dir", podData, "--allow-unenforced-limits", file,
        ]
        FileManager.default.createFile(atPath: scratch + "/runner.log", contents: nil)
        let log = FileHandle(forWritingAtPath: scratch + "/runner.log")!
        p.standardOutput = log
        p.standardError = log
        try p.run()
        runner = p
    }

    func describePod() -> String {
        (try? run([binary, "pod", "describe", "--data-dir", podData, "aegis-controller"]).stdout) ?? ""
    }

    func containerLogs(_ name: String) -> String {
        (try? run([binary, "pod", "logs", "--data-dir", podData, "-c", name, "aegis-controller"]).stdout) ?? ""
    }

    func diagnostics() -> String {
        let runnerLog = (try? String(contentsOfFile: scratch + "/runner.log", encoding: .utf8)) ?? ""
        return "runner:\n\(runnerLog.suffix(3000))\npod:\n\(describePod().suffix(3000))\n"
            + ["gateway", "metrics", "controller"].map { "\($0) log:\n\(containerLogs($0).suffix(2000))" }.joined(separator: "\n")
            + "\nworker:\n\(worker?.log().suffix(2000) ?? "")"
    }

    /// The pid of the container's current sandbox (`<pod>.<container>.<attempt>`, highest attempt).
    func containerPid(_ name: String) throws -> Int32? {
        let dir = podData + "/pods/aegis-controller/sandboxes"
        let ids = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("aegis-controller.\(name).") }
        guard let id = ids.max(by: { Int($0.split(separator: ".").last!)! < Int($1.split(separator: ".").last!)! }),
            let data = FileManager.default.contents(atPath: dir + "/" + id + "/state.json"),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let pid = object["pid"] as? Int
        else { return nil }
        return Int32(pid)
    }

    // MARK: clients

    /// The CLI from the worker's namespace, through the gateway (https://192.0.2.1:7443).
    @discardableResult
    func cli(_ args: [String], token: String? = nil, timeout: TimeInterval = 60) throws -> CommandResult {
        let admin = try String(contentsOfFile: hostData + "/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try run(
            ["/usr/bin/nsenter", "--net=/run/netns/\(bed.ns("w1"))", "--", binary] + args, timeout: timeout,
            env: [
                "AEGIS_SERVER": "https://\(bed.address("ctl")):7443", "AEGIS_TOKEN": token ?? admin,
                "AEGIS_CA_FILE": hostData + "/pki/ca.crt",
            ])
    }

    /// An HTTP GET from inside the ctl namespace (the node), body and status.
    func get(_ url: String) throws -> String {
        let code = """
            import urllib.request, urllib.error
            try:
                r = urllib.request.urlopen("\(url)", timeout=10); print(r.status); print(r.read().decode())
            except urllib.error.HTTPError as e:
                print(e.code); print(e.read().decode())
            """
        return try sh(["nsenter", "--net=/run/netns/\(bed.ns("ctl"))", "--", "python3", "-c", code])
    }

    func run(_ argv: [String], timeout: TimeInterval = 60, env: [String: String] = [:]) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave()
        }
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        group.wait()
        return CommandResult(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    func waitFor(
        _ what: String, timeout: TimeInterval, file: StaticString = #filePath, line: UInt = #line, _ check: () throws -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? check()) == true { return }
            usleep(200_000)
        }
        XCTFail("timed out after \(timeout) s waiting for \(what)\n\(diagnostics())", file: file, line: line)
        throw XCTSkip("gave up waiting for \(what)")
    }

    func nodeStates() throws -> [String: String] {
        let r = try cli(["node", "ls", "-o", "json"])
        struct List: Decodable { var items: [NodeInfo] }
        return Dictionary(
            try JSONDecoder().decode(List.self, from: Data(r.stdout.utf8)).items.map { ($0.name, $0.state.rawValue) },
            uniquingKeysWith: { a, _ in a })
    }

    func workload(_ id: String) throws -> Workload {
        try JSONDecoder().decode(WorkloadDetail.self, from: Data(try cli(["describe", id, "-o", "json"]).stdout.utf8)).workload
    }

    // MARK: the test

    func testTheControllerPodRunsFromItsImageAndAWorkerJoinsThroughTheGatewayThatSurvivesKill9() throws {
        try startRunner()
        try waitFor("the pod Running with its 3 containers ready", timeout: 240) {
            let ls = try run([binary, "pod", "ls", "--data-dir", podData]).stdout
            return ls.contains("aegis-controller") && ls.contains("Running") && ls.contains("3/3")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: hostData + "/aegis.db"), "the controller's state is on the hostPath")
        // The pod-local surface: no token for /metrics from inside the pod; none through the gateway.
        let health = try run([binary, "health", "--socket", socketPath(), "--path", "/readyz"])
        XCTAssertEqual(health.status, 0, health.stdout + health.stderr)
        XCTAssertTrue(health.stdout.hasPrefix("200"), health.stdout)
        let anonymous = try run(
            [
                "/usr/bin/nsenter", "--net=/run/netns/\(bed.ns("w1"))", "--", binary, "ps", "--server",
                "https://\(bed.address("ctl")):7443",
                "--ca-file", hostData + "/pki/ca.crt", "--token", "not-a-token",
            ])
        XCTAssertNotEqual(anonymous.status, 0)

        // A worker joins through the gateway; an agent runs on it; its logs come back through the gateway.
        let join = try cli(["token", "create", "--role", "worker"])
        XCTAssertEqual(join.status, 0, join.stderr)
        let w = try WorkerProcess(name: "w1", netns: bed.ns("w1"))
        try w.start(join: "https://\(bed.address("ctl")):7443", token: join.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        worker = w
        try waitFor("w1 Ready", timeout: 60) { try self.nodeStates()["w1"] == "Ready" }
        let submitted = try cli(["run", "--detach", "--", "sh", "-c", "echo hello-through-the-gateway; exec sleep 300"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try waitFor("the agent running on w1", timeout: 60) {
            let wl = try self.workload(id)
            return wl.state == .running && wl.node == "w1"
        }
        try waitFor("its log through the gateway", timeout: 30) { try self.cli(["logs", id]).stdout.contains("hello-through-the-gateway") }

        // A tenant's calls with its own token.
        let tenant = try cli(["tenant", "create", "acme"])
        XCTAssertEqual(tenant.status, 0, tenant.stderr)
        let tenantToken = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let whoami = try cli(["ps"], token: tenantToken)
        XCTAssertEqual(whoami.status, 0, whoami.stderr)
        XCTAssertFalse(whoami.stdout.contains(id), "a tenant sees only its own workloads: \(whoami.stdout)")

        // kill -9 of the gateway: the runner starts it again, the session comes back, nothing restarts.
        let agentPid = try workloadPid(id)
        let gatewayPid = try XCTUnwrap(try containerPid("gateway"))
        XCTAssertEqual(kill(gatewayPid, SIGKILL), 0)
        try waitFor("a new gateway", timeout: 60) {
            (try self.containerPid("gateway")).map { $0 != gatewayPid && kill($0, 0) == 0 } ?? false
        }
        try waitFor("the worker's session back through the new gateway", timeout: 60) {
            try self.nodeStates()["w1"] == "Ready" && self.worker!.log().components(separatedBy: "session open").count >= 3
        }
        let after = try workload(id)
        XCTAssertEqual(after.state, .running)
        XCTAssertEqual(after.generation, 1, "the agent was restarted")
        XCTAssertEqual(try workloadPid(id), agentPid, "the agent's process changed")

        // The metrics sidecar: one scrape from the node shows the controller, the gateway and w1;
        // killed -9 it is restarted and scrapes again.
        let scrape = try get("http://127.0.0.1:9464/metrics")
        XCTAssertTrue(scrape.hasPrefix("200"), scrape.prefix(300) + "")
        for needle in [
            "aegis_metrics_source_up{source=\"controller\"} 1", "aegis_metrics_source_up{source=\"gateway\"} 1", "node=\"w1\"",
            "aegis_gateway_sessions_open 1",
        ] {
            XCTAssertTrue(scrape.contains(needle), "\(needle) not in the scrape:\n\(scrape.prefix(4000))")
        }
        let metricsPid = try XCTUnwrap(try containerPid("metrics"))
        XCTAssertEqual(kill(metricsPid, SIGKILL), 0)
        try waitFor("a new metrics sidecar scraping both sources", timeout: 60) {
            let replaced = try self.containerPid("metrics").map { $0 != metricsPid } == true
            return try replaced && self.get("http://127.0.0.1:9464/metrics").contains("aegis_metrics_source_up{source=\"controller\"} 1")
        }

        // A wedged gateway (SIGSTOP) fails its liveness probe and is replaced.
        let wedged = try XCTUnwrap(try containerPid("gateway"))
        let gatewayProcess = try XCTUnwrap(children(of: wedged).first, "the gateway process under the container's init")
        XCTAssertEqual(kill(gatewayProcess, SIGSTOP), 0)
        try waitFor("the wedged gateway replaced after its liveness probe failed", timeout: 90) {
            let replaced = try self.containerPid("gateway").map { $0 != wedged && kill($0, 0) == 0 } == true
            return replaced && self.describePod().contains("container gateway: LivenessProbeFailed")
        }
        try waitFor("w1 Ready through the new gateway", timeout: 60) { try self.nodeStates()["w1"] == "Ready" }

        // Ordered stop: the controller, then the metrics sidecar, then the gateway.
        let stop = try run([binary, "pod", "stop", "--data-dir", podData, "aegis-controller"], timeout: 90)
        XCTAssertEqual(stop.status, 0, stop.stderr)
        runner?.waitUntilExit()
        let events = describePod()
        let order = ["stopping controller", "stopping metrics", "stopping gateway"].map { events.range(of: $0)?.lowerBound }
        XCTAssertTrue(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, events)
    }

    /// The children of `pid` (the container's init runs the container's process as its child).
    func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The controller's socket, as the runner mounted the pod's emptyDir on this host.
    func socketPath() throws -> String {
        let volumes = podData + "/pods/aegis-controller/volumes"
        for entry in try FileManager.default.contentsOfDirectory(atPath: volumes) where entry.contains("sockets") {
            return volumes + "/" + entry + "/controller.sock"
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no sockets volume in \(volumes)"])
    }

    /// The pid of the agent's sandbox on w1 (its supervisor's child), from the worker's sandbox state.
    func workloadPid(_ id: String) throws -> Int32 {
        let w = try XCTUnwrap(worker)
        for sandbox in w.sandboxes() where sandbox.hasPrefix(id) {
            if let data = FileManager.default.contents(atPath: w.dataDir + "/sandboxes/" + sandbox + "/state.json"),
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let pid = object["pid"] as? Int
            {
                return Int32(pid)
            }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no sandbox of \(id) on w1: \(w.sandboxes())"])
    }
}
