// InProcessNodeTests.swift — a hybrid node (controller + worker) started inside the test process
// through AegisDaemon: a submitted `/bin/true` runs in a real sandbox and succeeds; the node stops
// in order and leaves no pid file, socket or sandbox behind.
import AegisClient
import AegisDaemon
import AegisProtocol
import Foundation
import XCTest

final class InProcessNodeTests: XCTestCase {
    var dataDir = ""
    let cgroupParent = "aegis-daemon-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("a hybrid node's worker creates sandboxes: needs root") }
        var template = Array("/tmp/aegis-daemon-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dataDir = String(cString: p)
    }

    override func tearDown() {
        let parent = "/sys/fs/cgroup/unified/" + cgroupParent
        for leaf in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where !leaf.hasPrefix("cgroup.") {
            try? "1".write(toFile: parent + "/\(leaf)/cgroup.kill", atomically: false, encoding: .utf8)
            rmdir(parent + "/" + leaf)
        }
        rmdir(parent)
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    func testAHybridNodeInProcessRunsBinTrueToSuccessAndStopsInOrder() async throws {
        let node = try await InProcessNode.start(dataDir: dataDir, name: "in-process") { $0.cgroupParent = cgroupParent }
        let client = try node.client()
        XCTAssertGreaterThan(node.apiPort, 0, "the TCP API is up too")
        let nodes = try await client.nodes()
        XCTAssertEqual(nodes.map(\.name), ["in-process"])
        XCTAssertEqual(nodes.first?.role, .hybrid)

        let submitted = try await client.submit(SubmitRequest(run: RunFlags(command: ["/bin/true"])))
        var detail = try await client.workload(id: submitted.id)
        let deadline = ContinuousClock.now + .seconds(30)
        while !detail.workload.state.isFinal && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            detail = try await client.workload(id: submitted.id)
        }
        XCTAssertEqual(detail.workload.state, .succeeded, "\(detail.workload)")
        XCTAssertEqual(detail.workload.exitCode, 0)
        XCTAssertEqual(detail.workload.node, "in-process")

        try await node.stop(drain: true)
        let paths = AegisPaths(dataDir: dataDir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.pidFile), "the pid file is removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.socket), "the socket is removed")
        let sandboxes = (try? FileManager.default.contentsOfDirectory(atPath: paths.sandboxes)) ?? []
        XCTAssertEqual(sandboxes.filter { !$0.hasPrefix(".") }, [], "the ended sandbox was released")
    }

    /// A stop while a long agent runs: without drain the agent is left running (re-adopted by the
    /// next start, which then drains it and records it cancelled).
    func testAStopWithoutDrainLeavesTheAgentForTheNextStart() async throws {
        let first = try await InProcessNode.start(dataDir: dataDir, name: "in-process") { $0.cgroupParent = cgroupParent }
        let submitted = try await first.client().submit(SubmitRequest(run: RunFlags(command: ["/bin/sleep", "600"])))
        let deadline = ContinuousClock.now + .seconds(30)
        while try await first.client().workload(id: submitted.id).workload.state != .running {
            guard ContinuousClock.now < deadline else { return XCTFail("never running") }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await first.stop(drain: false)

        let second = try await InProcessNode.start(dataDir: dataDir, name: "in-process") { $0.cgroupParent = cgroupParent }
        let readopted = try await second.client().workload(id: submitted.id).workload
        XCTAssertEqual(readopted.state, .running, "re-adopted: \(readopted)")
        try await second.stop(drain: true)
        let paths = AegisPaths(dataDir: dataDir)
        let third = try await InProcessNode.start(dataDir: dataDir, name: "in-process") { $0.cgroupParent = cgroupParent }
        let ended = try await third.client().workload(id: submitted.id).workload
        XCTAssertEqual(ended.state, .cancelled, "\(ended)")
        try await third.stop(drain: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.pidFile))
    }

    /// A controller and a worker in one process, joined over the real cluster port (TLS join,
    /// mutual-TLS session): `/bin/true` lands on the worker and succeeds.
    func testAControllerAndAWorkerInProcessRunBinTrueOnTheWorker() async throws {
        let controller = try await InProcessNode.start(dataDir: dataDir + "/controller", name: "ctl", role: .controller) {
            $0.listen = "127.0.0.1:0"
        }
        let client = try controller.client()
        let token = try await client.createJoinToken(CreateJoinTokenRequest(role: .worker, ttlSeconds: 600)).token
        let url = try XCTUnwrap(controller.clusterURL)
        let worker = try await InProcessWorker.start(dataDir: dataDir + "/worker", name: "w1", join: url, token: token) {
            $0.cgroupParent = cgroupParent
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await client.nodes().first(where: { $0.name == "w1" })?.state != .ready {
            guard ContinuousClock.now < deadline else { return XCTFail("w1 never Ready: \(try await client.nodes())") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let submitted = try await client.submit(SubmitRequest(run: RunFlags(command: ["/bin/true"])))
        var final = try await client.workload(id: submitted.id).workload
        while !final.state.isFinal && ContinuousClock.now < deadline + .seconds(30) {
            try await Task.sleep(for: .milliseconds(50))
            final = try await client.workload(id: submitted.id).workload
        }
        XCTAssertEqual(final.state, .succeeded, "\(final)")
        XCTAssertEqual(final.node, "w1")
        try await worker.stop(drain: true)
        try await controller.stop(drain: false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dataDir + "/worker/aegis.pid"))
    }
}
