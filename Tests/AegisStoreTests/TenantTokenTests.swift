// TenantTokenTests.swift — bootstrap, tenants (names, uids, quotas, deletion), tokens.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

final class TenantTokenTests: StoreTestCase {
    func testBootstrapIsIdempotent() throws {
        let store = try openStore()
        defer { try? store.close() }
        XCTAssertTrue(try store.bootstrap(nowMs: 1_000))
        XCTAssertFalse(try store.bootstrap(nowMs: 2_000))
        let tenants = try store.listTenants()
        XCTAssertEqual(tenants.map(\.name), ["default"])
        XCTAssertEqual(tenants.first?.createdAtMs, 1_000)
        XCTAssertEqual(tenants.first?.quota, Quota())
        try store.close()
        let again = try openStore()
        defer { try? again.close() }
        XCTAssertFalse(try again.bootstrap())
        XCTAssertEqual(try again.listTenants().count, 1)
    }

    func testTenantsCreateListQuotaDelete() throws {
        let store = try openStore()
        defer { try? store.close() }
        try store.bootstrap()
        let q = Quota(cpuMillis: 4000, memoryBytes: 8 << 30, gpus: 1, runningAgents: 10)
        let acme = try store.createTenant(name: "acme", quota: q, nowMs: 5)
        let zeta = try store.createTenant(name: "zeta-9")
        XCTAssertEqual(acme.quota, q)
        XCTAssertEqual(acme.createdAtMs, 5)
        XCTAssertEqual(try store.tenant(name: "acme"), acme)
        XCTAssertNil(try store.tenant(name: "nobody"))
        XCTAssertEqual(try store.listTenants().map(\.name), ["acme", "default", "zeta-9"])
        let uids = try store.listTenants().map(\.uid)
        XCTAssertEqual(Set(uids).count, 3, "uids must be distinct: \(uids)")
        XCTAssertEqual(uids.sorted(), [200_000, 200_001, 200_002])

        expectStoreError(.alreadyExists, containing: "acme") { try store.createTenant(name: "acme") }
        let q2 = Quota(cpuMillis: 1000, runningAgents: 2)
        XCTAssertEqual(try store.setQuota(tenant: "acme", q2).quota, q2)
        XCTAssertEqual(try store.tenant(name: "acme")?.quota, q2)
        XCTAssertEqual(try store.tenant(name: "acme")?.uid, acme.uid)
        expectStoreError(.notFound, containing: "ghost") { try store.setQuota(tenant: "ghost", q2) }

        try store.deleteTenant(name: "zeta-9")
        XCTAssertNil(try store.tenant(name: "zeta-9"))
        expectStoreError(.notFound) { try store.deleteTenant(name: "zeta-9") }
        // uids are never reused, even after deletion and re-creation under the same name.
        let reborn = try store.createTenant(name: "zeta-9")
        XCTAssertEqual(reborn.uid, 200_003)
        XCTAssertNotEqual(reborn.uid, zeta.uid)
    }

    func testTenantNameValidation() throws {
        let store = try openStore()
        defer { try? store.close() }
        for good in ["a", "0", "team-7", "a-b-c", String(repeating: "x", count: 63)] {
            XCTAssertNoThrow(try ControlStore.validateTenantName(good), good)
        }
        for bad in ["", "-a", "A", "a_b", "a.b", "a b", "ä", String(repeating: "x", count: 64), "a/b"] {
            expectStoreError(.invalidArgument) { try store.createTenant(name: bad) }
        }
        XCTAssertEqual(try store.listTenants(), [])
    }

    func testDeletingTenantWithActiveWorkloadsIsRefused() throws {
        let store = try openStore()
        defer { try? store.close() }
        try store.createTenant(name: "acme")
        let id = ControlStore.newWorkloadID()
        try store.insertWorkload(Workload(id: id, spec: spec(tenant: "acme", inputs: ["a.txt": [1, 2]]), createdAtMs: 1))
        _ = try store.createToken(kind: .tenant, tenant: "acme")
        expectStoreError(.conflict, containing: "1 active") { try store.deleteTenant(name: "acme") }
        try store.update(id: id) { $0.state = .cancelled }
        try store.deleteTenant(name: "acme")
        XCTAssertNil(try store.workload(id: id), "finished workloads go with their tenant")
        XCTAssertEqual(try store.inputs(id: id), [:])
        XCTAssertEqual(try store.listTokens(tenant: "acme"), [], "tokens go with their tenant")
    }

    func testTokenLifecycle() throws {
        let store = try openStore()
        defer { try? store.close() }
        try store.bootstrap()
        let admin = try store.createToken(kind: .admin, nowMs: 10)
        let tenant = try store.createToken(kind: .tenant, tenant: "default", nowMs: 20)
        XCTAssertEqual(admin.secret.count, 64)
        XCTAssertTrue(admin.secret.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        XCTAssertNotEqual(admin.secret, tenant.secret)
        XCTAssertTrue(admin.id.hasPrefix("tok-"))

        XCTAssertEqual(try store.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        XCTAssertEqual(try store.authenticate(token: tenant.secret), .tenant("default", tokenID: tenant.id))
        XCTAssertEqual(try store.authenticate(token: tenant.secret)?.tenantName, "default")
        XCTAssertNil(try store.authenticate(token: "not-a-token"))
        let lastFlipped = String(admin.secret.dropLast()) + (admin.secret.hasSuffix("0") ? "1" : "0")
        XCTAssertNotEqual(lastFlipped, admin.secret)
        XCTAssertNil(try store.authenticate(token: lastFlipped))
        XCTAssertNil(try store.authenticate(token: admin.secret.uppercased()))

        let records = try store.listTokens()
        XCTAssertEqual(records.map(\.id), [admin.id, tenant.id])
        XCTAssertEqual(records.map(\.kind), [.admin, .tenant])
        XCTAssertEqual(records.map(\.tenant), [nil, "default"])
        XCTAssertEqual(records.first?.hash, ToyHasher().hash(admin.secret))
        XCTAssertFalse(records.contains { $0.hash.contains(admin.secret) || $0.hash.contains(tenant.secret) })

        try store.revokeToken(id: tenant.id)
        try store.revokeToken(id: tenant.id)  // idempotent
        XCTAssertNil(try store.authenticate(token: tenant.secret))
        XCTAssertEqual(try store.authenticate(token: admin.secret), .admin(tokenID: admin.id))
        XCTAssertEqual(try store.listTokens(includeRevoked: false).map(\.id), [admin.id])
        XCTAssertEqual(try store.listTokens(kind: .tenant).first?.revoked, true)
        expectStoreError(.notFound) { try store.revokeToken(id: "tok-000000000000") }

        // Revocation and tokens survive a restart.
        try store.close()
        let again = try openStore()
        defer { try? again.close() }
        XCTAssertNil(try again.authenticate(token: tenant.secret))
        XCTAssertEqual(try again.authenticate(token: admin.secret), .admin(tokenID: admin.id))
    }

    func testTokenArgumentsAreChecked() throws {
        let store = try openStore()
        defer { try? store.close() }
        try store.bootstrap()
        expectStoreError(.invalidArgument) { _ = try store.createToken(kind: .admin, tenant: "default") }
        expectStoreError(.invalidArgument) { _ = try store.createToken(kind: .tenant) }
        expectStoreError(.notFound, containing: "ghost") { _ = try store.createToken(kind: .tenant, tenant: "ghost") }
        XCTAssertEqual(try store.listTokens(), [])

        struct PlaintextHasher: TokenHasher { func hash(_ token: String) -> String { "h:" + token } }
        let bad = try ControlStore(path: dbPath, hasher: PlaintextHasher())
        defer { try? bad.close() }
        expectStoreError(.invalidArgument, containing: "PlaintextHasher") { _ = try bad.createToken(kind: .admin) }
        XCTAssertEqual(try bad.listTokens(), [])
    }

    func testSecretsNeverReachTheFile() throws {
        let store = try openStore()
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
