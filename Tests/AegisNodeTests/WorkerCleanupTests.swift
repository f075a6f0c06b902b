// Nothing of a sandbox outlives its workload: a cancel that comes before the sandbox exists stops
// it once created; a release removes a leaf and state directory that a create cut short left
// without a record (killing what is in the leaf); a worker's start-up removes the leftovers of
// sandboxes it has no record of and keeps those it has. Real Worker, sandboxes and cgroups.
import AegisProtocol
import AegisSandbox
import Foundation
import Logging
import XCTest
@testable import AegisNode

final class WorkerCleanupTests: XCTestCase {
    var dataDir = ""
    var cgroupParent = ""
    var parentPath: String { "/sys/fs/cgroup/unified/" + cgroupParent }

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-cleanuptest-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SandboxError.system("mkdtemp") }
        dataDir = String(cString: p)
        chmod(dataDir, 0o755)  // the agent's uid must reach its work dir
        cgroupParent = "aegis-cleanuptest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDownWithError() throws {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: parentPath)) ?? []
        let leaves = entries.filter { !$0.hasPrefix("cgroup.") && isDirectory(parentPath + "/" + $0) }
        for leaf in leaves {
            try? "1".write(toFile: parentPath + "/\(leaf)/cgroup.kill", atomically: false, encoding: .utf8)
            for _ in 0..<50 where rmdir(parentPath + "/" + leaf) != 0 { usleep(20_000) }
        }
        rmdir(parentPath)
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// A worker whose stop grace (SIGTERM to SIGKILL) is longer than any wait here: a stop that
    /// came only from the grace's SIGKILL would show.
    func makeWorker(_ events: WorkerLeaseTests.Events) throws -> Worker {
        try Worker(
            paths: AegisPaths(dataDir: dataDir), logger: Logger(label: "cleanup-test"), cgroupParent: cgroupParent,
            stopGraceSeconds: 30, onEvent: { events.append($0) })
    }

    func sleeper(_ id: String) -> Assignment {
        let spec = WorkloadSpec(tenant: "t", name: "cleanup", runtime: "sh", args: ["sleep", "60"])
        return Assignment(workload: Workload(id: id, spec: spec, generation: 1, createdAtMs: 0), uid: WorkerLeaseTests.agentUID)
    }

    /// A process (`sleep 60`) moved into the leaf at `path`, for a leaf that must be emptied before removal.
    func populate(_ path: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["60"]
        try p.run()
        try String(p.processIdentifier).write(toFile: path + "/cgroup.procs", atomically: false, encoding: .utf8)
        return p
    }

    func testACancelBeforeTheSandboxExistsStopsItOnceCreated() throws {
        let events = WorkerLeaseTests.Events()
        let worker = try makeWorker(events)
        // The controller's cancel overtook the start (the worker was still preparing the sandbox).
        worker.cancel(workloadID: "early", generation: 1)
        let start = Date()
        worker.start(sleeper("early"))
        let exited = events.wait(seconds: 8) {
            if case .exited(id: "early", _, _) = $0 { return true }; return false
        }
        guard case let .exited(_, _, report)? = exited else { return XCTFail("a cancelled sleep 60 kept running: \(events.all)") }
        XCTAssertTrue(report.cancelled, "\(report)")
        XCTAssertEqual(report.signal, SIGTERM, "stopped by the cancel's SIGTERM, not a later SIGKILL: \(report)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        worker.release(workloadID: "early", generation: 1)
        XCTAssertFalse(isDirectory(parentPath + "/early.g1"), "cgroup leaf left")
        XCTAssertFalse(isDirectory(dataDir + "/sandboxes/early.g1"), "state dir left")
    }

    func testReleaseRemovesWhatACreateCutShortLeftWithoutARecord() throws {
        let worker = try makeWorker(WorkerLeaseTests.Events())
        // A leaf (with a process in it) and a state directory, but no state.json.
        let leaf = try worker.runtime.cgroups.create(id: "cut.g3")
        let stray = try populate(leaf.path)
        XCTAssertEqual(mkdir(dataDir + "/sandboxes/cut.g3", 0o711), 0)
        worker.release(workloadID: "cut", generation: 3)
        XCTAssertFalse(isDirectory(leaf.path), "cgroup leaf left")
        XCTAssertFalse(isDirectory(dataDir + "/sandboxes/cut.g3"), "state dir left")
        stray.waitUntilExit()
        XCTAssertEqual(stray.terminationReason, .uncaughtSignal, "the process in the leaf was killed")
    }

    func testStartUpRemovesSandboxesItHasNoRecordOfAndKeepsTheOthers() throws {
        let events = WorkerLeaseTests.Events()
        var worker: Worker? = try makeWorker(events)
        worker?.start(sleeper("kept"))
        XCTAssertNotNil(
            events.wait(seconds: 10) {
                if case .started(id: "kept", _, _) = $0 { return true }; return false
            }, "\(events.all)")
        // Leftovers of a worker that stopped in the middle of creates: a leaf with a process and no
        // state, an empty leaf, a state directory without state.json; and a cgroup that is no sandbox.
        let runtime = try XCTUnwrap(worker?.runtime)
        let busy = try runtime.cgroups.create(id: "orphan.g1")
        let stray = try populate(busy.path)
        let empty = try runtime.cgroups.create(id: "orphan.g2")
        XCTAssertEqual(mkdir(dataDir + "/sandboxes/halfway.g1", 0o711), 0)
        XCTAssertEqual(mkdir(parentPath + "/not-a-sandbox", 0o755), 0)
        worker = nil

        let restarted = try makeWorker(events)
        XCTAssertFalse(isDirectory(busy.path), "leaf with a process left")
        XCTAssertFalse(isDirectory(empty.path), "empty leaf left")
        XCTAssertFalse(isDirectory(dataDir + "/sandboxes/halfway.g1"), "state dir without a record left")
        XCTAssertTrue(isDirectory(parentPath + "/not-a-sandbox"), "a cgroup not named like a sandbox is not ours to remove")
        stray.waitUntilExit()
        XCTAssertTrue(isDirectory(parentPath + "/kept.g1"), "a recorded sandbox must be kept")
        XCTAssertEqual(try restarted.runtime.state("kept.g1").status, .running)
        restarted.release(workloadID: "kept", generation: 1)
        XCTAssertFalse(isDirectory(parentPath + "/kept.g1"))
        rmdir(parentPath + "/not-a-sandbox")
    }
}
