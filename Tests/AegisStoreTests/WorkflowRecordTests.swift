// WorkflowRecordTests.swift — workflow runs in the store (conformance): insert, read, list by
// tenant and phase, state updates, tenancy, refusals, reopening, deletion with the tenant.
import AegisProtocol
import XCTest

@testable import AegisStore

final class WorkflowRecordTests: StoreTestCase {
    func record(_ id: String, tenant: String = "default", at ms: Int64) -> WorkflowRecord {
        WorkflowRecord(
            id: id, tenant: tenant, name: "research", manifest: "apiVersion: aegis/v1\nkind: Workflow\n", manifestFile: "wf.yaml",
            parameters: ["topic": "café ☕", "count": "3"], state: #"{"phase":"running"}"#, createdAtMs: ms)
    }

    func testInsertReadListAndUpdate() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        let first = record("wf-1", at: 10)
        try await store.insertWorkflow(first)
        try await store.insertWorkflow(record("wf-2", at: 20))
        await assertEqual(try await store.workflow(id: "wf-1", tenant: nil), first)
        await assertEqual(try await store.workflow(id: "wf-1", tenant: "default"), first)
        await assertNil(try await store.workflow(id: "wf-9", tenant: nil))
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: nil).map(\.id), ["wf-1", "wf-2"])

        try await store.updateWorkflow(id: "wf-1", state: #"{"phase":"succeeded"}"#, phase: .succeeded, updatedAtMs: 30, finishedAtMs: 31)
        let read = try await store.workflow(id: "wf-1", tenant: nil)
        let done = try XCTUnwrap(read)
        XCTAssertEqual(done.phase, .succeeded)
        XCTAssertEqual(done.state, #"{"phase":"succeeded"}"#)
        XCTAssertEqual(done.updatedAtMs, 30)
        XCTAssertEqual(done.finishedAtMs, 31)
        XCTAssertEqual(done.parameters, first.parameters)
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: [.running]).map(\.id), ["wf-2"])
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: [.running, .succeeded]).map(\.id), ["wf-1", "wf-2"])
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: []).map(\.id), [])
    }

    func testRefusals() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        try await store.insertWorkflow(record("wf-1", at: 1))
        await expectStoreError(.alreadyExists, containing: "wf-1") { try await store.insertWorkflow(self.record("wf-1", at: 2)) }
        await expectStoreError(.notFound, containing: "nobody") {
            try await store.insertWorkflow(self.record("wf-3", tenant: "nobody", at: 2))
        }
        await expectStoreError(.notFound, containing: "wf-9") {
            try await store.updateWorkflow(id: "wf-9", state: "{}", phase: .failed, updatedAtMs: 1, finishedAtMs: nil)
        }
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: nil).count, 1)
    }

    func testTenantSeesOnlyItsOwnWorkflows() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        _ = try await store.createTenant(name: "acme")
        _ = try await store.createTenant(name: "zeta")
        try await store.insertWorkflow(record("wf-a", tenant: "acme", at: 1))
        try await store.insertWorkflow(record("wf-z", tenant: "zeta", at: 2))
        await assertEqual(try await store.listWorkflows(tenant: "acme", phases: nil).map(\.id), ["wf-a"])
        await assertEqual(try await store.listWorkflows(tenant: "zeta", phases: [.running]).map(\.id), ["wf-z"])
        await assertNil(try await store.workflow(id: "wf-z", tenant: "acme"))
        await assertEqual(try await store.workflow(id: "wf-z", tenant: "zeta")?.tenant, "zeta")
        // Gone with its tenant (no active workloads hold the tenant).
        try await store.deleteTenant(name: "acme")
        await assertNil(try await store.workflow(id: "wf-a", tenant: nil))
        await assertEqual(try await store.listWorkflows(tenant: nil, phases: nil).map(\.id), ["wf-z"])
    }

    func testRecordsSurviveReopening() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        try await store.insertWorkflow(record("wf-1", at: 5))
        try await store.updateWorkflow(id: "wf-1", state: #"{"n":2}"#, phase: .running, updatedAtMs: 6, finishedAtMs: nil)
        try await store.close()
        let again = try await openStore()
        let read = try await again.workflow(id: "wf-1", tenant: nil)
        let r = try XCTUnwrap(read)
        XCTAssertEqual(r.state, #"{"n":2}"#)
        XCTAssertEqual(r.updatedAtMs, 6)
        XCTAssertNil(r.finishedAtMs)
    }

    func testNewWorkflowIDs() {
        let a = ControlStore.newWorkflowID(nowMs: 1_700_000_000_000)
        XCTAssertTrue(a.hasPrefix("wf-"))
        XCTAssertEqual(a.count, 19)
        XCTAssertNotEqual(a, ControlStore.newWorkflowID(nowMs: 1_700_000_000_000))
    }
}
