// AuthenticationCacheTests.swift — a resolved caller is reused for a few seconds without asking
// the store (the hot path of every API request); a refusal is never kept, so a token or tenant
// created after it works at once.
import AegisControl
import AegisProtocol
import AegisStore
import Foundation
import Glibc
import Logging
import XCTest

final class AuthenticationCacheTests: StoreBackedTestCase {

    func testAResolvedCallerIsReusedAndARefusalIsNot() async throws {
        let controller = Controller(store: SQLiteStateStore(store), logger: Logger(label: "test.controller"))
        let admin = try store.createToken(kind: .admin).secret

        // Acting for a tenant that does not exist yet is refused, and the refusal is not kept.
        do {
            _ = try await controller.authenticate(token: admin, actAs: "acme")
            XCTFail("acting for a missing tenant must be refused")
        } catch {
            XCTAssertEqual(error.kind, .notFound, "\(error)")
        }
        let created = try await controller.createTenant(
            CreateTenantRequest(name: "acme"), caller: Caller(isAdmin: true, tenant: "default"))
        let acting = try await controller.authenticate(token: admin, actAs: "acme")
        XCTAssertEqual(acting, Caller(isAdmin: true, tenant: "acme"))

        // The tenant's token, created with it, works at once.
        let tenantCaller = try await controller.authenticate(token: created.token, actAs: nil)
        XCTAssertEqual(tenantCaller, Caller(isAdmin: false, tenant: "acme"))

        // Resolved callers come from the cache: with the store closed they still resolve, while a
        // token never seen needs the store and fails naming the lookup.
        try store.close()
        let again = try await controller.authenticate(token: created.token, actAs: nil)
        XCTAssertEqual(again, tenantCaller)
        do {
            _ = try await controller.authenticate(token: "never-seen", actAs: nil)
            XCTFail("an unknown token needs the store")
        } catch {
            XCTAssertEqual(error.kind, .internalError, "\(error)")
        }
    }
}
