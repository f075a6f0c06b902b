// ControlStore.swift — the controller's durable state in one SQLite file (`aegis.db`), through a
// GRDB DatabasePool in WAL mode. Tenants, tokens, workloads (+ inputs, events), nodes.
//
// Durability: WAL with synchronous=NORMAL (SQLite "pragma synchronous": in WAL mode NORMAL is
// durable across an application crash; a power loss can roll back the last transactions committed
// since the previous checkpoint). Reads never block the writer (WAL readers use snapshots).
import GRDB
import AegisProtocol
import AegisSystem
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// close(2) outside the class, whose own `close()` would shadow it.
private func closeFD(_ fd: Int32) { _ = close(fd) }

/// Hashes an API token for storage and lookup. The store keeps only `hash(token)`, never the token.
/// Production: lowercase hex of SHA-256(token) (needs swift-crypto's `Crypto`, wired by the
/// controller). Must be deterministic and must not return its input.
public protocol TokenHasher: Sendable {
    func hash(_ token: String) -> String
}

/// The controller's state store. Thread-safe: any number of concurrent readers, one writer at a
/// time (SQLite WAL); every public method is one transaction.
public final class ControlStore: Sendable {
    /// File name inside the data directory.
    public static let fileName = "aegis.db"
    /// Tenant uids are `tenantUIDBase + n * tenantUIDStride`, n = 0, 1, 2 … in creation order,
    /// never reused (a counter in the `counters` table survives tenant deletion).
    public static let tenantUIDBase: UInt32 = 200_000
    public static let tenantUIDStride: UInt32 = 1
    /// Name of the tenant `bootstrap()` creates.
    public static let defaultTenant = "default"

    /// Absolute or relative path of the SQLite file.
    public let path: String
    let pool: DatabasePool
    let hasher: any TokenHasher
    /// Decoded specs by the stored text they came from (a re-read row skips its JSON decode).
    let specs = SpecCache()
    /// Decoded node columns by the stored text they came from (`listNodes` decodes changed rows only).
    let nodeCache = NodeCache()

    /// Opens (creating if missing, mode 0600) the database at `path` and applies migrations.
    /// - Parameters:
    ///   - path: SQLite file; `-wal` and `-shm` files appear next to it.
    ///   - hasher: token hash used by createToken/authenticate.
    ///   - busyTimeoutSeconds: how long the writer connection waits for a lock held by another
    ///     process (SQLite busy_timeout) before failing with SQLITE_BUSY. (GRDB gives pool readers
    ///     their own 10 s handler; in WAL mode readers only wait during WAL recovery.)
    /// - Throws: `StoreError(.schemaTooNew)` when the file holds migrations this build does not
    ///   know (it was written by a newer AEGIS); `StoreError(.database)` when the file cannot be
    ///   created/opened, is not a database, or WAL cannot be enabled.
    public init(path: String, hasher: any TokenHasher, busyTimeoutSeconds: Double = 5) throws {
        self.path = path
        self.hasher = hasher
        // Create the file ourselves so it (and the -wal/-shm files SQLite derives from its mode)
        // is 0600: it holds token hashes and every tenant's specs.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 {
            let e = errno
            throw StoreError(.database, "open \(path): \(Errno(e).explained)")
        }
        closeFD(fd)

        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(busyTimeoutSeconds)
        config.label = "aegis.db"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError.wrapping(error, "open \(path)")
        }
        let migrator = Schema.migrator()
        do {
            let mode = try pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } ?? "?"
            guard mode.lowercased() == "wal" else {
                throw StoreError(
                    .database, "open \(path): journal_mode is \(mode), expected wal (file system without shared-memory support?)")
            }
            let applied = try pool.read { try migrator.appliedIdentifiers($0) }
            let known = migrator.migrations
            let unknown = applied.subtracting(known).sorted()
            if !unknown.isEmpty {
                throw StoreError(
                    .schemaTooNew,
                    "\(path) was written by a newer AEGIS: schema migrations \(unknown.joined(separator: ", ")) are unknown to this build (it knows \(known.joined(separator: ", "))); upgrade AEGIS or restore an older backup"
                )
            }
            try migrator.migrate(pool)
        } catch {
            try? pool.close()
            throw StoreError.wrapping(error, "migrate \(path)")
        }
    }

    /// Opens `<dataDirectory>/aegis.db`, creating the directory (mode 0700) if missing.
    /// - Throws: `StoreError(.database)` when the directory cannot be created; see `init(path:)`.
    public convenience init(dataDirectory: String, hasher: any TokenHasher) throws {
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST {
            let e = errno
            throw StoreError(.database, "mkdir \(dataDirectory): \(Errno(e).explained)")
        }
        let dir = dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory
        try self.init(path: dir + "/" + ControlStore.fileName, hasher: hasher)
    }

    /// Closes every connection (checkpointing the WAL). Later calls on this store throw.
    /// - Throws: `StoreError(.database)` if a statement is still running.
    public func close() throws {
        do { try pool.close() } catch { throw StoreError.wrapping(error, "close \(path)") }
    }

    /// Identifiers of the applied schema migrations, in order ("v1", …).
    public func schemaVersions() throws -> [String] {
        try read("read schema versions") { try Schema.migrator().appliedMigrations($0) }
    }

    /// PRAGMAs `pragma(_:)` may read (all without side effects).
    public static let readablePragmas: Set<String> = [
        "journal_mode", "synchronous", "foreign_keys", "busy_timeout", "user_version", "page_size", "page_count",
        "freelist_count", "wal_autocheckpoint", "cache_size", "quick_check", "integrity_check",
    ]

    /// Current value of a PRAGMA on the writer connection, as text: "journal_mode" → "wal",
    /// "synchronous" → "1" (NORMAL), "foreign_keys" → "1", "busy_timeout" → ms, "quick_check" →
    /// "ok". For diagnostics (`aegis debug`, tests); waits for a running write transaction.
    /// - Throws: `.invalidArgument` unless `name` is in `readablePragmas`.
    public func pragma(_ name: String) throws -> String? {
        guard Self.readablePragmas.contains(name) else {
            throw StoreError(
                .invalidArgument,
                "pragma \"\(name)\" is not readable here; allowed: \(Self.readablePragmas.sorted().joined(separator: ", "))")
        }
        do {
            return try pool.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA \(name)") }
        } catch {
            throw StoreError.wrapping(error, "read PRAGMA \(name)")
        }
    }

    /// Runs raw SQL in a write transaction. Tests only (via @testable import): simulating other
    /// versions' schemas and damaged rows.
    func executeRaw(_ sql: String) throws {
        try write("execute raw SQL") { try $0.execute(sql: sql) }
    }

    /// First-start setup, idempotent: creates the `default` tenant (unlimited quota) if missing.
    /// - Returns: true when it created the tenant.
    @discardableResult
    public func bootstrap(nowMs: Int64 = ControlStore.nowMs()) throws -> Bool {
        try write("bootstrap") { db in
            if try Self.tenantExists(db, ControlStore.defaultTenant) { return false }
            _ = try Self.insertTenant(db, name: ControlStore.defaultTenant, quota: Quota(), nowMs: nowMs)
            return true
        }
    }

    // MARK: - helpers

    /// Wall-clock time in Unix milliseconds (CLOCK_REALTIME).
    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw StoreError.wrapping(error, what) }
    }

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw StoreError.wrapping(error, what) }
    }

    /// The encoder of stored JSON columns: compact, keys in declaration order and dictionaries'
    /// keys sorted, so equal values give equal bytes (`CompactJSONEncoder`).
    static func makeEncoder() -> CompactJSONEncoder { CompactJSONEncoder() }

    static func encodeJSON<T: Encodable>(_ value: T, _ what: String, using encoder: CompactJSONEncoder? = nil) throws -> String {
        let enc = encoder ?? makeEncoder()
        do {
            return try enc.encodeString(value)
        } catch {
            throw StoreError(.encoding, "\(what): cannot encode JSON: \(error)")
        }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError(.encoding, "\(what): stored JSON does not decode as \(T.self): \(error)")
        }
    }
}
