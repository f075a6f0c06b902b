// PodRunE2ETests.swift — `aegis pod run` as a process: killed -9 and started again it re-adopts the
// running containers (same processes, no restart); `aegis pod stop` from another process stops
// them in order; a bad manifest is one error naming the field and line, and creates nothing.
import Foundation
import XCTest

final class PodRunE2ETests: XCTestCase {
    var node: NodeHarness!

    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "pods need root")
        node = try NodeHarness()
    }

    override func tearDown() {
        if let node { _ = try? node.cli(["pod", "stop", "--data-dir", node.dataDir, "web"], timeout: 30) }
        node?.stop()
    }

    override class func tearDown() {
        if case let .success(reference) = busybox {
            try? FileManager.default.removeItem(atPath: String(reference.dropFirst("oci:".count).dropLast("/layout:bb".count)))
        }
    }

    /// A busybox image as an OCI layout, built once.
    static let busybox: Result<String, any Error> = Result {
        let dir = NSTemporaryDirectory() + "pod-e2e-image-\(getpid())"
        let tree = dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        for applet in ["sh", "sleep", "httpd", "wget", "mkdir", "echo"] { _ = symlink("busybox", tree + "/bin/" + applet) }
        try ImageWorkloadE2ETests.run(["/usr/bin/tar", "-cf", dir + "/bb.tar", "-C", tree, "."])
        try ImageWorkloadE2ETests.run([
            "/usr/bin/python3", NodeHarness.repoRoot + "/Tests/AegisImageTests/Fixtures/make-image.py", dir + "/layout", "--tag", "bb",
            "--layer-tar", dir + "/bb.tar", "--compression", "none", "--env", "PATH=/bin",
        ])
        return "oci:" + dir + "/layout:bb"
    }

    func manifest() throws -> String {
        let image = try Self.busybox.get()
        return """
            apiVersion: v1
            kind: Pod
            metadata: {name: web}
            spec:
              terminationGracePeriodSeconds: 5
              initContainers:
                - name: side
                  image: \(image)
                  restartPolicy: Always
                  command: [sh, -c, 'mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 127.0.0.1:8080 -h /www']
                  startupProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
              containers:
                - name: main
                  image: \(image)
                  command: [sh, -c, 'while true; do wget -q -O - http://127.0.0.1:8080/healthz; sleep 1; done']
            """
    }

    /// Starts `aegis pod run FILE` in the background.
    func startRunner(_ file: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: node.binary)
        p.arguments = ["pod", "run", "--data-dir", node.dataDir, "--log-level", "warning", file]
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits until `aegis pod ls` shows the pod Running with both containers ready, served by
    /// `runner`.
    func waitRunning(_ runner: Process, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(30)
        var last = ""
        while Date() < deadline {
            last = try node.cli(["pod", "ls", "--data-dir", node.dataDir]).stdout
            if last.contains("web") && last.contains("Running") && last.contains("2/2") && last.contains(" \(runner.processIdentifier)") {
                return
            }
            usleep(200_000)
        }
        XCTFail(
            "pod not running: \(last)\n\(try node.cli(["pod", "describe", "--data-dir", node.dataDir, "web"]).stdout)", file: file,
            line: line)
    }

    /// The pids of the pod's running sandboxes, by sandbox id.
    func sandboxPids() throws -> [String: Int32] {
        let dir = node.dataDir + "/pods/web/sandboxes"
        var out: [String: Int32] = [:]
        for id in try FileManager.default.contentsOfDirectory(atPath: dir) where !id.hasPrefix(".") {
            guard let data = FileManager.default.contents(atPath: dir + "/" + id + "/state.json"),
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let pid = object["pid"] as? Int
            else { continue }
            out[id] = Int32(pid)
        }
        return out
    }

    func testARunnerKilledAndStartedAgainReAdoptsTheRunningContainers() throws {
        let file = node.dataDir + "/web.yaml"
        try manifest().write(toFile: file, atomically: true, encoding: .utf8)
        let first = try startRunner(file)
        try waitRunning(first)
        let before = try sandboxPids()
        XCTAssertEqual(Set(before.keys), ["web.infra.1", "web.side.1", "web.main.1"])
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        for (id, pid) in before { XCTAssertEqual(kill(pid, 0), 0, "\(id) died with its runner") }

        let second = try startRunner(file)
        try waitRunning(second)
        sleep(2)  // a few ticks and probes of the new runner
        XCTAssertEqual(try sandboxPids(), before, "the second runner started new copies")
        let described = try node.cli(["pod", "describe", "--data-dir", node.dataDir, "web"]).stdout
        XCTAssertTrue(described.contains("re-adopted the pod"), described)
        XCTAssertFalse(described.contains("Restarts:  1"), described)

        let stop = try node.cli(["pod", "stop", "--data-dir", node.dataDir, "web"], timeout: 30)
        XCTAssertEqual(stop.status, 0, stop.stderr)
        XCTAssertTrue(stop.stdout.contains("Stopped"), stop.stdout)
        second.waitUntilExit()
        XCTAssertEqual(second.terminationStatus, 0)
        for (id, pid) in before { XCTAssertNotEqual(kill(pid, 0), 0, "\(id) still runs after the stop") }
        let events = try node.cli(["pod", "describe", "--data-dir", node.dataDir, "web"]).stdout
        let order = ["stopping main", "stopping side", "infra web.infra.1 stopped"].map { needle in
            events.range(of: needle)?.lowerBound
        }
        XCTAssertTrue(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, events)
    }

    func testUnderANotifyUnitThePodIsReadyOnlyOnceEveryContainerIs() throws {
        let manager = try ServiceNotifyE2ETests.ManagerSocket()
        let file = node.dataDir + "/web.yaml"
        try manifest().write(toFile: file, atomically: true, encoding: .utf8)
        let runner = try startRunner(file, environment: ["NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "2000000"])
        let startup = manager.receive(for: 30) { $0.contains("READY=1") }
        let ready = try XCTUnwrap(startup.last)
        XCTAssertTrue(ready.contains("READY=1\nSTATUS=pod web: Running, ready 2/2, restarts 0"), "\(startup)")
        let listed = try node.cli(["pod", "ls", "--data-dir", node.dataDir]).stdout
        XCTAssertTrue(listed.contains("2/2"), "both containers were ready by READY=1: \(listed)")
        XCTAssertFalse(manager.receive(for: 1.5).filter { $0.contains("WATCHDOG=1") }.isEmpty)
        runner.terminate()
        let stopping = manager.receive(for: 15) { $0.contains("STOPPING=1") }
        XCTAssertTrue(stopping.last?.contains("STOPPING=1") ?? false, "\(stopping)")
        runner.waitUntilExit()
    }

    func testAChangedManifestReplacesThePodInsteadOfAdoptingIt() throws {
        let file = node.dataDir + "/web.yaml"
        try manifest().write(toFile: file, atomically: true, encoding: .utf8)
        let first = try startRunner(file)
        try waitRunning(first)
        let before = try sandboxPids()
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        try manifest().replacingOccurrences(of: "sleep 1; done", with: "sleep 2; done").write(
            toFile: file, atomically: true, encoding: .utf8)
        let second = try startRunner(file)
        try waitRunning(second)
        let after = try sandboxPids()
        for (id, pid) in before {
            XCTAssertNotEqual(after[id], pid, "\(id) of the old manifest still runs");
            XCTAssertNotEqual(
                kill(pid, 0), 0,
                "\(id): \(pid) alive; \((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?.prefix(200) ?? "")")
        }
        let described = try node.cli(["pod", "describe", "--data-dir", node.dataDir, "web"]).stdout
        XCTAssertTrue(described.contains("the manifest changed"), described)
        XCTAssertEqual(try node.cli(["pod", "stop", "--data-dir", node.dataDir, "web"], timeout: 30).status, 0)
        second.waitUntilExit()
    }

    func testABadManifestIsOneErrorNamingTheFieldAndCreatesNothing() throws {
        let file = node.dataDir + "/bad.yaml"
        let image = try Self.busybox.get()
        try
            "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n    - name: main\n      image: \(image)\n      lifecycle: {}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let r = try node.cli(["pod", "run", "--data-dir", node.dataDir, file])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("bad.yaml:8:7: spec.containers[0].lifecycle"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: node.dataDir + "/pods/bad"))
    }
}
