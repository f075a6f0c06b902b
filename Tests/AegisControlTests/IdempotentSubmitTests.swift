// IdempotentSubmitTests.swift — submissions with an Idempotency-Key: a retry returns the first
// workload (concurrent retries too), the same key with another spec is refused, keys are per
// tenant, and a malformed key is refused naming the header.
import AegisControl
import AegisProtocol
import AegisStore
import XCTest

final class IdempotentSubmitTests: StoreBackedTestCase {
    var controller: Controller!
    let admin = Caller(isAdmin: true, tenant: "default")

    override func setUpWithError() throws {
        try super.setUpWithError()
        controller = Controller(store: SQLiteStateStore(store), logger: .init(label: "test"))
    }

    override func tearDownWithError() throws {
        controller = nil
        try super.tearDownWithError()
    }

    func request(_ command: [String]) -> SubmitRequest { SubmitRequest(run: RunFlags(command: command)) }

    func testARetryWithTheSameKeyReturnsTheFirstWorkload() async throws {
        let first = try await controller.submitEncoded(request(["sleep", "1"]), caller: admin, idempotencyKey: "job-42")
        XCTAssertFalse(first.replayed)
        let again = try await controller.submitEncoded(request(["sleep", "1"]), caller: admin, idempotencyKey: "job-42")
        XCTAssertTrue(again.replayed)
        XCTAssertEqual(again.workload.id, first.workload.id)
        XCTAssertEqual(try store.countWorkloads(), 1)
        let other = try await controller.submitEncoded(request(["sleep", "1"]), caller: admin, idempotencyKey: "job-43")
        XCTAssertNotEqual(other.workload.id, first.workload.id)
        let unkeyed = try await controller.submitEncoded(request(["sleep", "1"]), caller: admin)
        XCTAssertFalse(unkeyed.replayed)
        XCTAssertEqual(try store.countWorkloads(), 3)
    }

    func testConcurrentRetriesMakeOneWorkload() async throws {
        let controller = controller!, admin = admin, request = request(["true"])
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask { try await controller.submitEncoded(request, caller: admin, idempotencyKey: "once").workload.id }
            }
            var all: Set<String> = []
            for try await id in group { all.insert(id) }
            return all
        }
        XCTAssertEqual(ids.count, 1)
        XCTAssertEqual(try store.countWorkloads(), 1)
    }

    func testTheSameKeyForAnotherSpecIsAConflictAndKeysArePerTenant() async throws {
        let first = try await controller.submitEncoded(request(["echo", "a"]), caller: admin, idempotencyKey: "k")
        do {
            _ = try await controller.submitEncoded(request(["echo", "b"]), caller: admin, idempotencyKey: "k")
            XCTFail("another spec under a used key was accepted")
        } catch {
            XCTAssertEqual(error.kind, .conflict)
            XCTAssertTrue(error.message.contains(first.workload.id), error.message)
        }
        _ = try await controller.createTenant(CreateTenantRequest(name: "acme"), caller: admin)
        let acme = try await controller.submitEncoded(
            request(["echo", "a"]), caller: Caller(isAdmin: false, tenant: "acme"), idempotencyKey: "k")
        XCTAssertFalse(acme.replayed, "another tenant's key space")
        XCTAssertNotEqual(acme.workload.id, first.workload.id)
    }

    func testAMalformedKeyIsRefusedNamingTheHeader() async throws {
        for key in ["", "has space", String(repeating: "x", count: 256), "tab\t", "é"] {
            do {
                _ = try await controller.submitEncoded(request(["true"]), caller: admin, idempotencyKey: key)
                XCTFail("key \(key.debugDescription) accepted")
            } catch {
                XCTAssertEqual(error.kind, .invalid(field: "Idempotency-Key"), "\(key.debugDescription): \(error)")
            }
        }
        XCTAssertEqual(try store.countWorkloads(), 0)
    }
}
