// TenantTokenTests.swift — bootstrap, tenants (names, uids, quotas, deletion), tokens.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

final class TenantTokenTests: StoreTestCase {
    func testBootstrapIsIdempotent() async throws {
        let store = try await openStore()
        await assertTrue(try await store.bootstrap(nowMs: 1_000))
        await assertFalse(try await store.bootstrap(nowMs: 2_000))
        let tenants = try await store.listTenants()
        XCTAssertEqual(tenants.map(\.name), ["default"])
        XCTAssertEqual(tenants.first?.createdAtMs, 1_000)
        XCTAssertEqual(tenants.first?.quota, Quota())
        try await store.close()
        let again = try await openStore()
        await assertFalse(try await again.bootstrap())
        await assertEqual(try await again.listTenants().count, 1)
    }

    func testTenantsCreateListQuotaDelete() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        let q = Quota(cpuMillis: 4000, memoryBytes: 8 << 30, gpus: 1, runningAgents: 10)
        let acme = try await store.createTenant(name: "acme", quota: q, nowMs: 5)
        let zeta = try await store.createTenant(name: "zeta-9")
        XCTAssertEqual(acme.quota, q)
        XCTAssertEqual(acme.createdAtMs, 5)
        await assertEqual(try await store.tenant(name: "acme"), acme)
        await assertNil(try await store.tenant(name: "nobody"))
        await assertEqual(try await store.listTenants().map(\.name), ["acme", "default", "zeta-9"])
        let uids = try await store.listTenants().map(\.uid)
        XCTAssertEqual(Set(uids).count, 3, "uids must be distinct: \(uids)")
        XCTAssertEqual(uids.sorted(), [200_000, 200_001, 200_002])

        await expectStoreError(.alreadyExists, containing: "acme") { try await store.createTenant(name: "acme") }
        let q2 = Quota(cpuMillis: 1000, runningAgents: 2)
        await assertEqual(try await store.setQuota(tenant: "acme", q2).quota, q2)
        await assertEqual(try await store.tenant(name: "acme")?.quota, q2)
        await assertEqual(try await store.tenant(name: "acme")?.uid, acme.uid)
        await expectStoreError(.notFound, containing: "ghost") { try await store.setQuota(tenant: "ghost", q2) }

        try await store.deleteTenant(name: "zeta-9")
        await assertNil(try await store.tenant(name: "zeta-9"))
        await expectStoreError(.notFound) { try await store.deleteTenant(name: "zeta-9") }
        // uids are never reused, even after deletion and re-creation under the same name.
        let reborn = try await store.createTenant(name: "zeta-9")
        XCTAssertEqual(reborn.uid, 200_003)
        XCTAssertNotEqual(reborn.uid, zeta.uid)
    }

    func testTenantNameValidation() async throws {
        let store = try await openStore()
        for good in ["a", "0", "team-7", "a-b-c", String(repeating: "x", count: 63)] {
            XCTAssertNoThrow(try ControlStore.validateTenantName(good), good)
        }
        for bad in ["", "-a", "A", "a_b", "a.b", "a b", "ä", String(repeating: "x", count: 64), "a/b"] {
            await expectStoreError(.invalidArgument) { try await store.createTenant(name: bad) }
        }
        await assertEqual(try await store.listTenants(), [])
    }

    func testDeletingTenantWithActiveWorkloadsIsRefused() async throws {
        let store = try await openStore()
        try await store.createTenant(name: "acme")
        let id = ControlStore.newWorkloadID()
        try await store.insertWorkload(Workload(id: id, spec: spec(tenant: "acme", inputs: ["a.txt": [1, 2]]), createdAtMs: 1))
        _ = try await store.createToken(kind: .tenant, tenant: "acme")
        await expectStoreError(.conflict, containing: "1 active") { try await store.deleteTenant(name: "acme") }
        try await store.update(id: id) { $0.state = .cancelled }
        try await store.deleteTenant(name: "acme")
        await assertNil(try await store.workload(id: id), "finished workloads go with their tenant")
        await assertEqual(try await store.inputs(id: id), [:])
        await assertEqual(try await store.listTokens(tenant: "acme"), [], "tokens go with their tenant")
    }

    func testTokenLifecycle() async throws {
        let store = try await openStore()
        try await store.bootstrap()
        let admin = try await store.createToken(kind: .admin, nowMs: 10)
        let tenant = try await store.createToken(kind: .tenant, tenant: "default", nowMs: 20)
        XCTAssertEqual(admin.secret.count, 64)
        XCTAssertTrue(admin.secret.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        XCTAssertNotEqual(admin.secret, tenant.secret)
        XCTAssertTrue(admin.id.hasPrefix("tok-"))

        await assertEqual(try await store.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        await assertEqual(try await store.authenticate(token: tenant.secret), .tenant("default", tokenID: tenant.id))
        await assertEqual(try await store.authenticate(token: tenant.secret)?.tenantName, "default")
        await assertNil(try await store.authenticate(token: "not-a-token"))
        let lastFlipped = String(admin.secret.dropLast()) + (admin.secret.hasSuffix("0") ? "1" : "0")
        XCTAssertNotEqual(lastFlipped, admin.secret)
        await assertNil(try await store.authenticate(token: lastFlipped))
        await assertNil(try await store.authenticate(token: admin.secret.uppercased()))

        let records = try await store.listTokens()
        XCTAssertEqual(records.map(\.id), [admin.id, tenant.id])
        XCTAssertEqual(records.map(\.kind), [.admin, .tenant])
        XCTAssertEqual(records.map(\.tenant), [nil, "default"])
        XCTAssertEqual(records.first?.hash, ToyHasher().hash(admin.secret))
        XCTAssertFalse(records.contains { $0.hash.contains(admin.secret) || $0.hash.contains(tenant.secret) })

        try await store.revokeToken(id: tenant.id)
        try await store.revokeToken(id: tenant.id)  // idempotent
        await assertNil(try await store.authenticate(token: tenant.secret))
        await assertEqual(try await store.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        await assertEqual(try await store.listTokens(includeRevoked: false).map(\.id), [admin.id])
        await assertEqual(try await store.listTokens(kind: .tenant).first?.revoked, true)
        await expectStoreError(.notFound) { try await store.revokeToken(id: "tok-000000000000") }

        // Revocation and tokens survive a restart.
        try await store.close()
        let again = try await openStore()
        await assertNil(try await again.authenticate(token: tenant.secret))
        await assertEqual(try await again.authenticate(token: admin.secret), .admin(tokenID: admin.id))
    }

    func testTokenArgumentsAreChecked() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        try store.bootstrap()
        await expectStoreError(.invalidArgument) { _ = try store.createToken(kind: .admin, tenant: "default") }
        await expectStoreError(.invalidArgument) { _ = try store.createToken(kind: .tenant) }
        await expectStoreError(.notFound, containing: "ghost") { _ = try store.createToken(kind: .tenant, tenant: "ghost") }
        XCTAssertEqual(try store.listTokens(), [])

        struct PlaintextHasher: TokenHasher { func hash(_ token: String) -> String { "h:" + token } }
        let bad = try ControlStore(path: dbPath, hasher: PlaintextHasher())
        defer { try? bad.close() }
        await expectStoreError(.invalidArgument, containing: "PlaintextHasher") { _ = try bad.createToken(kind: .admin) }
        XCTAssertEqual(try bad.listTokens(), [])
    }

    func testSecretsNeverReachTheFile() async throws {
        let store = try openSQLite()
        try store.bootstrap()
        var secrets: [String] = []
        for i in 0..<20 {
            secrets.append(try store.createToken(kind: i % 2 == 0 ? .admin : .tenant, tenant: i % 2 == 0 ? nil : "default").secret)
        }
        // Sanity: the scan does find what is stored (the hash), so a plaintext would be found too.
        let hash = Array(ToyHasher().hash(secrets[0]).utf8)
        XCTAssertTrue(try fileBytes().contains(subsequence: hash), "scan should see the stored hash")
        for s in secrets { XCTAssertFalse(try fileBytes().contains(subsequence: Array(s.utf8)), "secret found in WAL/db") }
        try store.close()  // checkpoints the WAL into the main file
        let bytes = try fileBytes()
        XCTAssertTrue(bytes.contains(subsequence: hash))
        for s in secrets {
            XCTAssertFalse(bytes.contains(subsequence: Array(s.utf8)), "secret found in aegis.db")
            // Nor as raw bytes (in case a hasher/encoder ever stored the decoded secret).
            let raw = stride(from: 0, to: s.count, by: 2).map { i -> UInt8 in
                let a = s.index(s.startIndex, offsetBy: i)
                return UInt8(s[a...s.index(after: a)], radix: 16)!
            }
            XCTAssertFalse(bytes.contains(subsequence: raw), "raw secret bytes found in aegis.db")
        }
    }
}
