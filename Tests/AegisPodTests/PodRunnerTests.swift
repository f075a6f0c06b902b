// PodRunnerTests.swift — pods run for real on this host: an infra sandbox and one sandbox per
// container (namespaces, cgroup leaves, seccomp), a busybox image built by the image tests' fixture
// script, probes over the pod's own loopback, restarts, the ordered stop, and what a stop leaves.
import AegisPod
import AegisSystem
import Foundation
import Logging
import XCTest

final class PodRunnerTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        try XCTSkipUnless(geteuid() == 0, "pods need root (namespaces, cgroups)")
        root = NSTemporaryDirectory() + "pod-runner-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        FileSystem.removeTree(root)
    }

    override class func tearDown() {
        if case let .success(reference) = busybox {
            FileSystem.removeTree(String(reference.dropFirst("oci:".count).dropLast("/layout:bb".count)))
        }
    }

    // MARK: fixtures

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A busybox image as an OCI layout (`oci:DIR:bb`), built once per test run.
    static let busybox: Result<String, any Error> = Result {
        let dir = NSTemporaryDirectory() + "pod-runner-image-\(getpid())"
        let tree = dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        for applet in ["sh", "sleep", "httpd", "wget", "echo", "cat", "mkdir", "hostname", "kill", "true", "false", "ls", "test", "touch"] {
            _ = symlink("busybox", tree + "/bin/" + applet)
        }
        try run(["/usr/bin/tar", "-cf", dir + "/bb.tar", "-C", tree, "."])
        try run([
            "/usr/bin/python3", repoRoot + "/Tests/AegisImageTests/Fixtures/make-image.py", dir + "/layout", "--tag", "bb",
            "--layer-tar", dir + "/bb.tar", "--compression", "none", "--env", "PATH=/bin",
        ])
        return "oci:" + dir + "/layout:bb"
    }

    static func run(_ argv: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw PodError(.system, "\(argv.joined(separator: " ")) exited \(p.terminationStatus)") }
    }

    /// A sidecar serving /healthz over HTTP on the pod's loopback port 8080, gated by a startup
    /// probe, and a main container that fetches it through the shared network namespace.
    func sidecarPod(name: String = "web", main: String? = nil, policy: String = "Always", sidecarExtra: String = "") throws -> String {
        let image = try Self.busybox.get()
        let mainCommand = main ?? "echo hello from main; while true; do wget -q -O - http://127.0.0.1:8080/healthz; sleep 1; done"
        return """
            apiVersion: v1
            kind: Pod
            metadata:
              name: \(name)
            spec:
              restartPolicy: \(policy)
              terminationGracePeriodSeconds: 3
              volumes:
                - name: shared
                  emptyDir: {}
              initContainers:
                - name: side
                  image: \(image)
                  restartPolicy: Always
                  command: [sh, -c, 'mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 127.0.0.1:8080 -h /www']
                  startupProbe:
                    httpGet: {path: /healthz, port: 8080}
                    periodSeconds: 1
            \(sidecarExtra)
              containers:
                - name: main
                  image: \(image)
                  command: [sh, -c, '\(mainCommand)']
                  volumeMounts:
                    - name: shared
                      mountPath: /shared
            """
    }

    func runner(_ yaml: String, allowUnenforcedLimits: Bool = false) throws -> PodRunner {
        let manifest = try PodManifestParser.parse(yaml, file: "test.yaml")
        let options = PodRunnerOptions(
            root: root + "/pods", imageRoot: root + "/images", allowUnenforcedLimits: allowUnenforcedLimits,
            backoffInitialSeconds: 1, backoffMaxSeconds: 2, tick: .milliseconds(100))
        var logger = Logger(label: "test.pod")
        logger.logLevel = .warning
        return try PodRunner(manifest: manifest, manifestText: yaml, options: options, logger: logger)
    }

    /// Polls the runner's record until `condition` holds (or fails the test after `seconds`).
    func waitUntil(
        _ runner: PodRunner, _ what: String, seconds: Double = 20, file: StaticString = #filePath, line: UInt = #line,
        _ condition: (PodRecord) -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(await runner.currentRecord()) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let r = await runner.currentRecord()
        XCTFail(
            "timed out waiting for \(what); phase \(r.phase), containers \(r.containers), events:\n\(r.events.joined(separator: "\n"))",
            file: file, line: line)
        throw CancellationError()
    }

    /// The host pid of a sandbox's process from its state.json.
    func pid(_ runner: PodRunner, sandbox id: String) throws -> Int32 {
        let text = try String(contentsOfFile: runner.paths.sandboxes + "/" + id + "/state.json", encoding: .utf8)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return try XCTUnwrap(object?["pid"] as? Int).int32
    }

    func index(_ events: [String], _ needle: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let i = events.firstIndex(where: { $0.contains(needle) }) else {
            XCTFail("no event contains \"\(needle)\":\n\(events.joined(separator: "\n"))", file: file, line: line)
            return -1
        }
        return i
    }

    // MARK: tests

    func testASidecarGatesTheMainContainerAndTheStopGoesInReverse() async throws {
        let runner = try runner(try sidecarPod())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "both containers ready") { $0.phase == .running && $0.containers.allSatisfy(\.ready) }
            // The main container reaches the sidecar on the pod's own loopback.
            try await Task.sleep(for: .seconds(1.5))
            let out = PodControl.log(root: root + "/pods", pod: "web", container: "main", stream: .stdout, offset: 0)
            let text = String(decoding: out?.bytes ?? [], as: UTF8.self)
            XCTAssertTrue(text.contains("hello from main") && text.contains("ok"), text)
            runner.requestStop()
            try await group.waitForAll()
        }
        let r = await runner.currentRecord()
        XCTAssertEqual(r.phase, .stopped)
        let e = r.events
        XCTAssertLessThan(index(e, "side: startup probe passed"), index(e, "container main attempt 1 started"))
        XCTAssertLessThan(index(e, "stopping main"), index(e, "stopping side"))
        XCTAssertLessThan(index(e, "container side stopped"), index(e, "infra web.infra.1 stopped"))
        // Nothing runs and nothing is left but state, manifest and logs.
        XCTAssertEqual(FileSystem.entryNames(in: runner.paths.sandboxes), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: runner.paths.directory + "/volumes"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runner.paths.directory + "/roots"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: runner.paths.logs("main") + "/stdout.log"))
    }

    func testAKilledSidecarIsRestartedAloneAfterItsBackOff() async throws {
        let runner = try runner(try sidecarPod())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "both containers ready") { $0.phase == .running && $0.containers.allSatisfy(\.ready) }
            kill(try pid(runner, sandbox: "web.side.1"), SIGKILL)
            try await waitUntil(runner, "the sidecar restarted") {
                ($0[container: "side"]?.restartCount ?? 0) == 1 && $0[container: "side"]?.started == true
            }
            let r = await runner.currentRecord()
            XCTAssertEqual(r[container: "main"]?.restartCount, 0)
            XCTAssertEqual(r[container: "main"]?.phase, .running)
            XCTAssertGreaterThan(index(r.events, "container side attempt 1 ended"), -1)
            runner.requestStop()
            try await group.waitForAll()
        }
    }

    func testAFailingLivenessProbeRestartsThatContainer() async throws {
        let liveness = """
                  livenessProbe:
                    httpGet: {path: /healthz, port: 8080}
                    periodSeconds: 1
                    failureThreshold: 2
            """
        let yaml = try sidecarPod(sidecarExtra: liveness)
        let runner = try runner(yaml)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "both containers ready") { $0.phase == .running && $0.containers.allSatisfy(\.ready) }
            // A wedged server: httpd stopped (SIGSTOP) still has its listening socket, so only an
            // HTTP answer tells it from a live one; SIGTERM stays pending, SIGKILL follows the grace.
            let initPid = try pid(runner, sandbox: "web.side.1")
            let children = try String(contentsOfFile: "/proc/\(initPid)/task/\(initPid)/children", encoding: .utf8)
            let httpd = try XCTUnwrap(children.split(separator: " ").compactMap { Int32($0) }.first)
            XCTAssertEqual(kill(httpd, SIGSTOP), 0)
            try await waitUntil(runner, "the sidecar restarted after its liveness probe failed", seconds: 30) {
                ($0[container: "side"]?.restartCount ?? 0) >= 1 && $0[container: "side"]?.started == true
            }
            let r = await runner.currentRecord()
            XCTAssertGreaterThan(index(r.events, "container side: LivenessProbeFailed: stopping it"), -1)
            XCTAssertGreaterThan(index(r.events, "(LivenessProbeFailed)"), -1)
            XCTAssertEqual(r[container: "main"]?.restartCount, 0)
            runner.requestStop()
            try await group.waitForAll()
        }
    }

    func testExecProbesRunInsideTheContainer() async throws {
        let image = try Self.busybox.get()
        // /tmp/ready exists only in the main container's own root: a probe that sees it ran there.
        let yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: execprobe}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
                - name: main
                  image: "\(image)"
                  command: [sh, -c, 'sleep 1 && touch /tmp/ready && exec sleep 100']
                  readinessProbe:
                    exec: {command: [test, -f, /tmp/ready]}
                    periodSeconds: 1
                - name: doomed
                  image: "\(image)"
                  command: [sleep, '100']
                  livenessProbe:
                    exec: {command: ['false']}
                    periodSeconds: 1
                    failureThreshold: 2
            """
        let runner = try runner(yaml)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "main running, not yet ready") { $0[container: "main"]?.phase == .running }
            let early = await runner.currentRecord()[container: "main"]?.ready
            XCTAssertEqual(early, false)
            try await waitUntil(runner, "main ready once the file exists") { $0[container: "main"]?.ready == true }
            try await waitUntil(runner, "doomed restarted by its exec liveness probe", seconds: 30) {
                ($0[container: "doomed"]?.restartCount ?? 0) >= 1
            }
            let r = await runner.currentRecord()
            XCTAssertGreaterThan(index(r.events, "container doomed: LivenessProbeFailed"), -1)
            XCTAssertEqual(r[container: "main"]?.restartCount, 0)
            runner.requestStop()
            try await group.waitForAll()
        }
    }

    func testTheInfraDyingRestartsTheWholePod() async throws {
        let runner = try runner(try sidecarPod())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "both containers ready") { $0.phase == .running && $0.containers.allSatisfy(\.ready) }
            kill(try pid(runner, sandbox: "web.infra.1"), SIGKILL)
            try await waitUntil(runner, "the pod restarted on a new infra") {
                $0.infraGeneration == 2 && $0.phase == .running && $0.containers.allSatisfy(\.ready)
            }
            let r = await runner.currentRecord()
            XCTAssertGreaterThan(index(r.events, "is gone: restarting the whole pod"), -1)
            runner.requestStop()
            try await group.waitForAll()
        }
    }

    func testWithRestartPolicyNeverThePodEndsWhenItsMainContainerDoes() async throws {
        let runner = try runner(try sidecarPod(main: "echo done", policy: "Never"))
        try await runner.serve()  // returns by itself
        let r = await runner.currentRecord()
        XCTAssertEqual(r.phase, .succeeded)
        XCTAssertEqual(r[container: "main"]?.lastExitCode, 0)
        XCTAssertLessThan(index(r.events, "every main container ended"), index(r.events, "stopping side"))
    }

    func testAFailedInitContainerFailsThePodUnderNeverAndTheMainNeverStarts() async throws {
        let image = try Self.busybox.get()
        let yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: initfail}
            spec:
              restartPolicy: Never
              initContainers:
                - {name: setup, image: "\(image)", command: [sh, -c, 'exit 3']}
              containers:
                - {name: main, image: "\(image)", command: [sleep, '100']}
            """
        let runner = try runner(yaml)
        try await runner.serve()
        let r = await runner.currentRecord()
        XCTAssertEqual(r.phase, .failed)
        XCTAssertEqual(r[container: "setup"]?.lastExitCode, 3)
        XCTAssertEqual(r[container: "main"]?.attempt, 0)
    }

    func testAMissingImageFailsBeforeAnythingStartsAndLeavesNothing() async throws {
        let yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: noimage}
            spec:
              containers:
                - {name: main, image: "oci:\(root)/nowhere:latest", imagePullPolicy: IfNotPresent}
            """
        let runner = try runner(yaml)
        do {
            try await runner.serve()
            XCTFail("a pod whose image is missing ran")
        } catch {
            XCTAssertEqual(error.kind, .image)
            XCTAssertTrue(error.description.contains("container main: image oci:"), error.description)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runner.paths.directory))
    }

    func testALimitThisHostCannotEnforceIsRefusedNamingTheField() async throws {
        let image = try Self.busybox.get()
        let yaml = """
            apiVersion: v1
            kind: Pod
            metadata: {name: limited}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
                - name: main
                  image: "\(image)"
                  command: [sleep, '100']
                  resources: {limits: {memory: 64Mi}}
            """
        let controllers = (try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? ""
        try XCTSkipIf(controllers.contains("memory"), "this host has the memory controller: the limit would be enforced")
        let runner = try runner(yaml)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.serve() }
            try await waitUntil(runner, "the start refused") { $0[container: "main"]?.reason == "CreateContainerError" }
            let message = await runner.currentRecord()[container: "main"]?.message ?? ""
            XCTAssertTrue(message.contains("resources.limits.memory"), message)
            runner.requestStop()
            try await group.waitForAll()
        }
    }
}

extension Int {
    fileprivate var int32: Int32 { Int32(truncatingIfNeeded: self) }
}
