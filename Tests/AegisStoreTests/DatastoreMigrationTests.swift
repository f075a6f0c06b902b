// DatastoreMigrationTests.swift — `aegis datastore migrate`'s copy from a SQLite store with real
// data (every table) into an empty PostgreSQL database: what the controller reads afterwards
// through ControlStateStore is what it read before (tokens still authenticate, join tokens still
// validate, ids, events, inputs, idempotency keys, the uid counter), every table verified; a
// second copy into the now full database is refused and changes nothing.
import AegisProtocol
import AegisStore
import AegisStorePostgres
import Foundation
import Logging
import XCTest

final class DatastoreMigrationTests: StoreTestCase {
    func testASQLiteStoreMovesIntoPostgreSQLAndReadsTheSame() async throws {
        let server = try requirePostgres()
        // The source: a SQLite store as a single-node controller leaves it.
        let source = SQLiteStateStore(try ControlStore(dataDirectory: dir, hasher: ToyHasher()))
        _ = try await source.bootstrap()
        _ = try await source.createTenant(name: "acme", quota: Quota(cpuMillis: 4000, runningAgents: 3))
        _ = try await source.createTenant(name: "gone", quota: Quota())
        try await source.deleteTenant(name: "gone")  // the uid counter moved on past it
        let admin = try await source.createToken(kind: .admin)
        let tenantToken = try await source.createToken(kind: .tenant, tenant: "acme")
        let revoked = try await source.createToken(kind: .tenant, tenant: "acme")
        try await source.revokeToken(id: revoked.id)
        let join = try await source.createJoinToken(role: .worker, ttlSeconds: 3600, description: "rack 4")
        _ = try await source.completeJoin(
            tokenID: join.record.id, secret: join.secret, nodeName: "w1", fingerprint: String(repeating: "ab", count: 32), role: .worker,
            serial: "01")
        _ = try await source.upsertNode(NodeInfo(name: "w1", role: .worker, capabilities: NodeCapabilities(cpuMillis: 8000)))
        try await source.setCordoned(name: "w1", true)
        let inputs: [String: [UInt8]] = ["main.py": Array("print(1)\n".utf8), "blob.bin": (0..<5000).map { UInt8($0 % 251) }]
        let outcomes = try await source.insertWorkloads([
            NewWorkload(
                Workload(id: "a-1", spec: spec(tenant: "acme", name: "one", inputs: inputs), createdAtMs: 10),
                event: AegisStore.WorkloadEvent(timeMs: 10, type: "Submitted", message: "by tenant acme"), idempotencyKey: "key-1"),
            NewWorkload(Workload(id: "a-2", spec: spec(name: "two"), createdAtMs: 11)),
        ])
        XCTAssertEqual(outcomes.compactMap { $0 }.count, 0)
        _ = try await source.recordPlacements([Placement(workloadID: "a-1", node: "w1", generation: 1)])
        _ = try await source.update(id: "a-1") {
            $0.state = .running; $0.startedAtMs = 20
        }
        try await source.appendEvent(workloadID: "a-1", AegisStore.WorkloadEvent(timeMs: 21, type: "Started", message: "on w1 — ünïcode"))
        try await source.insertWorkflow(
            WorkflowRecord(
                id: "wf-1", tenant: "acme", name: "research", manifest: "kind: Workflow\n", manifestFile: "wf.yaml",
                parameters: ["topic": "ünïcode"], state: "{}", createdAtMs: 30))
        let before = try await snapshot(source)
        try await source.close()

        let database = try await server.createDatabase()
        let datastore = try PostgresDatastore(url: server.url(database: database), environment: [:])
        let reports = try await DatastoreMigration.run(sqlitePath: dir + "/aegis.db", to: datastore, logger: Logger(label: "test"))
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: reports.map { ($0.table, $0.rows) }),
            [
                "counters": 1, "tenants": 2, "tokens": 3, "workloads": 2, "workload_inputs": 2, "workload_events": 3, "nodes": 1,
                "join_tokens": 1, "node_identities": 1, "workflows": 1,
            ])
        XCTAssertTrue(reports.allSatisfy { $0.checksum.count == 64 })

        let target = try await server.openStore(database: database)
        opened.append(target)
        let after = try await snapshot(target)
        XCTAssertEqual(after.tenants, before.tenants)
        XCTAssertEqual(after.tokens, before.tokens)
        XCTAssertEqual(after.joinTokens, before.joinTokens)
        XCTAssertEqual(after.identities, before.identities)
        XCTAssertEqual(after.nodes, before.nodes)
        XCTAssertEqual(after.workloads, before.workloads)
        XCTAssertEqual(after.events, before.events)
        XCTAssertEqual(after.inputs, before.inputs)
        await assertEqual(try await target.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        await assertEqual(try await target.authenticate(token: tenantToken.secret), .tenant("acme", tokenID: tenantToken.id))
        await assertNil(try await target.authenticate(token: revoked.secret))
        await assertEqual(try await target.workload(tenant: "acme", idempotencyKey: "key-1")?.id, "a-1")
        // Life goes on: new events follow the copied ones, a new tenant gets the next uid.
        try await target.appendEvent(workloadID: "a-1", AegisStore.WorkloadEvent(timeMs: 30, type: "Exited", message: "0"))
        await assertEqual(try await target.events(workloadID: "a-1").map(\.type).last, "Exited")
        let next = try await target.createTenant(name: "new", quota: Quota())
        XCTAssertEqual(next.uid, ControlStore.tenantUIDBase + 3, "default, acme, gone came first")

        // Again into the same (now full) database: refused, nothing added.
        do {
            _ = try await DatastoreMigration.run(sqlitePath: dir + "/aegis.db", to: datastore, logger: Logger(label: "test"))
            XCTFail("a second migration into a full database was accepted")
        } catch let e as StoreError {
            XCTAssertEqual(e.kind, .conflict)
            XCTAssertTrue(e.message.contains("already holds state"), e.message)
        }
        await assertEqual(try await target.countWorkloads(), 2)
    }

    struct Snapshot: Equatable {
        var tenants: [Tenant]
        var tokens: [TokenRecord]
        var joinTokens: [JoinTokenRecord]
        var identities: [NodeIdentityRecord]
        var nodes: [NodeInfo]
        var workloads: [Workload]
        var events: [[AegisStore.WorkloadEvent]]
        var inputs: [String: [String: [UInt8]]]
        var workflows: [WorkflowRecord]
    }

    func snapshot(_ s: any ControlStateStore) async throws -> Snapshot {
        let workloads = try await s.listWorkloads(tenant: nil, states: nil, node: nil, limit: nil)
        var events: [[AegisStore.WorkloadEvent]] = []
        for w in workloads { events.append(try await s.events(workloadID: w.id)) }
        return Snapshot(
            tenants: try await s.listTenants(), tokens: try await s.listTokens(kind: nil, tenant: nil, includeRevoked: true),
            joinTokens: try await s.listJoinTokens(), identities: try await s.listIdentities(), nodes: try await s.listNodes(),
            workloads: workloads, events: events, inputs: try await s.inputs(ids: workloads.map(\.id)),
            workflows: try await s.listWorkflows(tenant: nil, phases: nil))
    }
}
