// PostgresBackendTests.swift — what only the PostgreSQL backend promises, against the real server
// of PostgresTestServer: the write fence (leader epoch), refusal of a newer schema, the pool
// bound, password authentication (PGPASSWORD, password file, a wrong password).
import AegisProtocol
import AegisStore
import AegisStorePostgres
import Foundation
import PostgresNIO
import XCTest

final class PostgresBackendTests: StoreTestCase {
    func testWritesAreFencedByTheLeaderEpoch() async throws {
        let server = try requirePostgres()
        let store = try await openStore() as! PostgresStateStore
        let database = try XCTUnwrap(postgresDatabase)
        try await server.admin("UPDATE aegis_leader SET epoch = 1, holder = 'c1' WHERE id = 1", database: database)
        store.fence.set(.leader(epoch: 1))
        _ = try await store.createTenant(name: "before", quota: Quota())
        // Another controller takes over: the epoch moves on and this one's next write is refused.
        try await server.admin("UPDATE aegis_leader SET epoch = 2, holder = 'c2' WHERE id = 1", database: database)
        await expectStoreError(.fenced, containing: "epoch 1 was superseded (epoch 2)") {
            _ = try await store.createTenant(name: "after", quota: Quota())
        }
        XCTAssertEqual(store.fence.mode, .standby, "a fenced write steps the controller down")
        await assertNil(try await store.tenant(name: "after"), "a fenced write wrote nothing")
        // Standby refuses every write without asking the database.
        await expectStoreError(.fenced, containing: "not the leader") { try await store.upsertNode(self.node("n1")) }
        await expectStoreError(.fenced) { _ = try await store.recordPlacements([Placement(workloadID: "x", node: "n", generation: 1)]) }
        await assertEqual(try await store.listNodes(), [])
        await assertEqual(try await store.listTenants().map(\.name), ["before"])
        // Leader again under the current epoch: writes go through.
        store.fence.set(.leader(epoch: 2))
        try await store.upsertNode(node("n1"))
        await assertEqual(try await store.listNodes().map(\.name), ["n1"])
    }

    func testNewerSchemaIsRefused() async throws {
        let server = try requirePostgres()
        let store = try await openStore()
        try await store.bootstrap()
        try await server.admin("INSERT INTO aegis_migrations (id, applied_ms) VALUES ('v99', 0)", database: XCTUnwrap(postgresDatabase))
        await expectStoreError(.schemaTooNew, containing: "v99") { _ = try await self.openStore() }
        try await server.admin("DELETE FROM aegis_migrations WHERE id = 'v99'", database: XCTUnwrap(postgresDatabase))
        let again = try await openStore()
        await assertEqual(try await again.tenant(name: "default")?.uid, ControlStore.tenantUIDBase, "the refused open changed nothing")
    }

    func testThePoolNeverOpensMoreThanPoolMaxConnections() async throws {
        let server = try requirePostgres()
        let database = try await server.createDatabase()
        defer { Task { try? await server.dropDatabase(database) } }
        let store = try await server.openStore(database: database, parameters: "pool_max=3&application_name=aegis-pool-test")
        defer { Task { try? await store.close() } }
        let most = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await store.client.withConnection { connection in
                        try await connection.query("SELECT pg_sleep(0.2)", logger: Logger(label: "test"))
                    }
                    return -1
                }
            }
            group.addTask {
                var most = 0
                for _ in 0..<15 {
                    let n = try await server.withClient(database: "postgres") { admin in
                        var n = 0
                        for try await c in try await admin.query(
                            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'aegis-pool-test'"
                        ).decode(Int64.self) { n = Int(c) }
                        return n
                    }
                    most = max(most, n)
                    try await Task.sleep(for: .milliseconds(50))
                }
                return most
            }
            var most = 0
            for try await n in group { most = max(most, n) }
            return most
        }
        XCTAssertGreaterThanOrEqual(most, 1, "the twelve sleeps ran on pooled connections")
        XCTAssertLessThanOrEqual(most, 3, "pool_max=3, but \(most) connections were open at once")
    }

    func testPasswordAuthenticationThroughPGPASSWORDAndAPasswordFile() async throws {
        let server = try requirePostgres()
        let database = try await server.createDatabase(owner: server.passwordRole)
        defer { Task { try? await server.dropDatabase(database) } }
        for tcp in [true, false] {
            let url =
                tcp
                ? server.tcpURL(database: database, user: server.passwordRole)
                : server.url(database: database, user: server.passwordRole)
            let viaEnv = try PostgresDatastore(url: url, environment: ["PGPASSWORD": server.password])
            let store = try await PostgresStateStore(datastore: viaEnv, hasher: ToyHasher())
            _ = try await store.bootstrap()
            try await store.close()
        }
        let path = dir + "/pgpass"
        FileManager.default.createFile(atPath: path, contents: Data((server.password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let viaFile = try PostgresDatastore(
            url: server.tcpURL(database: database, user: server.passwordRole), passwordFile: path, environment: [:])
        let store = try await PostgresStateStore(datastore: viaFile, hasher: ToyHasher())
        await assertEqual(try await store.listTenants().map(\.name), ["default"])
        try await store.close()
    }

    func testAWrongPasswordIsAClearError() async throws {
        let server = try requirePostgres()
        let database = try await server.createDatabase(owner: server.passwordRole)
        defer { Task { try? await server.dropDatabase(database) } }
        let wrong = try PostgresDatastore(
            url: server.tcpURL(database: database, user: server.passwordRole, parameters: "connect_timeout=5"),
            environment: ["PGPASSWORD": "not-" + server.password])
        await expectStoreError(.database, containing: "password authentication failed for user \"\(server.passwordRole)\"") {
            _ = try await PostgresStateStore(datastore: wrong, hasher: ToyHasher())
        }
        let none = try PostgresDatastore(
            url: server.tcpURL(database: database, user: server.passwordRole, parameters: "connect_timeout=5"), environment: [:])
        await expectStoreError(.database, containing: "the server asks for a password: set PGPASSWORD") {
            _ = try await PostgresStateStore(datastore: none, hasher: ToyHasher())
        }
    }

    func testPlacementBatchesRepeatingAWorkloadApplyInOrder() async throws {
        _ = try requirePostgres()
        let store = try await openStore()
        try await store.bootstrap()
        let w = Workload(id: "a-1", spec: spec(), createdAtMs: 1)
        try await store.insertWorkload(w)
        // Generations 2, 1, 3 for one workload in one batch: 2 applies, 1 is stale, 3 applies.
        let refused = try await store.recordPlacements(
            [
                Placement(workloadID: "a-1", node: "n1", generation: 2), Placement(workloadID: "a-1", node: "n2", generation: 1),
                Placement(workloadID: "a-1", node: "n3", generation: 3), Placement(workloadID: "ghost", node: "n1", generation: 1),
            ], nowMs: 5)
        XCTAssertEqual(refused, ["a-1", "ghost"])
        let stored = try await unwrap(try await store.workload(id: "a-1"))
        XCTAssertEqual(stored.node, "n3")
        XCTAssertEqual(stored.generation, 3)
        await assertEqual(
            try await store.events(workloadID: "a-1").map(\.message),
            ["placed on node n1 (generation 2)", "placed on node n3 (generation 3)"])
    }

    func testAClosedStoreThrows() async throws {
        _ = try requirePostgres()
        let store = try await openStore()
        try await store.bootstrap()
        try await store.close()
        await expectStoreError(.database) { _ = try await store.listTenants() }
        await expectStoreError(.database) { _ = try await store.createTenant(name: "late", quota: Quota()) }
    }

    func testConcurrentBootstrapsCreateOneDefaultTenant() async throws {
        _ = try requirePostgres()
        let a = try await openStore()
        let b = try await openStore()
        let created = try await withThrowingTaskGroup(of: Bool.self) { group in
            for s in [a, b, a, b] { group.addTask { try await s.bootstrap() } }
            var n = 0
            for try await made in group where made { n += 1 }
            return n
        }
        XCTAssertEqual(created, 1)
        await assertEqual(try await a.listTenants().map(\.uid), [ControlStore.tenantUIDBase])
    }

    func node(_ name: String) -> NodeInfo {
        NodeInfo(name: name, role: .worker, capabilities: NodeCapabilities(cpuMillis: 1000))
    }
}
