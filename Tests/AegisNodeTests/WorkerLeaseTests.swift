// The worker's lease: refreshed on a timer while renewing, passed to every sandbox; once renewal
// stops, the agents' supervisors fence them and the worker reports `.exited` with `fenced`.
// Real Worker, real sandboxes (`sleep 60`), real cgroups under a test-only parent.
import AegisProtocol
import AegisSandbox
import Foundation
import Logging
import XCTest
@testable import AegisNode

final class WorkerLeaseTests: XCTestCase {
    static let agentUID: UInt32 = 40124
    var dataDir = ""
    var cgroupParent = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-leasetest-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SandboxError.system("mkdtemp") }
        dataDir = String(cString: p)
        chmod(dataDir, 0o755)  // the agent's uid must reach its work dir
        cgroupParent = "aegis-leasetest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDownWithError() throws {
        let parent = "/sys/fs/cgroup/unified/" + cgroupParent
        rmdir(parent)
        XCTAssertFalse(FileManager.default.fileExists(atPath: parent), "cgroup parent left behind: \(parent)")
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    /// Events the worker reported, in order.
    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [WorkerEvent] = []
        func append(_ e: WorkerEvent) { lock.lock(); list.append(e); lock.unlock() }
        var all: [WorkerEvent] { lock.lock(); defer { lock.unlock() }; return list }

        /// Waits until an event matches (polling every 10 ms), up to `seconds`.
        func wait(seconds: Double, _ match: (WorkerEvent) -> Bool) -> WorkerEvent? {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if let e = all.first(where: match) { return e }
                usleep(10_000)
            }
            return all.first(where: match)
        }
    }

    func makeWorker(lease: WorkerLease?, events: Events) throws -> Worker {
        try Worker(
            paths: AegisPaths(dataDir: dataDir), logger: Logger(label: "lease-test"), cgroupParent: cgroupParent,
            lease: lease, onEvent: { events.append($0) })
    }

    func sleeper(_ id: String, generation: Int64 = 1) -> Assignment {
        let spec = WorkloadSpec(tenant: "t", name: "fence", runtime: "sh", args: ["sleep", "60"])
        return Assignment(workload: Workload(id: id, spec: spec, generation: generation, createdAtMs: 0), uid: Self.agentUID)
    }

    func mtime(_ path: String) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { return -1 }
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    func testStoppingRenewalFencesTheAgentAndTheWorkerReportsIt() throws {
        let events = Events()
        let lease = WorkerLease(paths: AegisPaths(dataDir: dataDir), graceMs: 1500, refreshEveryMs: 200)
        XCTAssertEqual(lease.path, dataDir + "/lease")
        let worker = try makeWorker(lease: lease, events: events)
        defer {
            worker.stopRenewingLease()
            worker.release(workloadID: "w-fence", generation: 1)
            worker.release(workloadID: "w-after", generation: 1)
            worker.release(workloadID: "w-after", generation: 2)
        }
        // The lease file exists at once, mode 0644, and the timer keeps it fresh.
        var st = stat()
        XCTAssertEqual(stat(lease.path, &st), 0, "lease file not created")
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
        XCTAssertTrue(worker.isRenewingLease)
        let first = mtime(lease.path)

        worker.start(sleeper("w-fence"))
        let started = events.wait(seconds: 10) {
            if case .started(id: "w-fence", _, _) = $0 { return true }; return false
        }
        XCTAssertNotNil(started, "agent did not start: \(events.all)")
        let sid = Worker.sandboxID("w-fence", 1)
        let record = try worker.runtime.record(sid)
        XCTAssertEqual(record.leaseFile, lease.path)
        XCTAssertEqual(record.leaseGraceMs, 1500)

        // Well past the grace, the agent still runs: the worker's timer renews the lease.
        usleep(2_500_000)
        XCTAssertGreaterThan(mtime(lease.path), first, "lease not refreshed")
        XCTAssertEqual(try worker.runtime.state(sid).status, .running)
        XCTAssertTrue(
            events.all.allSatisfy {
                if case .exited = $0 { return false }; return true
            }, "\(events.all)")

        // The controller stopped acknowledging: no more renewals → the supervisor fences the agent.
        worker.stopRenewingLease()
        XCTAssertFalse(worker.isRenewingLease)
        usleep(50_000)
        let last = mtime(lease.path)
        let exited = events.wait(seconds: 6) {
            if case .exited(id: "w-fence", _, _) = $0 { return true }; return false
        }
        guard case let .exited(_, generation, report)? = exited else { return XCTFail("no exit reported: \(events.all)") }
        XCTAssertEqual(generation, 1)
        XCTAssertEqual(report.fenced, true, "\(report)")
        XCTAssertEqual(report.signal, SIGKILL)
        XCTAssertFalse(report.cancelled)
        XCTAssertFalse(report.timedOut)
        XCTAssertEqual(mtime(lease.path), last, "the lease was refreshed after stopRenewingLease()")
        let outcome = try XCTUnwrap(worker.runtime.outcome(sid))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(outcome.leaseAgeMs), 1500)
        XCTAssertEqual(try String(contentsOfFile: try XCTUnwrap(record.cgroupPath) + "/cgroup.procs", encoding: .utf8), "")

        // On a lapsed lease no new agent starts; one explicit renewal (an acknowledged lease) and
        // the worker starts agents again.
        worker.start(sleeper("w-after"))
        let refused = events.wait(seconds: 5) {
            if case .failedToStart(id: "w-after", _, _) = $0 { return true }; return false
        }
        guard case let .failedToStart(_, _, error)? = refused else { return XCTFail("started on a lapsed lease: \(events.all)") }
        XCTAssertTrue(error.contains("lapsed"), error)
        try worker.renewLease()
        XCTAssertGreaterThan(mtime(lease.path), last)
        worker.start(sleeper("w-after", generation: 2))
        let again = events.wait(seconds: 10) {
            if case .started(id: "w-after", generation: 2, _) = $0 { return true }; return false
        }
        XCTAssertNotNil(again, "\(events.all)")
    }

    func testWorkerWithoutLeasePassesNoneAndRejectsBadLeases() throws {
        let events = Events()
        let worker = try makeWorker(lease: nil, events: events)
        XCTAssertNil(worker.createOptions(logDirectory: dataDir).leaseFile)
        XCTAssertFalse(worker.isRenewingLease)
        XCTAssertNoThrow(try worker.renewLease())
        XCTAssertEqual(access(dataDir + "/lease", F_OK), -1, "no lease file without a lease")
        for bad in [
            WorkerLease(path: "relative"), WorkerLease(path: dataDir + "/l", graceMs: 0),
            WorkerLease(path: dataDir + "/l", graceMs: 1000, refreshEveryMs: 1000),
        ] {
            XCTAssertThrowsError(try makeWorker(lease: bad, events: events)) { e in
                XCTAssertEqual((e as? SandboxError)?.kind, .invalidSpec, "\(e)")
            }
        }
    }
}
