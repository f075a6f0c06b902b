// DatastoreMigration.swift — `aegis datastore migrate --from sqlite:PATH --to postgres://…`: a
// single-node controller's state moves into PostgreSQL as it is — tenants, API token hashes, join
// tokens, node identities, nodes, workloads with their inputs, events and idempotency keys,
// the tenant uid counter — row by row with the same ids, so tokens, joined workers and workload
// ids keep working. One transaction: a failure leaves the target as empty as it was. Then every
// table is verified: row counts and a SHA-256 over its rows in key order, read back from both
// databases, must match.
import AegisStore
import AegisSystem
import Crypto
import GRDB
import Logging
import PostgresNIO

/// How a column's values travel and are compared.
enum ColumnKind: Sendable {
    case text, integer, boolean, blob
}

/// A table of the controller's state, in the order rows must be copied (references first).
struct MigratedTable: Sendable {
    var name: String
    var columns: [(name: String, kind: ColumnKind)]
    /// The key the rows are read in (compared byte-wise on both sides).
    var key: [String]
    /// A BIGSERIAL column whose sequence must continue after the copied values.
    var serial: String?

    static let all: [MigratedTable] = [
        MigratedTable(name: "counters", columns: [("name", .text), ("value", .integer)], key: ["name"]),
        MigratedTable(
            name: "tenants",
            columns: [
                ("name", .text), ("uid", .integer), ("quota_cpu_millis", .integer), ("quota_memory_bytes", .integer),
                ("quota_gpus", .integer), ("quota_running_agents", .integer), ("created_ms", .integer),
            ], key: ["name"]),
        MigratedTable(
            name: "tokens",
            columns: [("id", .text), ("hash", .text), ("kind", .text), ("tenant", .text), ("created_ms", .integer), ("revoked", .boolean)],
            key: ["id"]),
        MigratedTable(
            name: "workloads",
            columns: [
                ("id", .text), ("tenant", .text), ("name", .text), ("state", .text), ("reason", .text), ("node", .text),
                ("generation", .integer), ("exit_code", .integer), ("signal", .integer), ("oom_killed", .boolean),
                ("restarts", .integer), ("created_ms", .integer), ("started_ms", .integer), ("finished_ms", .integer),
                ("unenforced_limits", .text), ("gpus", .text), ("spec", .text), ("next_attempt_ms", .integer),
                ("consecutive_exits", .integer), ("idempotency_key", .text),
            ], key: ["id"]),
        MigratedTable(
            name: "workload_inputs", columns: [("workload_id", .text), ("path", .text), ("content", .blob)], key: ["workload_id", "path"]),
        MigratedTable(
            name: "workload_events",
            columns: [("seq", .integer), ("workload_id", .text), ("time_ms", .integer), ("type", .text), ("message", .text)],
            key: ["seq"], serial: "seq"),
        MigratedTable(
            name: "nodes",
            columns: [
                ("name", .text), ("role", .text), ("state", .text), ("cordoned", .boolean), ("capabilities", .text),
                ("allocated", .text), ("updated_ms", .integer),
            ], key: ["name"]),
        MigratedTable(
            name: "join_tokens",
            columns: [
                ("id", .text), ("secret_hash", .text), ("role", .text), ("description", .text), ("created_ms", .integer),
                ("expires_ms", .integer), ("revoked_ms", .integer), ("uses", .integer), ("last_used_ms", .integer),
            ], key: ["id"]),
        MigratedTable(
            name: "node_identities",
            columns: [
                ("name", .text), ("key_fingerprint", .text), ("role", .text), ("first_joined_ms", .integer),
                ("last_issued_ms", .integer), ("last_serial", .text), ("join_token", .text),
            ], key: ["name"]),
        MigratedTable(
            name: "workflows",
            columns: [
                ("id", .text), ("tenant", .text), ("name", .text), ("manifest", .text), ("manifest_file", .text),
                ("parameters", .text), ("state", .text), ("phase", .text), ("created_ms", .integer), ("updated_ms", .integer),
                ("finished_ms", .integer),
            ], key: ["id"]),
    ]
}

/// One table's outcome.
public struct MigratedTableReport: Sendable, Equatable {
    public var table: String
    public var rows: Int
    /// Lowercase hex SHA-256 of the rows as read back from PostgreSQL (equal to SQLite's).
    public var checksum: String
}

public enum DatastoreMigration {
    /// Rows per INSERT statement.
    static let batchRows = 200

    /// Opens `datastore`, copies `sqlitePath` into it (`copy`), closes it.
    public static func run(sqlitePath: String, to datastore: PostgresDatastore, logger: Logger) async throws -> [MigratedTableReport] {
        let target = try await PostgresStateStore(configuration: try datastore.clientConfiguration(), hasher: NoHasher(), logger: logger)
        do {
            let reports = try await copy(sqlitePath: sqlitePath, to: target, logger: logger)
            try? await target.close()
            return reports
        } catch {
            try? await target.close()
            throw error
        }
    }

    /// Copies the SQLite database at `sqlitePath` (migrated to this build's schema first) into
    /// `target`, which must hold no controller state yet, then verifies every table.
    /// - Throws: `StoreError(.conflict)` when the target already holds state; `.database` naming
    ///   the table and step; `.conflict` naming the table whose count or checksum differs.
    public static func copy(sqlitePath: String, to target: PostgresStateStore, logger: Logger) async throws -> [MigratedTableReport] {
        // Opening through ControlStore applies this build's SQLite migrations (an older file gains
        // the columns the copy names).
        try ControlStore(path: sqlitePath, hasher: NoHasher()).close()
        var configuration = Configuration()
        configuration.readonly = true
        let source: DatabaseQueue
        do { source = try DatabaseQueue(path: sqlitePath, configuration: configuration) } catch {
            throw StoreError.wrapping(error, "open \(sqlitePath) to read it")
        }
        defer { try? source.close() }
        try await target.write("check that the target datastore is empty") { connection in
            for table in ["tenants", "tokens", "workloads", "nodes", "join_tokens", "node_identities", "workflows"] {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: logger)
                for try await count in rows.decode(Int64.self) where count > 0 {
                    throw StoreError(
                        .conflict, "the target datastore already holds state (\(count) row(s) in \(table)): migrate into an empty database")
                }
            }
            for table in MigratedTable.all {
                let rows = try read(table, from: source)
                for start in stride(from: 0, to: rows.count, by: batchRows) {
                    let batch = rows[start..<min(rows.count, start + batchRows)]
                    try await connection.query(try insert(table, Array(batch)), logger: logger)
                }
                if let serial = table.serial, !rows.isEmpty {
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL:
                                "SELECT setval(pg_get_serial_sequence('\(table.name)', '\(serial)'), (SELECT max(\(serial)) FROM \(table.name)))"
                        ), logger: logger)
                }
                logger.info("copied", metadata: ["table": "\(table.name)", "rows": "\(rows.count)"])
            }
        }
        return try await verify(source: source, target: target, logger: logger)
    }

    /// Counts and checksums of every table on both sides. - Throws: `.conflict` naming the first difference.
    static func verify(source: DatabaseQueue, target: PostgresStateStore, logger: Logger) async throws -> [MigratedTableReport] {
        var reports: [MigratedTableReport] = []
        for table in MigratedTable.all {
            let expected = digest(try read(table, from: source))
            let found = digest(try await read(table, from: target, logger: logger))
            guard expected.rows == found.rows, expected.sum == found.sum else {
                throw StoreError(
                    .conflict,
                    "verification of \(table.name) failed: SQLite has \(expected.rows) row(s), sha256 \(expected.sum); PostgreSQL has \(found.rows), sha256 \(found.sum)"
                )
            }
            reports.append(MigratedTableReport(table: table.name, rows: found.rows, checksum: found.sum))
        }
        return reports
    }

    /// A value as both sides render it for the checksum.
    enum Value: Sendable, Equatable {
        case null, text(String), integer(Int64), blob([UInt8])
    }

    static func read(_ table: MigratedTable, from source: DatabaseQueue) throws -> [[Value]] {
        let sql =
            "SELECT \(table.columns.map(\.name).joined(separator: ", ")) FROM \(table.name) ORDER BY \(table.key.joined(separator: ", "))"
        do {
            return try source.read { db in
                try Row.fetchAll(db, sql: sql).map { row in
                    table.columns.enumerated().map { i, column -> Value in
                        let value: DatabaseValue = row[i]
                        switch (value.storage, column.kind) {
                        case (.null, _): return .null
                        case (.int64(let n), _): return .integer(n)
                        case (.string(let s), .blob): return .blob(Array(s.utf8))
                        case (.string(let s), _): return .text(s)
                        case (.blob(let d), _): return .blob(Array(d))
                        case (.double(let d), _): return .integer(Int64(d))
                        }
                    }
                }
            }
        } catch { throw StoreError.wrapping(error, "read \(table.name) from SQLite") }
    }

    static func read(_ table: MigratedTable, from target: PostgresStateStore, logger: Logger) async throws -> [[Value]] {
        let columns = table.columns.map { c -> String in
            switch c.kind {
            case .text: return c.name
            case .integer: return "\(c.name)::bigint"
            case .boolean: return "(CASE WHEN \(c.name) THEN 1 ELSE 0 END)::bigint"
            case .blob: return c.name
            }
        }
        let order = table.key.map { key in table.columns.first { $0.name == key }?.kind == .text ? "\(key) COLLATE \"C\"" : key }
        let sql = "SELECT \(columns.joined(separator: ", ")) FROM \(table.name) ORDER BY \(order.joined(separator: ", "))"
        return try await target.read("read \(table.name) back from PostgreSQL") { connection in
            var out: [[Value]] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
                var values: [Value] = []
                for (cell, column) in zip(row, table.columns) {
                    switch column.kind {
                    case .text: values.append(try cell.decode(String?.self).map { .text($0) } ?? .null)
                    case .integer, .boolean: values.append(try cell.decode(Int64?.self).map { .integer($0) } ?? .null)
                    case .blob: values.append(try cell.decode(ByteBuffer?.self).map { .blob(Array($0.readableBytesView)) } ?? .null)
                    }
                }
                out.append(values)
            }
            return out
        }
    }

    /// One multi-row INSERT with bound values.
    static func insert(_ table: MigratedTable, _ rows: [[Value]]) throws -> PostgresQuery {
        var bindings = PostgresBindings(capacity: rows.count * table.columns.count)
        var tuples: [String] = []
        var n = 0
        for row in rows {
            var places: [String] = []
            for (value, column) in zip(row, table.columns) {
                n += 1
                places.append("$\(n)")
                switch (value, column.kind) {
                case (.null, _): bindings.appendNull()
                case (.integer(let v), .boolean): try bindings.append(v != 0)
                case (.integer(let v), .text): try bindings.append(String(v))
                case (.integer(let v), _): try bindings.append(v)
                case (.text(let s), _): try bindings.append(s)
                case (.blob(let b), .text): try bindings.append(String(decoding: b, as: UTF8.self))
                case (.blob(let b), _): try bindings.append(ByteBuffer(bytes: b))
                }
            }
            tuples.append("(" + places.joined(separator: ", ") + ")")
        }
        let sql =
            "INSERT INTO \(table.name) (\(table.columns.map(\.name).joined(separator: ", "))) VALUES " + tuples.joined(separator: ", ")
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// Row count and lowercase hex SHA-256 over the rows (each value tagged by type, length-prefixed).
    static func digest(_ rows: [[Value]]) -> (rows: Int, sum: String) {
        var hash = SHA256()
        for row in rows {
            for value in row {
                switch value {
                case .null: hash.update(data: [0])
                case .integer(let n): hash.update(data: [1] + Array("\(n)".utf8) + [0])
                case .text(let s):
                    let bytes = Array(s.utf8)
                    hash.update(data: [2] + Array("\(bytes.count):".utf8) + bytes)
                case .blob(let b): hash.update(data: [3] + Array("\(b.count):".utf8) + b)
                }
            }
            hash.update(data: [10])
        }
        return (rows.count, Hex.lowercase(hash.finalize()))
    }
}

/// The copy never hashes a token: rows keep the hashes they have.
private struct NoHasher: TokenHasher {
    func hash(_ token: String) -> String { String(repeating: "0", count: 64) }
}
