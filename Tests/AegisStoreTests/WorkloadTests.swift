// WorkloadTests.swift — workload rows, filters, updates, events, inputs, ids.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

final class WorkloadTests: StoreTestCase {
    func testInsertGetAndInputsStoredSeparately() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        try store.bootstrap()
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let inputs: [String: [UInt8]] = ["main.py": Array("print('hi')\n".utf8), "data/blob.bin": big, "empty.txt": []]
        let w = Workload(
            id: ControlStore.newWorkloadID(nowMs: 1_700_000_000_000), spec: spec(inputs: inputs),
            createdAtMs: 1_700_000_000_000, unenforcedLimits: ["memory"])
        try store.insertWorkload(w, event: WorkloadEvent(timeMs: 1, type: "Submitted", message: "by default"))

        var expectedLight = w
        expectedLight.spec.inputs = [:]
        XCTAssertEqual(try store.workload(id: w.id), expectedLight)
        XCTAssertEqual(try store.workload(id: w.id, includeInputs: true), w)
        XCTAssertEqual(try store.inputs(id: w.id), inputs)
        XCTAssertNil(try store.workload(id: "a-nope"))
        XCTAssertEqual(try store.events(workloadID: w.id), [WorkloadEvent(timeMs: 1, type: "Submitted", message: "by default")])

        // The main row holds no input bytes: the spec column stays small although inputs are 200 kB.
        let listed = try store.listWorkloads()
        XCTAssertEqual(listed, [expectedLight])
        try store.close()
        let bytes = try fileBytes()
        XCTAssertTrue(bytes.contains(subsequence: Array(big[1000..<1064])), "input blob should be in the file")
    }

    func testInsertErrors() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        let w = Workload(id: "a-1", spec: spec(), createdAtMs: 1)
        try await store.insertWorkload(w)
        await expectStoreError(.alreadyExists, containing: "a-1") { try await store.insertWorkload(w) }
        await expectStoreError(.notFound, containing: "tenant ghost") {
            try await store.insertWorkload(Workload(id: "a-2", spec: spec(tenant: "ghost"), createdAtMs: 1))
        }
        await assertEqual(try await store.countWorkloads(), 1)
    }

    /// Submissions in one transaction: each refused one (unknown tenant, id taken — also by an
    /// earlier entry of the same batch) gets its own error, the others are stored with their event.
    func testInsertWorkloadsStoresEachOrNamesWhyNot() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        try await store.insertWorkload(Workload(id: "a-taken", spec: spec(), createdAtMs: 1))
        let batch = [
            NewWorkload(
                Workload(id: "a-1", spec: spec(name: "one"), createdAtMs: 2),
                event: WorkloadEvent(timeMs: 2, type: "submitted", message: "1")),
            NewWorkload(Workload(id: "a-2", spec: spec(tenant: "ghost"), createdAtMs: 3)),
            NewWorkload(Workload(id: "a-taken", spec: spec(), createdAtMs: 4)),
            NewWorkload(Workload(id: "a-3", spec: spec(name: "three", inputs: ["in.txt": [1, 2, 3]]), createdAtMs: 5)),
            NewWorkload(Workload(id: "a-3", spec: spec(name: "again"), createdAtMs: 6)),
        ]
        let outcomes = try await store.insertWorkloads(batch)
        XCTAssertEqual(outcomes.count, 5)
        XCTAssertNil(outcomes[0] ?? nil)
        XCTAssertEqual(outcomes[1]?.kind, .notFound)
        XCTAssertTrue(outcomes[1]?.description.contains("ghost") == true, "\(String(describing: outcomes[1]))")
        XCTAssertEqual(outcomes[2]?.kind, .alreadyExists)
        XCTAssertNil(outcomes[3] ?? nil)
        XCTAssertEqual(outcomes[4]?.kind, .alreadyExists, "a repeat within the batch is refused too")
        await assertEqual(try await store.workload(id: "a-1")?.spec.name, "one")
        await assertEqual(try await store.events(workloadID: "a-1").map(\.message), ["1"])
        await assertNil(try await store.workload(id: "a-2"))
        await assertEqual(try await store.workload(id: "a-3")?.spec.name, "three")
        await assertEqual(try await store.inputs(id: "a-3"), ["in.txt": [1, 2, 3]])
        await assertEqual(
            try await store.inputs(ids: ["a-3", "a-1", "a-nope"]), ["a-3": ["in.txt": [1, 2, 3]], "a-1": [:], "a-nope": [:]])
        await assertEqual(try await store.countWorkloads(), 3)
    }

    func testAnIdempotencyKeyIsUniquePerTenantAndFindsItsFirstWorkload() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        _ = try await store.createTenant(name: "other")
        let first = try await store.insertWorkloads([
            NewWorkload(Workload(id: "a-1", spec: spec(name: "one"), createdAtMs: 1), idempotencyKey: "k-1")
        ])
        XCTAssertNil(first[0] ?? nil)
        let batch = [
            NewWorkload(Workload(id: "a-2", spec: spec(name: "two"), createdAtMs: 2), idempotencyKey: "k-1"),
            NewWorkload(Workload(id: "a-3", spec: spec(tenant: "other", name: "three"), createdAtMs: 3), idempotencyKey: "k-1"),
            NewWorkload(Workload(id: "a-4", spec: spec(name: "four"), createdAtMs: 4), idempotencyKey: "k-4"),
            NewWorkload(Workload(id: "a-5", spec: spec(name: "five"), createdAtMs: 5), idempotencyKey: "k-4"),
            NewWorkload(Workload(id: "a-6", spec: spec(name: "six"), createdAtMs: 6)),
            NewWorkload(Workload(id: "a-7", spec: spec(name: "seven"), createdAtMs: 7)),
        ]
        let outcomes = try await store.insertWorkloads(batch)
        XCTAssertEqual(outcomes[0]?.kind, .alreadyExists, "the key is taken in this tenant")
        XCTAssertTrue(outcomes[0]?.description.contains("a-1") == true, "\(String(describing: outcomes[0]))")
        XCTAssertNil(outcomes[1] ?? nil, "another tenant's key space")
        XCTAssertNil(outcomes[2] ?? nil)
        XCTAssertEqual(outcomes[3]?.kind, .alreadyExists, "a repeat within the batch")
        XCTAssertNil(outcomes[4] ?? nil, "no key: never a clash")
        XCTAssertNil(outcomes[5] ?? nil)
        await assertEqual(try await store.workload(tenant: "default", idempotencyKey: "k-1")?.id, "a-1")
        await assertEqual(try await store.workload(tenant: "other", idempotencyKey: "k-1")?.id, "a-3")
        await assertEqual(try await store.workload(tenant: "default", idempotencyKey: "k-4")?.id, "a-4")
        await assertNil(try await store.workload(tenant: "default", idempotencyKey: "k-none"))
        await assertNil(try await store.workload(id: "a-2"))
        await assertNil(try await store.workload(id: "a-5"))
        // The key stays with its workload across a restart.
        let reopened = try await openStore()
        await assertEqual(try await reopened.workload(tenant: "default", idempotencyKey: "k-1")?.spec.name, "one")
    }

    func testListFiltersAndOrder() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        try await store.createTenant(name: "acme")
        let plan: [(String, WorkloadState, String?)] = [
            ("default", .pending, nil), ("acme", .running, "n1"), ("default", .running, "n2"),
            ("acme", .succeeded, "n1"), ("acme", .pending, nil), ("default", .failed, "n1"),
        ]
        var ids: [String] = []
        for (i, (tenant, state, node)) in plan.enumerated() {
            let id = ControlStore.newWorkloadID(nowMs: 1_000 + Int64(i))
            ids.append(id)
            try await store.insertWorkload(
                Workload(
                    id: id, spec: spec(tenant: tenant, name: "w\(i)"), state: state, node: node,
                    createdAtMs: 1_000 + Int64(i)))
        }
        await assertEqual(try await store.listWorkloads().map(\.id), ids)
        XCTAssertEqual(ids, ids.sorted(), "ids sort by creation time")
        await assertEqual(try await store.listWorkloads(tenant: "acme").map(\.spec.name), ["w1", "w3", "w4"])
        await assertEqual(try await store.listWorkloads(states: [.pending]).map(\.spec.name), ["w0", "w4"])
        await assertEqual(try await store.listWorkloads(states: [.running, .failed]).map(\.spec.name), ["w1", "w2", "w5"])
        await assertEqual(try await store.listWorkloads(tenant: "default", states: [.running, .pending]).map(\.spec.name), ["w0", "w2"])
        await assertEqual(try await store.listWorkloads(node: "n1").map(\.spec.name), ["w1", "w3", "w5"])
        await assertEqual(try await store.listWorkloads(states: []), [])
        await assertEqual(try await store.listWorkloads(limit: 2).map(\.spec.name), ["w0", "w1"])
        await assertEqual(try await store.countWorkloads(tenant: "acme", states: [.pending, .running]), 2)
        await assertEqual(try await store.countWorkloads(node: "n1"), 3)
    }

    func testUpdateTransitionsAndEvents() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        let id = ControlStore.newWorkloadID()
        try await store.insertWorkload(Workload(id: id, spec: spec(inputs: ["in.txt": [9]]), reason: "no node has python3", createdAtMs: 1))
        let scheduled = try await store.update(id: id, event: WorkloadEvent(timeMs: 2, type: "Scheduled", message: "n1")) {
            $0.state = .scheduled; $0.node = "n1"; $0.generation = 1; $0.reason = nil; $0.gpus = ["0000:3b:00.0"]
        }
        XCTAssertEqual(scheduled.state, .scheduled)
        try await store.update(id: id, event: WorkloadEvent(timeMs: 3, type: "Started", message: "pid 42")) {
            $0.state = .running; $0.startedAtMs = 3
        }
        let final = try await store.update(id: id, event: WorkloadEvent(timeMs: 4, type: "Exited", message: "OOM killed")) {
            $0.state = .failed; $0.exitCode = 137; $0.signal = 9; $0.oomKilled = true; $0.finishedAtMs = 4
            $0.restarts = 2; $0.unenforcedLimits = ["pids"]; $0.reason = "out of memory"
            $0.nextAttemptAtMs = 40_004; $0.consecutiveExits = 3
        }
        let stored = try await unwrap(try await store.workload(id: id))
        XCTAssertEqual(stored, final)
        XCTAssertEqual(stored.state, .failed)
        XCTAssertEqual(stored.exitCode, 137)
        XCTAssertEqual(stored.signal, 9)
        XCTAssertTrue(stored.oomKilled)
        XCTAssertEqual(stored.node, "n1")
        XCTAssertEqual(stored.generation, 1)
        XCTAssertEqual(stored.nextAttemptAtMs, 40_004)
        XCTAssertEqual(stored.consecutiveExits, 3)
        XCTAssertEqual(stored.gpus, ["0000:3b:00.0"])
        XCTAssertEqual(stored.startedAtMs, 3)
        XCTAssertEqual(stored.finishedAtMs, 4)
        XCTAssertEqual(stored.restarts, 2)
        XCTAssertEqual(stored.unenforcedLimits, ["pids"])
        await assertEqual(try await store.events(workloadID: id).map(\.type), ["Scheduled", "Started", "Exited"])
        await assertEqual(try await store.inputs(id: id), ["in.txt": [9]], "updates never touch inputs")

        try await store.appendEvent(workloadID: id, WorkloadEvent(timeMs: 5, type: "Note", message: "logs kept"))
        await assertEqual(try await store.events(workloadID: id).last, WorkloadEvent(timeMs: 5, type: "Note", message: "logs kept"))
        await expectStoreError(.notFound) { try await store.appendEvent(workloadID: "a-ghost", WorkloadEvent(type: "X", message: "")) }
        await expectStoreError(.notFound) { try await store.update(id: "a-ghost") { $0.state = .running } }
        await expectStoreError(.invalidArgument, containing: "id") { try await store.update(id: id) { $0.id = "a-other" } }
        await expectStoreError(.invalidArgument, containing: "tenant") { try await store.update(id: id) { $0.spec.tenant = "acme" } }

        // A throwing mutation writes nothing (neither row nor event).
        struct Abort: Error {}
        do {
            try await store.update(id: id, event: WorkloadEvent(type: "Bad", message: "")) { w in
                w.state = .pending
                throw Abort()
            }
            XCTFail("a throwing mutation must fail the update")
        } catch {
            XCTAssertTrue(error is Abort, "the mutation's own error comes back as is, got \(error)")
        }
        await assertEqual(try await store.workload(id: id)?.state, .failed)
        await assertEqual(try await store.events(workloadID: id).count, 4)

        try await store.deleteWorkload(id: id)
        await assertNil(try await store.workload(id: id))
        await assertEqual(try await store.events(workloadID: id), [])
        await assertEqual(try await store.inputs(id: id), [:])
        await expectStoreError(.notFound) { try await store.deleteWorkload(id: id) }
    }

    func testWorkloadIDs() {
        let a = ControlStore.newWorkloadID(nowMs: 1_700_000_000_000)
        let b = ControlStore.newWorkloadID(nowMs: 1_700_000_000_001)
        let c = ControlStore.newWorkloadID(nowMs: 1_800_000_000_000)
        XCTAssertTrue(a.hasPrefix("a-"))
        XCTAssertEqual(a.count, 18)
        XCTAssertLessThan(a, b)
        XCTAssertLessThan(b, c)
        let same = (0..<1000).map { _ in ControlStore.newWorkloadID(nowMs: 42) }
        XCTAssertEqual(Set(same).count, 1000, "random suffix must distinguish ids of the same millisecond")
        XCTAssertTrue(same.allSatisfy { $0.hasPrefix("a-000000001a") })
    }

    func testDamagedRowIsReportedNotCrashed() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        try store.bootstrap()
        try store.insertWorkload(Workload(id: "a-x", spec: spec(), createdAtMs: 1))
        try store.executeRaw("UPDATE workloads SET state = 'exploded' WHERE id = 'a-x'")
        await expectStoreError(.encoding, containing: "exploded") { _ = try store.workload(id: "a-x") }
        try store.executeRaw("UPDATE workloads SET state = 'pending', spec = '{' WHERE id = 'a-x'")
        await expectStoreError(.encoding, containing: "a-x") { _ = try store.listWorkloads() }
    }

    /// Specs are decoded once and reused while the stored text is the same; a row changed behind
    /// the store is decoded from its new text, never answered from the cache.
    func testSpecCacheNeverAnswersForChangedText() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        try store.bootstrap()
        try store.insertWorkload(Workload(id: "a-c", spec: spec(), createdAtMs: 1))
        XCTAssertEqual(store.specs.count, 1, "the inserted spec is cached")
        XCTAssertEqual(try store.listWorkloads().first?.spec.args, spec().args)
        try store.executeRaw("UPDATE workloads SET spec = json_set(spec, '$.args', json_array('changed')) WHERE id = 'a-c'")
        XCTAssertEqual(try store.workload(id: "a-c")?.spec.args, ["changed"])
        XCTAssertEqual(try store.listWorkloads().first?.spec.args, ["changed"])
        // An update that leaves the spec alone keeps the stored text (and the cached decode).
        try store.update(id: "a-c") { $0.reason = "r" }
        XCTAssertEqual(try store.workload(id: "a-c")?.spec.args, ["changed"])
        try store.deleteWorkload(id: "a-c")
        XCTAssertEqual(store.specs.count, 0)
    }
}
