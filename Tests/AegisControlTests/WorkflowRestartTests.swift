// WorkflowRestartTests.swift — engine and controller stopped mid-fan-out and started again on the
// same SQLite file: the workflow completes, and every step placement identity has exactly one
// workload in the store (adopted while it ran, submitted again under its identity when it had
// been lost before the record of its submission).
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation
import GRDB
import Logging
import XCTest

final class WorkflowRestartTests: StoreBackedTestCase {
    let tenant = Caller(isAdmin: false, tenant: "default")

    func testRestartMidFanOutResumesAndStartsEachPlacementOnce() async throws {
        let manifest = """
            apiVersion: aegis/v1
            kind: Workflow
            name: fan
            parallelism: 3
            steps:
              - name: plan
                agent: {runtime: python3, script: "print(1)"}
                outputs: [tasks.json]
              - name: work
                dependencies: [plan]
                withOutput: {step: plan, path: tasks.json}
                agent: {runtime: python3, script: "print('{{item}}')"}
              - name: reduce
                dependencies: [work]
                agent: {runtime: python3, script: "print('done')"}
            """
        let tenant = tenant
        // First life: the work agents run until the controller goes away.
        let first = StepLink()
        first.state.withLock { $0.files["plan"] = ["tasks.json": #"["a","b","c","d","e"]"#] }
        first.set("work", [.hang])
        let h1 = try await WorkflowHarness.start(first, store: store)
        let info = try await h1.engine.submit(WorkflowSubmitRequest(manifest: manifest), caller: tenant)
        try await eventually("3 work agents running") { first.starts("work") == 3 && first.runningCount == 3 }
        await h1.stop()
        let path = store.path
        try store.close()

        // The crash between recording a start and submitting it: one running placement's workload
        // never made it to the store.
        let queue = try DatabaseQueue(path: path)
        let lost = try await queue.write { db -> String in
            let key = try String.fetchOne(
                db, sql: "SELECT idempotency_key FROM workloads WHERE name = 'work' ORDER BY idempotency_key LIMIT 1")
            try db.execute(sql: "DELETE FROM workloads WHERE idempotency_key = ?", arguments: [key])
            return key ?? ""
        }
        try queue.close()
        XCTAssertTrue(lost.hasSuffix("/1"), lost)

        // Second life on the same file: the worker reports the agents that ran meanwhile as done.
        store = try ControlStore(path: path, hasher: SHA256TokenHasher())
        let second = StepLink()
        second.state.withLock { $0.files["plan"] = ["tasks.json": #"["a","b","c","d","e"]"#] }
        let h2 = try await WorkflowHarness.start(second, store: store)
        try await eventually("workflow succeeded") {
            try await h2.engine.describe(id: info.id, caller: tenant).workflow.phase == .succeeded
        }
        await h2.stop()

        let reader = try DatabaseQueue(path: path)
        defer { try? reader.close() }
        let counts = try await reader.read { db in
            try Row.fetchAll(db, sql: "SELECT idempotency_key, COUNT(*) AS n FROM workloads GROUP BY idempotency_key")
                .map { (($0["idempotency_key"] as String?) ?? "", $0["n"] as Int) }
        }
        XCTAssertEqual(counts.count, 7, "\(counts)")
        XCTAssertTrue(counts.allSatisfy { $0.1 == 1 && $0.0.hasPrefix(info.id + "/") }, "\(counts)")
        XCTAssertEqual(first.starts("plan") + second.starts("plan"), 1)
        // Three work agents started before the restart; the lost one and the two never started after.
        XCTAssertEqual(first.starts("work"), 3)
        XCTAssertEqual(second.starts("work"), 3)
        XCTAssertEqual(second.starts("reduce"), 1)
    }
}
