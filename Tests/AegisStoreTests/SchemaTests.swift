// SchemaTests.swift — opening, migrations, WAL configuration, newer-schema refusal, file mode.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

final class SchemaTests: StoreTestCase {
    func testMigratesEmptyFileAndConfiguresWAL() async throws {
        let store = try openSQLite()
        defer { try? store.close() }
        XCTAssertEqual(store.path, dbPath)
        XCTAssertEqual(try store.schemaVersions(), ["v1", "v2", "v3-restart-backoff", "v4-idempotency-keys", "v5-workflows"])
        XCTAssertEqual(try store.pragma("journal_mode"), "wal")
        XCTAssertEqual(try store.pragma("synchronous"), "1")  // NORMAL
        XCTAssertEqual(try store.pragma("foreign_keys"), "1")
        XCTAssertEqual(try store.pragma("busy_timeout"), "5000")
        // Tables of v1 exist and start empty.
        XCTAssertEqual(try store.listTenants(), [])
        XCTAssertEqual(try store.listTokens(), [])
        XCTAssertEqual(try store.listWorkloads(), [])
        XCTAssertEqual(try store.listNodes(), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dbPath + "-wal"))
        XCTAssertEqual(try store.pragma("quick_check"), "ok")
        await expectStoreError(.invalidArgument) { _ = try store.pragma("journal_mode; DROP TABLE tenants") }
        await expectStoreError(.invalidArgument, containing: "wal_checkpoint") { _ = try store.pragma("wal_checkpoint") }
    }

    func testDatabaseFileIsPrivate() async throws {
        let nested = dir + "/data"
        let store = try ControlStore(dataDirectory: nested, hasher: ToyHasher())
        defer { try? store.close() }
        try store.bootstrap()
        var st = stat()
        XCTAssertEqual(stat(nested, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        for f in ["aegis.db", "aegis.db-wal"] {
            XCTAssertEqual(stat(nested + "/" + f, &st), 0, f)
            XCTAssertEqual(st.st_mode & 0o077, 0, "\(f) mode \(String(st.st_mode & 0o777, radix: 8)) is readable by others")
        }
    }

    func testReopeningMigratedFileIsANoOp() async throws {
        try openSQLite().close()
        let again = try openSQLite()
        defer { try? again.close() }
        XCTAssertEqual(try again.schemaVersions(), ["v1", "v2", "v3-restart-backoff", "v4-idempotency-keys", "v5-workflows"])
    }

    func testNewerSchemaIsRefused() async throws {
        let store = try openSQLite()
        try store.bootstrap()
        try store.executeRaw(
            """
            INSERT INTO grdb_migrations(identifier) VALUES ('v99');
            ALTER TABLE tenants ADD COLUMN future_column TEXT DEFAULT 'x';
            """)
        try store.close()
        await expectStoreError(.schemaTooNew, containing: "v99") { _ = try openSQLite() }
        // The refused open did not touch the data: removing the foreign migration makes it open again.
        let raw = Process()
        raw.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        raw.arguments = [dbPath, "DELETE FROM grdb_migrations WHERE identifier = 'v99'"]
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") {
            try raw.run()
            raw.waitUntilExit()
            XCTAssertEqual(raw.terminationStatus, 0)
            let reopened = try openSQLite()
            defer { try? reopened.close() }
            XCTAssertEqual(try reopened.tenant(name: "default")?.uid, ControlStore.tenantUIDBase)
        }
    }

    func testNotADatabaseNamesTheFile() async throws {
        let junk = Array(repeating: UInt8(ascii: "z"), count: 8192)
        FileManager.default.createFile(atPath: dbPath, contents: Data(junk))
        await expectStoreError(.database, containing: dbPath) { _ = try openSQLite() }
    }

    func testUnwritableDirectoryNamesErrno() async throws {
        await expectStoreError(.database, containing: "ENOENT") {
            _ = try ControlStore(path: dir + "/missing/sub/aegis.db", hasher: ToyHasher())
        }
    }

    func testClosedStoreThrows() async throws {
        let store = try openSQLite()
        try store.close()
        await expectStoreError(.database) { _ = try store.listTenants() }
    }
}
