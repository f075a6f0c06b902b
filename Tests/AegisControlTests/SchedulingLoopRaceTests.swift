// SchedulingLoopRaceTests.swift — the scheduling loop under concurrency: 500 submissions, cancels
// and node registrations at once against a controller (real SQLite store) whose worker link
// suspends on every start. No workload may be started twice (each generation once, no stale
// generation killed), no two passes may dispatch at once, and a tenant's running-agents quota holds.
import AegisControl
import AegisProtocol
import AegisStore
import Foundation
import Glibc
import Logging
import Synchronization
import XCTest

/// A worker link that suspends in every `start` (as a real worker creating a sandbox does) and
/// records what the controller asked; started workloads and acknowledged cancels are reported back
/// to the controller by `reportPending` (the worker's event path), never from inside a call.
final class SuspendingLink: WorkerLink, Sendable {
    struct Log {
        /// Every (workload, generation) the controller asked to start, in order.
        var starts: [String] = []
        /// Cancels, as "id.gGEN".
        var cancels: [(id: String, generation: Int64)] = []
        /// Starts inside `start` right now, and the most seen at once.
        var inFlight = 0
        var maxInFlight = 0
        /// Agents running as the worker sees them, per tenant, and the most seen at once.
        var running: [String: Set<String>] = [:]
        var maxRunning = 0
        /// Events for the controller, in the order they happened.
        var outbox: [WorkerEvent] = []
        var tenantOf: [String: String] = [:]
    }
    let log = Mutex(Log())

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        log.withLock {
            $0.starts.append("\(workload.id).g\(workload.generation)")
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
        // The worker creating the sandbox: the controller goes on meanwhile.
        await Task.yield()
        try? await Task.sleep(for: .microseconds(Int.random(in: 50...400)))
        log.withLock {
            $0.inFlight -= 1
            let tenant = workload.spec.tenant
            $0.tenantOf[workload.id] = tenant
            $0.running[tenant, default: []].insert(workload.id)
            $0.maxRunning = max($0.maxRunning, $0.running[tenant]?.count ?? 0)
            $0.outbox.append(.started(id: workload.id, generation: workload.generation, pid: 100))
        }
    }

    func cancel(id: String, generation: Int64) async {
        log.withLock {
            $0.cancels.append((id, generation))
            guard let tenant = $0.tenantOf[id], $0.running[tenant]?.remove(id) != nil else { return }
            $0.outbox.append(.exited(id: id, generation: generation, report: ExitReport(exitCode: 0, signal: 15, cancelled: true)))
        }
    }

    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}

    /// Hands the queued events to the controller, one at a time (as the event pump does).
    /// - Returns: how many were handed over.
    @discardableResult
    func reportPending(to controller: Controller) async -> Int {
        let events = log.withLock { l -> [WorkerEvent] in
            defer { l.outbox = [] }
            return l.outbox
        }
        for e in events { await controller.handle(e) }
        return events.count
    }
}

final class SubmittedIDs: Sendable {
    let ids = Mutex<[String]>([])
}

final class SchedulingLoopRaceTests: StoreBackedTestCase {
    var controller: Controller!
    let admin = Caller(isAdmin: true, tenant: "default")
    static let quotaAgents = 150

    override func setUpWithError() throws {
        try super.setUpWithError()
        controller = Controller(
            store: SQLiteStateStore(store), logger: Logger(label: "test.controller"), leases: try LeaseTracker(config: LeaseConfig()))
    }

    override func tearDownWithError() throws {
        controller = nil
        try super.tearDownWithError()
    }

    static func node(_ name: String) -> NodeInfo {
        NodeInfo(name: name, role: .worker, capabilities: NodeCapabilities(cpuMillis: 64_000, memoryBytes: 256 << 30))
    }

    func testConcurrentSubmitsCancelsAndRegistrationsNeverStartAWorkloadTwice() async throws {
        let controller = controller!, admin = admin
        _ = try await controller.createTenant(
            CreateTenantRequest(name: "race", quota: Quota(runningAgents: Self.quotaAgents)),
            caller: admin)
        let tenant = Caller(isAdmin: false, tenant: "race")
        let link = SuspendingLink()
        try await controller.register(node: Self.node("n0"), link: link)
        let submitted = SubmittedIDs()
        let pump = Task {
            while !Task.isCancelled {
                if await link.reportPending(to: controller) == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<500 {
                group.addTask {
                    switch i % 5 {
                    case 0, 1, 2:
                        let w = try await controller.submit(SubmitRequest(run: RunFlags(command: ["sleep", "100"])), caller: tenant)
                        submitted.ids.withLock { $0.append(w.id) }
                    case 3:
                        // The latest submission: most likely still being placed or started.
                        var latest: String?
                        for _ in 0..<2000 where latest == nil {
                            latest = submitted.ids.withLock { $0.last }
                            if latest == nil { try await Task.sleep(for: .milliseconds(1)) }
                        }
                        guard let id = latest else { return }
                        _ = try await controller.cancel(id: id, caller: tenant)
                    default:
                        // New nodes, and node n0 registering again (a reconnect).
                        try await controller.register(node: Self.node(i % 20 == 4 ? "n0" : "n\(i)"), link: link)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Let the last starts and exits settle.
        for _ in 0..<200 {
            let busy = link.log.withLock { $0.inFlight > 0 || !$0.outbox.isEmpty }
            if !busy { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        pump.cancel()
        _ = await pump.value
        await link.reportPending(to: controller)

        let log = link.log.withLock { $0 }
        print("scheduling race: \(log.starts.count) starts, \(log.cancels.count) cancels, max \(log.maxInFlight) starts in flight")
        XCTAssertGreaterThanOrEqual(log.starts.count, Self.quotaAgents, "the test must have filled the quota")
        var startsPerWorkload: [String: [Int64]] = [:]
        for s in log.starts {
            let parts = s.split(separator: ".g")
            startsPerWorkload[String(parts[0]), default: []].append(Int64(parts[1])!)
        }
        let twice = startsPerWorkload.filter { $0.value.count > 1 }
        XCTAssertEqual(twice.count, 0, "workloads started more than once: \(twice.prefix(5))")
        XCTAssertEqual(Set(log.starts).count, log.starts.count, "a generation was started twice")
        let stale = log.cancels.filter { c in (startsPerWorkload[c.id]?.max() ?? 0) > c.generation }
        XCTAssertEqual(stale.count, 0, "stale generations killed: \(stale.prefix(5))")
        XCTAssertEqual(log.maxInFlight, 1, "two scheduling passes dispatched at once")
        XCTAssertLessThanOrEqual(log.maxRunning, Self.quotaAgents, "the tenant's running-agents quota was exceeded")
        // The store agrees: every started workload is placed at generation 1, and no more run than the quota.
        let active = try store.listWorkloads(tenant: "race", states: [.scheduled, .running])
        XCTAssertLessThanOrEqual(active.count, Self.quotaAgents)
        for w in active { XCTAssertEqual(w.generation, 1, "workload \(w.id)") }
    }
}
