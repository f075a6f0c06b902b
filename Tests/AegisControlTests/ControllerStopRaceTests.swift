// ControllerStopRaceTests.swift — cancels and ends that interleave with a placement: a kill while the
// worker is still creating the sandbox is asked again once it has started; every end of a placement
// (failed start, lost) releases the sandbox; a workload cancelled while a scheduling pass was
// waiting on the worker is not placed by that pass. Real SQLite store and Controller.
import AegisControl
import AegisProtocol
import AegisStore
import Foundation
import Glibc
import Logging
import Synchronization
import XCTest

/// A worker link that records the calls, and whose `start` of the first workload waits until
/// `openGate()` (a worker still creating the sandbox while the controller goes on).
final class GatedLink: WorkerLink, Sendable {
    let calls = Mutex<[String]>([])
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func record(_ s: String) { calls.withLock { $0.append(s) } }
    func recorded(_ prefix: String) -> [String] { calls.withLock { $0.filter { $0.hasPrefix(prefix) } } }

    func openGate() {
        let waiting = gate.withLock { g -> [CheckedContinuation<Void, Never>] in
            g.open = true
            defer { g.waiting = [] }
            return g.waiting
        }
        for c in waiting { c.resume() }
    }

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        record("start \(workload.id).g\(workload.generation)")
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let open = gate.withLock { g -> Bool in
                if !g.open { g.waiting.append(c) }
                return g.open
            }
            if open { c.resume() }
        }
    }
    func cancel(id: String, generation: Int64) async { record("cancel \(id).g\(generation)") }
    func release(id: String, generation: Int64) async { record("release \(id).g\(generation)") }
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}
}

final class ControllerStopRaceTests: StoreBackedTestCase {
    var controller: Controller!
    let admin = Caller(isAdmin: true, tenant: "default")

    override func setUpWithError() throws {
        try super.setUpWithError()
        controller = Controller(
            store: SQLiteStateStore(store), logger: Logger(label: "test.controller"), leases: try LeaseTracker(config: LeaseConfig()))
    }

    override func tearDownWithError() throws {
        controller = nil
        try super.tearDownWithError()
    }

    func register(_ link: any WorkerLink) async throws {
        try await controller.register(
            node: NodeInfo(name: "n1", role: .hybrid, capabilities: NodeCapabilities(cpuMillis: 4000, memoryBytes: 8 << 30)),
            link: link)
    }

    func submit(_ command: [String] = ["sleep", "100"]) async throws -> Workload {
        try await controller.submit(SubmitRequest(run: RunFlags(command: command)), caller: admin)
    }

    func testAKillWhileTheSandboxIsBeingCreatedIsAskedAgainOnceItStarted() async throws {
        let link = GatedLink()
        link.openGate()
        try await register(link)
        let w = try await submit()
        XCTAssertEqual(link.recorded("start"), ["start \(w.id).g1"])
        // The worker had nothing to signal yet: this cancel may have found no sandbox.
        _ = try await controller.cancel(id: w.id, caller: admin)
        XCTAssertEqual(link.recorded("cancel").count, 1)
        await controller.handle(.started(id: w.id, generation: 1, pid: 42))
        XCTAssertEqual(link.recorded("cancel"), ["cancel \(w.id).g1", "cancel \(w.id).g1"], "the stop must be asked again")
        // Without a kill, a start is not followed by a cancel.
        let other = try await submit()
        await controller.handle(.started(id: other.id, generation: 1, pid: 43))
        XCTAssertFalse(link.recorded("cancel").contains("cancel \(other.id).g1"))
    }

    func testEveryEndOfAPlacementReleasesItsSandbox() async throws {
        let link = GatedLink()
        link.openGate()
        try await register(link)
        let failed = try await submit()
        await controller.handle(.failedToStart(id: failed.id, generation: 1, error: "clone3: EAGAIN"))
        let lost = try await submit()
        await controller.handle(.started(id: lost.id, generation: 1, pid: 7))
        await controller.handle(.lost(id: lost.id, generation: 1))
        let exited = try await submit()
        await controller.handle(.exited(id: exited.id, generation: 1, report: ExitReport(exitCode: 0)))
        XCTAssertEqual(Set(link.recorded("release")), ["release \(failed.id).g1", "release \(lost.id).g1", "release \(exited.id).g1"])
        let states = try [failed, lost, exited].map { try store.workload(id: $0.id)?.state }
        XCTAssertEqual(states, [.failed, .lost, .succeeded])
    }

    /// A scheduling pass lists the pending workloads, then awaits the worker for each placement: a
    /// workload cancelled meanwhile must stay cancelled (not be placed, started and run).
    func testAWorkloadCancelledWhileAPassWaitsOnTheWorkerIsNotPlaced() async throws {
        let link = GatedLink()
        try await register(link)
        _ = try await controller.cordon(name: "n1", caller: admin)
        let first = try await submit()
        let second = try await submit()
        let controller = controller!, admin = admin
        // The pass: places `first`, whose start waits at the gate; `second` is in its list.
        let pass = Task { _ = try await controller.uncordon(name: "n1", caller: admin) }
        for _ in 0..<500 where link.recorded("start").isEmpty { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertEqual(link.recorded("start"), ["start \(first.id).g1"])
        let cancelled = try await controller.cancel(id: second.id, caller: admin)
        XCTAssertEqual(cancelled.state, .cancelled)
        link.openGate()
        try await pass.value
        XCTAssertEqual(link.recorded("start"), ["start \(first.id).g1"], "the cancelled workload was started")
        XCTAssertEqual(try store.workload(id: second.id)?.state, .cancelled)
    }
}
