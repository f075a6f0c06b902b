// ControllerLeaseTests.swift — the controller's side of remote workers without a network: a real
// SQLite store, a Controller with short lease timing, and RemoteWorkerLinks whose `send` records
// the node-protocol messages the controller would write to each worker's session.
import AegisControl
import AegisProtocol
import AegisStore
import Foundation
import Glibc
import Logging
import Synchronization
import XCTest

/// Messages a RemoteWorkerLink handed to its (absent) session.
final class Outbox: Sendable {
    let messages = Mutex<[SessionMessage]>([])
    func record(_ m: SessionMessage) { messages.withLock { $0.append(m) } }
    func of(_ type: SessionMessage.Kind) -> [SessionMessage] { messages.withLock { $0.filter { $0.kind == type } } }
}

final class ControllerLeaseTests: StoreBackedTestCase {
    var controller: Controller!

    override func setUpWithError() throws {
        try super.setUpWithError()
        let leases = try LeaseTracker(
            config: LeaseConfig(
                renewEvery: .milliseconds(50), notReadyAfter: .milliseconds(300),
                downAfter: .milliseconds(600), rescheduleMargin: .milliseconds(200)))
        controller = Controller(store: SQLiteStateStore(store), logger: Logger(label: "test.controller"), leases: leases)
    }

    override func tearDownWithError() throws {
        controller = nil
        try super.tearDownWithError()
    }

    let admin = Caller(isAdmin: true, tenant: "default")

    func attach(_ name: String, graceMs: Int? = nil) async throws -> (RemoteWorkerLink, Outbox) {
        let box = Outbox()
        let link = RemoteWorkerLink(node: name, lease: controller.leaseTerms, send: { box.record($0) })
        var caps = NodeCapabilities(cpuMillis: 2000, memoryBytes: 4 << 30)
        caps.leaseGraceMs = graceMs
        try await controller.attach(node: NodeInfo(name: name, role: .worker, capabilities: caps), link: link)
        return (link, box)
    }

    func submit(restart: RestartPolicy) async throws -> Workload {
        let run = RunFlags(restart: restart.rawValue, command: ["sleep", "100"])
        return try await controller.submit(SubmitRequest(run: run), caller: admin)
    }

    /// The lease monitor, and `node` renewing every 50 ms (cancel both when done).
    func monitorAndRenew(_ node: String) -> [Task<Void, Never>] {
        let c = controller!
        return [
            Task { await c.runLeaseMonitor() },
            Task {
                while !Task.isCancelled {
                    _ = await c.renewLease(node: node)
                    try? await Task.sleep(for: .milliseconds(50))
                }
            },
        ]
    }

    func waitFor(_ what: String, timeout: Double = 5, _ check: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("timed out waiting for \(what)")
    }

    func testWelcomeCarriesTheLeaseTermsAndThePlacementsTheWorkerShouldHold() async throws {
        let (_, box) = try await attach("w1")
        let welcome = try XCTUnwrap(box.of(.welcome).first)
        XCTAssertEqual(welcome.version, NodeSession.version)
        XCTAssertEqual(welcome.lease, LeaseTerms(renewEveryMs: 50, notReadyAfterMs: 300, downAfterMs: 600, rescheduleMarginMs: 200))
        XCTAssertEqual(welcome.active, [])
        let w = try await submit(restart: .never)
        let start = try XCTUnwrap(box.of(.start).first)
        XCTAssertEqual(start.workload?.id, w.id)
        XCTAssertEqual(start.workload?.generation, 1)
        // A second session of the same node (a reconnect) is told to keep that placement.
        let (_, second) = try await attach("w1")
        XCTAssertEqual(second.of(.welcome).first?.active, [PlacementRef(id: w.id, generation: 1)])
    }

    /// No renewals: NotReady, Down, then (after the margin) the agents move by restart policy —
    /// always → pending and placed again on the other node with a new generation; never → lost.
    func testAgentsOfADownNodeAreRescheduledByRestartPolicyOnlyAfterTheMargin() async throws {
        let registeredAt = Date()  // at or before w1's last lease renewal
        let (_, box1) = try await attach("w1")
        let always = try await submit(restart: .always)
        let never = try await submit(restart: .never)
        XCTAssertEqual(box1.of(.start).count, 2)
        await controller.handle(.started(id: always.id, generation: 1, pid: 10))
        await controller.handle(.started(id: never.id, generation: 1, pid: 11))
        let (_, box2) = try await attach("w2")
        // w2 keeps renewing; w1 is silent.
        let tasks = monitorAndRenew("w2")
        defer { tasks.forEach { $0.cancel() } }
        try await waitFor("w1 NotReady") { try await self.controller.node(name: "w1", caller: self.admin).state == .notReady }
        let during = try await controller.workload(id: always.id, caller: admin)
        XCTAssertEqual(during.state, .running, "NotReady moves nothing")
        try await waitFor("w1 Down") { try await self.controller.node(name: "w1", caller: self.admin).state == .down }
        try await waitFor("agent moved") { try await self.controller.workload(id: always.id, caller: self.admin).node == "w2" }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(registeredAt), 0.8, "moved only after Down (0.6 s) + margin (0.2 s)")
        let moved = try await controller.workload(id: always.id, caller: admin)
        XCTAssertEqual(moved.generation, 2)
        XCTAssertEqual(moved.restarts, 1)
        try await waitFor("start sent to w2") { box2.of(.start).first?.workload?.id == always.id }  // sent right after the store update
        let lost = try await controller.workload(id: never.id, caller: admin)
        XCTAssertEqual(lost.state, .lost)
        XCTAssertTrue(lost.reason?.contains("node w1 is Down") == true, lost.reason ?? "")
        XCTAssertEqual(box2.of(.start).count, 1, "the restart-never agent is not placed again")
    }

    /// A returning worker reports the stale copy as started: it is told to stop and remove it, and
    /// the workload's current placement is untouched.
    func testAStaleGenerationReportedByAReturningWorkerIsStoppedAndReleased() async throws {
        let (_, box1) = try await attach("w1")
        let w = try await submit(restart: .always)
        await controller.handle(.started(id: w.id, generation: 1, pid: 10))
        let (_, box2) = try await attach("w2")
        _ = try await controller.cordon(name: "w1", caller: admin)  // as Down: receives no new work
        await controller.rescheduleAgents(ofDownNode: "w1")
        let now = try await controller.workload(id: w.id, caller: admin)
        XCTAssertEqual(now.node, "w2")
        XCTAssertEqual(now.generation, 2)
        XCTAssertEqual(box2.of(.start).first?.workload?.generation, 2)
        await controller.handle(.started(id: w.id, generation: 1, pid: 10), from: "w1")
        XCTAssertEqual(box1.of(.cancel).last?.placement, PlacementRef(id: w.id, generation: 1))
        await controller.handle(.exited(id: w.id, generation: 1, report: ExitReport(exitCode: 137, signal: 9, fenced: true)), from: "w1")
        XCTAssertTrue(box2.of(.cancel).isEmpty, "the current copy on w2 is left alone")
        XCTAssertEqual(box1.of(.release).last?.placement, PlacementRef(id: w.id, generation: 1))
        let after = try await controller.workload(id: w.id, caller: admin)
        XCTAssertEqual(after.state, .scheduled)
        XCTAssertEqual(after.node, "w2")
        // w1 reporting the current generation (w2's copy) as exited changes nothing either.
        await controller.handle(.exited(id: w.id, generation: 2, report: ExitReport(exitCode: 0)), from: "w1")
        let still = try await controller.workload(id: w.id, caller: admin)
        XCTAssertEqual(still.state, .scheduled, "a worker cannot end another node's agent")
        XCTAssertEqual(still.generation, 2)
    }

    func testRenewalKeepsLiveCapacityAndARecoveryTellsTheWorkerWhatToHold() async throws {
        let (_, box) = try await attach("w1")
        let state = await controller.renewLease(node: "w1", capacity: LiveCapacity(runningAgents: 3, memoryAvailableBytes: 1 << 30))
        XCTAssertEqual(state, .ready)
        let info = try await controller.node(name: "w1", caller: admin)
        let live = try XCTUnwrap(info.live)
        XCTAssertEqual(live.runningAgents, 3)
        XCTAssertNotNil(live.reportedAtMs)
        let unknown = await controller.renewLease(node: "nobody")
        XCTAssertNil(unknown, "a node without a lease gets no acknowledgement")
        // Let the lease lapse to NotReady, then renew: one recovery, and a fresh welcome.
        try await Task.sleep(for: .milliseconds(350))
        let c = controller!
        let monitor = Task { await c.runLeaseMonitor() }
        defer { monitor.cancel() }
        try await waitFor("NotReady") { try await self.controller.node(name: "w1", caller: self.admin).state == .notReady }
        let welcomes = box.of(.welcome).count
        _ = await controller.renewLease(node: "w1")
        let recovered = try await controller.node(name: "w1", caller: admin)
        XCTAssertEqual(recovered.state, .ready)
        XCTAssertEqual(box.of(.welcome).count, welcomes + 1)
    }

    func testRequestsAreAnsweredBySeqAndFailWhenTheSessionCloses() async throws {
        let box = Outbox()
        let link = RemoteWorkerLink(node: "w1", lease: LeaseTerms(), requestTimeout: .milliseconds(300), send: { box.record($0) })
        async let files = link.outputs(id: "a-1", outputDir: "output")
        try await waitFor("request sent") { !box.of(.request).isEmpty }
        let request = try XCTUnwrap(box.of(.request).first)
        XCTAssertEqual(request.request?.kind, .outputs)
        link.deliver(seq: request.seq!, reply: WorkerReply(paths: ["a.txt", "b/c.txt"]))
        let got = await files
        XCTAssertEqual(got, ["a.txt", "b/c.txt"])
        // No reply: the request times out with the node named.
        do {
            _ = try await link.readOutput(id: "a-1", outputDir: "output", path: "a.txt")
            XCTFail("expected a timeout")
        } catch {
            XCTAssertTrue("\(error)".contains("w1") && "\(error)".contains("did not answer"), "\(error)")
        }
        async let pending: [UInt8] = link.readOutput(id: "a-1", outputDir: "output", path: "x")
        try await waitFor("second request") { box.of(.request).count == 3 }
        link.close(reason: "session ended")
        do { _ = try await pending; XCTFail("expected the close to fail the request") } catch {
            XCTAssertTrue("\(error)".contains("session ended"), "\(error)")
        }
        do { _ = try await link.readOutput(id: "a-1", outputDir: "output", path: "x"); XCTFail("closed links refuse requests") } catch {
            XCTAssertTrue("\(error)".contains("not connected"), "\(error)")
        }
    }

    /// A worker whose grace (1.5 s) is longer than Down (0.6 s): its agent moves only at its last
    /// renewal + grace + margin — also when an earlier outage's wait is still pending, and also
    /// after a capability update that does not mention the grace.
    func testALongerGraceIsWaitedForPerOutageAndSurvivesCapabilityUpdates() async throws {
        let (_, _) = try await attach("w1", graceMs: 1500)
        let w = try await submit(restart: .always)
        await controller.handle(.started(id: w.id, generation: 1, pid: 10))
        _ = try await attach("w2")
        _ = await controller.renewLease(node: "w1", capabilities: NodeCapabilities(cpuMillis: 2000, memoryBytes: 4 << 30))
        let stored = try await controller.node(name: "w1", caller: admin)
        XCTAssertEqual(stored.capabilities.leaseGraceMs, 1500, "an update without the grace keeps it")
        let tasks = monitorAndRenew("w2")
        defer { tasks.forEach { $0.cancel() } }
        // First outage: Down at 0.6 s, the grace wait is armed at 0.8 s (fires at 1.7 s); the node
        // comes back at 1.0 s and goes silent again.
        try await waitFor("w1 Down") { try await self.controller.node(name: "w1", caller: self.admin).state == .down }
        try await Task.sleep(for: .milliseconds(300))
        let renewedAt = Date()
        _ = await controller.renewLease(node: "w1")
        try await Task.sleep(for: .milliseconds(1_300))  // past the first outage's timer (1.7 s)
        let kept = try await controller.workload(id: w.id, caller: admin)
        XCTAssertEqual(kept.node, "w1", "the first outage's wait must not move the agent during the second")
        try await waitFor("agent moved") { try await self.controller.workload(id: w.id, caller: self.admin).node == "w2" }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(renewedAt), 1.7, "moved at renewal + grace (1.5 s) + margin (0.2 s)")
    }

    /// A kill asked for while the node was away, and the node then Down: the agent ends cancelled
    /// instead of being placed elsewhere.
    func testAStopRequestedWhileTheNodeWasAwayWinsOverRescheduling() async throws {
        _ = try await attach("w1")
        let w = try await submit(restart: .always)
        await controller.handle(.started(id: w.id, generation: 1, pid: 10))
        _ = try await attach("w2")
        _ = try await controller.cancel(id: w.id, caller: admin)
        _ = try await controller.cordon(name: "w1", caller: admin)
        await controller.rescheduleAgents(ofDownNode: "w1")
        let after = try await controller.workload(id: w.id, caller: admin)
        XCTAssertEqual(after.state, .cancelled)
        XCTAssertEqual(after.generation, 1, "not placed again")
    }
}

/// The payload fields these tests read, as optionals of the frame they belong to.
extension SessionMessage {
    var version: Int? {
        switch self {
        case .hello(let v, _), .welcome(let v, _, _): v
        default: nil
        }
    }
    var lease: LeaseTerms? { if case .welcome(_, let lease, _) = self { lease } else { nil } }
    var active: [PlacementRef]? { if case .welcome(_, _, let active) = self { active } else { nil } }
    var workload: Workload? { if case .start(let command) = self { command.workload } else { nil } }
    var placement: PlacementRef? {
        switch self {
        case .cancel(let p), .release(let p): p
        default: nil
        }
    }
    var request: WorkerRequest? { if case .request(_, let r) = self { r } else { nil } }
    var seq: UInt64? { if case .request(let seq, _) = self { seq } else { nil } }
}
