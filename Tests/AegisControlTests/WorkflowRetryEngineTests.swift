// WorkflowRetryEngineTests.swift — `aegis workflow retry` on the engine (in-process controller,
// real SQLite store, fake worker link): succeeded steps never run again, the failed step runs as
// a new attempt under a new Idempotency-Key, the retry survives a restart of the engine, and only
// a failed or cancelled workflow of the caller's own tenant is retried.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import XCTest

final class WorkflowRetryEngineTests: StoreBackedTestCase {
    let tenant = Caller(isAdmin: false, tenant: "default")

    static let chain = """
        apiVersion: aegis/v1
        kind: Workflow
        name: chain
        steps:
          - name: a
            agent: {runtime: python3, script: "print(1)"}
          - name: b
            dependencies: [a]
            agent: {runtime: python3, script: "print(2)"}
          - name: c
            dependencies: [b]
            agent: {runtime: python3, script: "print(3)"}
        """

    func waitFor(_ engine: WorkflowEngine, _ id: String, _ phase: WorkflowPhase) async throws -> WorkflowDetail {
        let tenant = tenant
        try await eventually("workflow \(id) \(phase)") { try await engine.describe(id: id, caller: tenant).workflow.phase == phase }
        return try await engine.describe(id: id, caller: tenant)
    }

    func testRetryRunsTheFailedStepAsANewAttemptAndNeverTheSucceededOnes() async throws {
        let link = StepLink()
        link.set("b", [.exit(1), .exit(0)])
        let h = try await WorkflowHarness.start(link, store: store)
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.chain), caller: tenant)
        let failed = try await waitFor(h.engine, info.id, .failed)
        XCTAssertEqual(failed.instances.map(\.phase), [.succeeded, .failed, .skipped])
        let firstB = try XCTUnwrap(failed.instances[1].workload)

        let retried = try await h.engine.retry(id: info.id, caller: tenant)
        XCTAssertEqual(retried.id, info.id)
        let done = try await waitFor(h.engine, info.id, .succeeded)
        await h.stop()
        XCTAssertEqual([link.starts("a"), link.starts("b"), link.starts("c")], [1, 2, 1])
        XCTAssertEqual(done.instances.map(\.attempt), [1, 2, 1])
        let secondB = try XCTUnwrap(done.instances[1].workload)
        XCTAssertNotEqual(firstB, secondB)
        let byKey = try ["\(info.id)/b/-/1", "\(info.id)/b/-/2"].map { try store.workload(tenant: "default", idempotencyKey: $0)?.id }
        XCTAssertEqual(byKey, [firstB, secondB], "each attempt under its own Idempotency-Key")
        XCTAssertEqual(try store.listWorkflows(tenant: nil, phases: [.succeeded]).map(\.id), [info.id])
    }

    func testOnlyAFailedOrCancelledWorkflowOfTheCallerIsRetried() async throws {
        let link = StepLink()
        link.set("a", [.hang])
        let h = try await WorkflowHarness.start(link, store: store)
        _ = try store.createTenant(name: "other")
        let tenant = tenant
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.chain), caller: tenant)
        do {
            _ = try await h.engine.retry(id: info.id, caller: tenant)
            XCTFail("a running workflow is not retried")
        } catch { XCTAssertEqual(error.kind, .conflict) }
        do {
            _ = try await h.engine.retry(id: info.id, caller: Caller(isAdmin: false, tenant: "other"))
            XCTFail("another tenant's workflow is 404")
        } catch { XCTAssertEqual(error.kind, .notFound) }
        try await eventually("a runs") { link.runningCount == 1 }
        _ = try await h.engine.cancel(id: info.id, caller: tenant)
        _ = try await waitFor(h.engine, info.id, .cancelled)
        link.set("a", [.hang, .exit(0)])
        _ = try await h.engine.retry(id: info.id, caller: tenant)
        let done = try await waitFor(h.engine, info.id, .succeeded)
        XCTAssertEqual(done.instances.map(\.attempt), [2, 1, 1])
        do {
            _ = try await h.engine.retry(id: info.id, caller: tenant)
            XCTFail("a succeeded workflow is not retried")
        } catch { XCTAssertEqual(error.kind, .conflict) }
        await h.stop()
    }

    /// The retry is stored before anything runs: an engine started again resumes it.
    func testARetriedWorkflowResumesAfterAnEngineRestart() async throws {
        let link = StepLink()
        link.set("b", [.exit(1), .hang])
        let h = try await WorkflowHarness.start(link, store: store)
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.chain), caller: tenant)
        _ = try await waitFor(h.engine, info.id, .failed)
        _ = try await h.engine.retry(id: info.id, caller: tenant)
        try await eventually("b's second attempt runs") { link.starts("b") == 2 && link.runningCount == 1 }
        await h.stop()
        let again = WorkflowEngine(controller: h.controller, store: SQLiteStateStore(store))
        let loop = Task { await again.run() }
        let running = try await again.describe(id: info.id, caller: tenant)
        XCTAssertEqual(running.workflow.phase, .running)
        let workload = try XCTUnwrap(running.instances[1].workload)
        let tenant = tenant
        try await eventually("the engine adopted b's attempt 2") {
            try await again.describe(id: info.id, caller: tenant).instances[1].workload == workload
        }
        let generation = try XCTUnwrap(store.workload(id: workload)?.generation)
        await link.exit(workload, generation: generation, code: 0)
        _ = try await waitFor(again, info.id, .succeeded)
        loop.cancel()
        await loop.value
        XCTAssertEqual([link.starts("a"), link.starts("b"), link.starts("c")], [1, 2, 1])
    }
}
