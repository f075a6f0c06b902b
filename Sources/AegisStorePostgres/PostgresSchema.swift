// PostgresSchema.swift — versioned migrations of the PostgreSQL datastore. Applied versions are
// recorded in `aegis_migrations`; the whole set runs under an advisory lock in one transaction, so
// controllers starting together migrate once. Rules as for SQLite (Schema.swift in AegisStore):
// never edit a shipped migration; add the next with ADD COLUMN … DEFAULT or new tables.
import AegisStore
import Logging
import PostgresNIO

enum PostgresSchema {
    /// (identifier, SQL) in order. Identifiers are never reused.
    static let migrations: [(id: String, sql: [String])] = [
        (
            "v1",
            [
                // The leader lease (LeaderLease.swift): one row; `epoch` is the fencing token, raised
                // by every takeover; `expires_ms` is the database clock's Unix ms.
                """
                CREATE TABLE aegis_leader (
                    id         INTEGER PRIMARY KEY CHECK (id = 1),
                    holder     TEXT NOT NULL,
                    epoch      BIGINT NOT NULL,
                    renewed_ms BIGINT NOT NULL,
                    expires_ms BIGINT NOT NULL
                )
                """,
                "INSERT INTO aegis_leader (id, holder, epoch, renewed_ms, expires_ms) VALUES (1, '', 0, 0, 0)",
            ]
        )
    ]

    /// A constant key for pg_advisory_xact_lock: "aegis" in ASCII.
    static let migrationLockKey: Int64 = 0x61_6567_6973

    static func migrate(client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS aegis_migrations (id TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                logger: logger)
            var applied: Set<String> = []
            for try await id in try await connection.query("SELECT id FROM aegis_migrations", logger: logger).decode(String.self) {
                applied.insert(id)
            }
            let known = Set(migrations.map(\.id))
            if let unknown = applied.subtracting(known).sorted().first {
                throw StoreError(
                    .schemaTooNew,
                    "the datastore has migration \(unknown), which this AEGIS does not know: it was written by a newer AEGIS")
            }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO aegis_migrations (id, applied_ms) VALUES (\(migration.id), \(ControlStore.nowMs()))",
                    logger: logger)
            }
        }
    }
}
