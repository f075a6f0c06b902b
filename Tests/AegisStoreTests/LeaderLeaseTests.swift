// LeaderLeaseTests.swift — leader election on the real PostgreSQL of PostgresTestServer: one
// leader at a time, a standby that names it, a takeover after expiry raising the epoch, the old
// leader's writes fenced and its renewal refused (it steps down), a graceful stop releasing the
// lease at once. Short terms (lease 1 s, renewals every 300 ms) keep it quick.
import AegisProtocol
import AegisStore
import AegisStorePostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import XCTest

final class LeaderLeaseTests: StoreTestCase {
    let terms = LeaderTerms(lease: .seconds(1), renewEvery: .milliseconds(300), retryEvery: .milliseconds(100))
    var running: [Task<Void, any Error>] = []

    override func tearDown() async throws {
        for t in running { t.cancel() }
        for t in running { _ = try? await t.value }
        running = []
        try await super.tearDown()
    }

    /// A lease for `holder` on this test's database, started, with its changes recorded.
    func startLease(
        _ holder: String, database: String, server: PostgresTestServer, fence: WriteFence = WriteFence()
    )
        throws -> (LeaderLease, Changes)
    {
        let datastore = try PostgresDatastore(url: server.url(database: database), environment: [:])
        let changes = Changes()
        let lease = LeaderLease(
            configuration: try datastore.clientConfiguration(), holder: holder, terms: terms, fence: fence
        ) { changes.record($0) }
        running.append(Task { try await lease.run() })
        return (lease, changes)
    }

    final class Changes: Sendable {
        let seen = Mutex<[Leadership]>([])
        func record(_ l: Leadership) { seen.withLock { $0.append(l) } }
        var all: [Leadership] { seen.withLock { $0 } }
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ check: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !check() {
            guard ContinuousClock.now < deadline else {
                XCTFail("timed out waiting for \(what)")
                throw XCTSkip(what)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func testOneLeadsAndTheOtherStandsByNamingIt() async throws {
        let server = try requirePostgres()
        _ = try await openStore()
        let database = try XCTUnwrap(postgresDatabase)
        let fenceA = WriteFence()
        let (a, _) = try startLease("a", database: database, server: server, fence: fenceA)
        try await waitUntil("a leads") { a.leadership.isLeading }
        XCTAssertEqual(a.leadership, .leading(epoch: 1))
        XCTAssertEqual(fenceA.mode, .leader(epoch: 1))
        let fenceB = WriteFence()
        let (b, _) = try startLease("b", database: database, server: server, fence: fenceB)
        try await waitUntil("b decided") { b.isDecided }
        try await Task.sleep(for: .seconds(2))  // two lease terms: a keeps renewing, b never takes over
        XCTAssertEqual(a.leadership, .leading(epoch: 1))
        guard case .standby(let leader, let reason) = b.leadership else { return XCTFail("b leads: \(b.leadership)") }
        XCTAssertEqual(leader, "a")
        XCTAssertTrue(reason.contains("a leads (epoch 1)"), reason)
        XCTAssertEqual(fenceB.mode, .standby)
    }

    func testATakeoverRaisesTheEpochFencesTheOldLeaderAndItStepsDown() async throws {
        let server = try requirePostgres()
        let store = try await openStore() as! PostgresStateStore
        let database = try XCTUnwrap(postgresDatabase)
        let (a, changesA) = try startLease("a", database: database, server: server, fence: store.fence)
        try await waitUntil("a leads") { a.leadership.isLeading }
        _ = try await store.createTenant(name: "by-a", quota: Quota())
        // a's lease lapses as if it had been paused past its term; b takes over with epoch 2.
        let other = try await server.openStore(database: database)
        opened.append(other)
        try await server.admin("UPDATE aegis_leader SET expires_ms = 0 WHERE id = 1", database: database)
        let (b, _) = try startLease("b", database: database, server: server, fence: other.fence)
        try await waitUntil("b leads") { b.leadership == .leading(epoch: 2) }
        _ = try await other.createTenant(name: "by-b", quota: Quota())
        // Whatever a writes now is refused (its epoch is no longer the newest) …
        do {
            _ = try await store.createTenant(name: "late-a", quota: Quota())
            XCTFail("a wrote after it lost the lease")
        } catch let e as StoreError {
            XCTAssertEqual(e.kind, .fenced, "\(e)")
        }
        await assertNil(try await other.tenant(name: "late-a"))
        // … and its next renewal is refused: it steps down naming who leads.
        try await waitUntil("a stepped down") { !a.leadership.isLeading }
        guard case .standby(let leader, _) = a.leadership else { return XCTFail("\(a.leadership)") }
        XCTAssertEqual(leader, "b")
        let reasons = changesA.all.compactMap { l -> String? in if case .standby(_, let r) = l { return r } else { return nil } }
        XCTAssertTrue(reasons.contains { $0.contains("lost the leader lease (epoch 1) to b") }, "\(reasons)")
        XCTAssertEqual(changesA.all.filter(\.isLeading), [.leading(epoch: 1)], "a led once")
        XCTAssertEqual(b.leadership, .leading(epoch: 2))
    }

    func testAGracefulStopReleasesTheLeaseForTheStandbyAtOnce() async throws {
        let server = try requirePostgres()
        _ = try await openStore()
        let database = try XCTUnwrap(postgresDatabase)
        let slow = LeaderTerms(lease: .seconds(30), renewEvery: .seconds(5), retryEvery: .milliseconds(100))
        let datastore = try PostgresDatastore(url: server.url(database: database), environment: [:])
        let a = LeaderLease(configuration: try datastore.clientConfiguration(), holder: "a", terms: slow, fence: WriteFence())
        let groupA = ServiceGroup(services: [a], logger: Logger(label: "test"))
        let runA = Task { try await groupA.run() }
        try await waitUntil("a leads") { a.leadership.isLeading }
        let b = LeaderLease(configuration: try datastore.clientConfiguration(), holder: "b", terms: slow, fence: WriteFence())
        running.append(Task { try await b.run() })
        try await waitUntil("b standing by") { b.isDecided }
        let stoppedAt = ContinuousClock.now
        await groupA.triggerGracefulShutdown()  // as SIGTERM does
        _ = try? await runA.value
        try await waitUntil("b leads", timeout: .seconds(5)) { b.leadership.isLeading }
        XCTAssertLessThan(ContinuousClock.now - stoppedAt, .seconds(5), "b did not wait out a's 30 s term")
        XCTAssertEqual(b.leadership, .leading(epoch: 2))
    }

    func testTermsAreChecked() {
        XCTAssertNoThrow(try LeaderTerms().validate())
        XCTAssertThrowsError(try LeaderTerms(lease: .seconds(3), renewEvery: .seconds(2)).validate())
        XCTAssertThrowsError(try LeaderTerms(lease: .milliseconds(100), renewEvery: .milliseconds(10)).validate())
        XCTAssertThrowsError(try LeaderTerms(lease: .seconds(3), renewEvery: .seconds(1), retryEvery: .zero).validate())
    }
}
