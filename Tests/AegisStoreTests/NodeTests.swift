// NodeTests.swift — node upsert, cordon, state, deletion.
import XCTest
@testable import AegisStore
import AegisProtocol

final class NodeTests: StoreTestCase {
    func caps(cpu: Int64 = 2000) -> NodeCapabilities {
        NodeCapabilities(
            cpuMillis: cpu, memoryBytes: 4 << 30,
            gpus: [
                GPUDevice(
                    vendor: "nvidia", model: "A100", pciAddress: "0000:3b:00.0", index: 0, uuid: "GPU-1",
                    memoryBytes: 80 << 30, deviceNodes: ["/dev/nvidia0"])
            ],
            runtimes: [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")],
            isolation: IsolationFeatures(
                cgroupControllers: ["memory", "pids"], seccomp: true, userNamespaces: true,
                kernelVersion: "6.1.0", allowUnenforcedLimits: false),
            labels: ["zone": "lab-2"], warnings: ["nvidia-smi: timed out after 5 s"])
    }

    func testUpsertListGetCordon() async throws {
        let store = try await openStore()
        let n1 = NodeInfo(name: "n1", role: .hybrid, capabilities: caps(), allocated: Allocation(cpuMillis: 500, agents: 1))
        await assertEqual(try await store.upsertNode(n1), n1)
        try await store.upsertNode(NodeInfo(name: "n0", role: .worker, state: .notReady, capabilities: caps(cpu: 1000)))
        await assertEqual(try await store.node(name: "n1"), n1)
        await assertNil(try await store.node(name: "n9"))
        await assertEqual(try await store.listNodes().map(\.name), ["n0", "n1"])

        try await store.setCordoned(name: "n1", true)
        await assertEqual(try await store.node(name: "n1")?.cordoned, true)
        // Re-registration with new capabilities keeps the operator's cordon by default…
        var updated = n1
        updated.capabilities = caps(cpu: 4000)
        updated.state = .ready
        let kept = try await store.upsertNode(updated)
        XCTAssertTrue(kept.cordoned)
        XCTAssertEqual(kept.capabilities.cpuMillis, 4000)
        // …and replaces it when asked to.
        await assertFalse(try await store.upsertNode(updated, keepCordon: false).cordoned)
        // A new node takes the flag it is given.
        var n2 = n1
        n2.name = "n2"
        n2.cordoned = true
        await assertTrue(try await store.upsertNode(n2).cordoned)

        try await store.setNodeState(name: "n0", .down)
        await assertEqual(try await store.node(name: "n0")?.state, .down)
        await expectStoreError(.notFound, containing: "n9") { try await store.setCordoned(name: "n9", true) }
        await expectStoreError(.notFound) { try await store.setNodeState(name: "n9", .ready) }
        try await store.deleteNode(name: "n0")
        await assertEqual(try await store.listNodes().map(\.name), ["n1", "n2"])
        await expectStoreError(.notFound) { try await store.deleteNode(name: "n0") }
    }

    /// `aegis node cordon` sets the flag with `setCordoned`; it must survive closing the database
    /// (a controller restart) and the node re-registering after that, and uncordon must too.
    func testCordonSurvivesReopenAndReRegistration() async throws {
        var store: ControlStore? = try openSQLite()
        let n1 = NodeInfo(name: "n1", role: .hybrid, capabilities: caps())
        try store!.upsertNode(n1)
        try store!.upsertNode(NodeInfo(name: "n2", role: .worker, capabilities: caps()))
        try store!.setCordoned(name: "n1", true)
        try store!.close()
        store = nil

        var again: ControlStore? = try openSQLite()
        XCTAssertEqual(try again!.node(name: "n1")?.cordoned, true)
        XCTAssertEqual(try again!.node(name: "n2")?.cordoned, false, "only the cordoned node carries the flag")
        // The node re-registers after the restart with what it detects (cordoned: false).
        XCTAssertTrue(try again!.upsertNode(NodeInfo(name: "n1", role: .hybrid, capabilities: caps(cpu: 3000))).cordoned)
        try again!.close()
        again = nil

        let third = try openSQLite()
        XCTAssertEqual(try third.node(name: "n1")?.cordoned, true)
        XCTAssertEqual(try third.node(name: "n1")?.capabilities.cpuMillis, 3000)
        try third.setCordoned(name: "n1", false)
        try third.close()
        let fourth = try openSQLite()
        defer { try? fourth.close() }
        XCTAssertEqual(try fourth.node(name: "n1")?.cordoned, false)
    }

    /// Node rows are decoded once and reused while their stored JSON is the same (every metrics
    /// scrape lists every node); a row changed behind the store is decoded from its new text, never
    /// answered from the cache, and a deleted node leaves it.
    func testNodeCacheNeverAnswersForChangedText() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        let n1 = NodeInfo(name: "n1", role: .worker, capabilities: caps(), allocated: Allocation(cpuMillis: 500, agents: 1))
        try store.upsertNode(n1)
        XCTAssertEqual(store.nodeCache.count, 1, "the upserted node is cached")
        XCTAssertEqual(try store.listNodes(), [n1])
        try store.executeRaw("UPDATE nodes SET capabilities = json_set(capabilities, '$.cpuMillis', 9000) WHERE name = 'n1'")
        XCTAssertEqual(try store.listNodes().first?.capabilities.cpuMillis, 9000)
        XCTAssertEqual(try store.node(name: "n1")?.capabilities.labels, ["zone": "lab-2"])
        try store.executeRaw("UPDATE nodes SET allocated = json_set(allocated, '$.cpuMillis', 1500) WHERE name = 'n1'")
        XCTAssertEqual(try store.listNodes().first?.allocated.cpuMillis, 1500)
        try store.upsertNode(NodeInfo(name: "n1", role: .worker, capabilities: caps(cpu: 3000)))
        XCTAssertEqual(try store.listNodes().first?.capabilities.cpuMillis, 3000)
        XCTAssertEqual(try store.listNodes().first?.allocated, Allocation())
        try store.executeRaw("UPDATE nodes SET capabilities = '{' WHERE name = 'n1'")
        await expectStoreError(.encoding, containing: "n1 capabilities") { _ = try store.listNodes() }
        try store.deleteNode(name: "n1")
        XCTAssertEqual(store.nodeCache.count, 0)
    }
}
