// StoreTestSupport.swift — the conformance suite's harness: the backend under test, temp
// directories, a deterministic test hasher, spec builders, async assertions.
//
// Every test that takes its store from `openStore()` is part of the ControlStateStore conformance
// suite: it talks to the store only through the protocol, and every backend must pass it. The
// backend is chosen by AEGIS_STORE_BACKEND: sqlite (default) or postgres (a PostgreSQL cluster
// the tests start themselves: PostgresTestServer.swift). Tests that need SQLite's file
// (`openSQLite()`, `fileBytes()`) check what only that backend promises.
import XCTest
import Foundation
@testable import AegisStore
import AegisStorePostgres
import AegisProtocol

/// Not cryptographic: four FNV-1a-64 lanes with different offsets → 64 hex digits. Deterministic
/// and never contains its input, which is all the store's contract needs. Production uses SHA-256.
struct ToyHasher: TokenHasher {
    func hash(_ token: String) -> String {
        var out = ""
        for lane: UInt64 in [0xcbf2_9ce4_8422_2325, 0x84222325cbf29ce4, 0x9e37_79b9_7f4a_7c15, 0x1234_5678_9abc_def0] {
            var h = lane
            for b in token.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
            out += String(h, radix: 16).leftPadded(16)
        }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// A fresh directory under /tmp, removed in tearDown.
class StoreTestCase: XCTestCase {
    var dir: String = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-store-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard p != nil else { throw XCTSkip("mkdtemp failed: errno \(errno)") }
        dir = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    override func tearDown() async throws {
        for s in opened { try? await s.close() }
        opened = []
        if let database = postgresDatabase {
            postgresDatabase = nil
            try await PostgresTestServer.get().dropDatabase(database)
        }
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    var dbPath: String { dir + "/aegis.db" }
    /// Stores `openStore()` handed out, closed in tearDown.
    var opened: [any ControlStateStore] = []

    /// The backend this run tests (AEGIS_STORE_BACKEND, default sqlite).
    static var backend: String { ProcessInfo.processInfo.environment["AEGIS_STORE_BACKEND"] ?? "sqlite" }

    /// The PostgreSQL database of this test (postgres backend), dropped in tearDown.
    var postgresDatabase: String?

    /// A store of the backend under test, closed in tearDown. The first call in a test gets an empty
    /// database; later calls in the same test open that same database again (a restart).
    func openStore() async throws -> any ControlStateStore {
        let store: any ControlStateStore
        switch Self.backend {
        case "sqlite": store = SQLiteStateStore(try openSQLite())
        case "postgres":
            let server = try PostgresTestServer.get()
            if postgresDatabase == nil { postgresDatabase = try await server.createDatabase() }
            store = try await server.openStore(database: postgresDatabase!)
        case let other:
            throw StoreError(.invalidArgument, "AEGIS_STORE_BACKEND=\(other): no such backend in this build (known: sqlite, postgres)")
        }
        opened.append(store)
        return store
    }

    /// Skips unless this run tests the PostgreSQL backend (AEGIS_STORE_BACKEND=postgres).
    func requirePostgres() throws -> PostgresTestServer {
        guard Self.backend == "postgres" else {
            throw XCTSkip("PostgreSQL-only: run with AEGIS_STORE_BACKEND=postgres (scripts/test.sh does)")
        }
        return try PostgresTestServer.get()
    }

    /// The SQLite file itself, for what only that backend promises (file mode, WAL, migrations).
    func openSQLite() throws -> ControlStore {
        try ControlStore(dataDirectory: dir, hasher: ToyHasher())
    }

    /// The SQLite database behind `store`, nil for another backend.
    func sqlite(_ store: any ControlStateStore) -> ControlStore? { (store as? SQLiteStateStore)?.database }

    /// Bytes of the database file and its WAL (whatever exists).
    func fileBytes() throws -> [UInt8] {
        var all: [UInt8] = []
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: dbPath + suffix) {
            all += [UInt8](try Data(contentsOf: URL(fileURLWithPath: dbPath + suffix)))
        }
        return all
    }

    func spec(tenant: String = "default", name: String = "agent", inputs: [String: [UInt8]] = [:]) -> WorkloadSpec {
        WorkloadSpec(
            tenant: tenant, name: name, runtime: "python3", args: ["python3", "main.py"], env: ["K": "v"],
            resources: ResourceRequest(cpuMillis: 500, memoryBytes: 256 << 20, pids: 64, gpus: 0),
            requires: Requirements(runtimes: [RuntimeRequirement(name: "python3", version: ">=3.10")], labels: ["zone": "a"]),
            inputs: inputs, timeoutSeconds: 60, restart: .onFailure)
    }

    func expectStoreError(
        _ kind: StoreError.Kind, containing text: String? = nil, file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            XCTFail("expected StoreError(.\(kind)) but the call succeeded", file: file, line: line)
        } catch let e as StoreError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            if let text { XCTAssertTrue(e.description.contains(text), "\(e) does not mention \(text)", file: file, line: line) }
        } catch {
            XCTFail("expected StoreError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        while i <= count - needle.count {
            if self[i] == first && Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}

// MARK: async assertions (XCTest's autoclosures cannot await)

/// Awaits `a`; a throw is recorded as the assertion's failure and gives nil.
func awaited<T>(
    _ a: () async throws -> T, _ message: String, file: StaticString, line: UInt
) async -> T? {
    do { return try await a() } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
        return nil
    }
}

func assertEqual<T: Equatable>(
    _ a: @autoclosure () async throws -> T, _ b: @autoclosure () async throws -> T, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async {
    guard let x = await awaited(a, message, file: file, line: line), let y = await awaited(b, message, file: file, line: line)
    else { return }
    XCTAssertEqual(x, y, message, file: file, line: line)
}

func assertNil<T>(
    _ a: @autoclosure () async throws -> T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async {
    guard let value = await awaited(a, message, file: file, line: line) else { return }
    XCTAssertNil(value, message, file: file, line: line)
}

func assertTrue(
    _ a: @autoclosure () async throws -> Bool, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async {
    guard let value = await awaited(a, message, file: file, line: line) else { return }
    XCTAssertTrue(value, message, file: file, line: line)
}

func assertFalse(
    _ a: @autoclosure () async throws -> Bool, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async {
    guard let value = await awaited(a, message, file: file, line: line) else { return }
    XCTAssertFalse(value, message, file: file, line: line)
}

func unwrap<T>(
    _ a: @autoclosure () async throws -> T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) async throws -> T {
    let value = try await a()
    return try XCTUnwrap(value, message, file: file, line: line)
}
