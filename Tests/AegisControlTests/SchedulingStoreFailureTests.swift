// SchedulingStoreFailureTests.swift — a store failure on the scheduling path is a failure, not
// "nothing pending": the pass is retried, the controller records when to try again
// (RestartBackoffTimer's cue), and once the store reads again the workload is placed.
@testable import AegisStore
import AegisControl
import AegisProtocol
import Foundation
import GRDB
import Glibc
import Logging
import XCTest

final class SchedulingStoreFailureTests: StoreBackedTestCase {

    func testAnUnreadablePendingListIsRetriedNotTakenForNothingToDo() async throws {
        let controller = Controller(
            store: SQLiteStateStore(store), logger: Logger(label: "test.controller"), leases: try LeaseTracker(config: LeaseConfig()))
        let admin = Caller(isAdmin: true, tenant: "default")
        // No node yet: the submission stays pending.
        let w = try await controller.submit(SubmitRequest(run: RunFlags(command: ["true"])), caller: admin)
        XCTAssertEqual(w.state, .pending)
        let passesBefore = await controller.schedulingPasses
        let noRetry = await controller.schedulingRetryAtMs
        XCTAssertNil(noRetry)

        // Its stored spec can no longer be decoded: every read of the pending list fails.
        let spec = try await store.pool.write { db -> String in
            let original = try String.fetchOne(db, sql: "SELECT spec FROM workloads WHERE id = ?", arguments: [w.id]) ?? ""
            try db.execute(sql: "UPDATE workloads SET spec = 'not json' WHERE id = ?", arguments: [w.id])
            return original
        }
        await controller.schedule()
        let retryAt = await controller.schedulingRetryAtMs
        XCTAssertNotNil(retryAt, "a failed pass must be scheduled for a retry")
        let passesAfter = await controller.schedulingPasses
        XCTAssertEqual(passesAfter, passesBefore + 1)
        let due = await controller.nextRestartAttemptMs(after: 0)
        XCTAssertNotNil(due, "the timer is told to come back when the store fails")

        // The store reads again: a node registering wakes a pass that places the workload.
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE workloads SET spec = ? WHERE id = ?", arguments: [spec, w.id])
        }
        let link = GatedLink()
        link.openGate()
        try await controller.register(
            node: NodeInfo(
                name: "n1", role: .hybrid,
                capabilities: NodeCapabilities(cpuMillis: 4000, memoryBytes: 8 << 30)), link: link)
        XCTAssertEqual(try store.workload(id: w.id)?.state, .scheduled)
        let retryAfterRecovery = await controller.schedulingRetryAtMs
        XCTAssertNil(retryAfterRecovery)
        XCTAssertEqual(link.recorded("start"), ["start \(w.id).g1"])
    }
}
