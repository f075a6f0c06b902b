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
                // The controller's state, as SQLite's v1…v3 (AegisStore/Schema.swift) in one step.
                // Times are Unix ms (BIGINT); JSON columns are TEXT as CompactJSONEncoder wrote them,
                // so both backends store byte-identical specs. Keys sort as bytes (COLLATE "C"), as in SQLite,
                // whatever the database's locale. Monotonic counters (tenant uids).
                """
                CREATE TABLE counters (
                    name  TEXT COLLATE "C" PRIMARY KEY,
                    value BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE tenants (
                    name                 TEXT COLLATE "C" PRIMARY KEY,
                    uid                  BIGINT NOT NULL UNIQUE,
                    quota_cpu_millis     BIGINT,
                    quota_memory_bytes   BIGINT,
                    quota_gpus           BIGINT,
                    quota_running_agents BIGINT,
                    created_ms           BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE tokens (
                    id         TEXT COLLATE "C" PRIMARY KEY,
                    hash       TEXT NOT NULL UNIQUE,
                    kind       TEXT NOT NULL CHECK (kind IN ('admin', 'tenant')),
                    tenant     TEXT REFERENCES tenants(name) ON DELETE CASCADE,
                    created_ms BIGINT NOT NULL,
                    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
                    CHECK ((kind = 'admin' AND tenant IS NULL) OR (kind = 'tenant' AND tenant IS NOT NULL))
                )
                """,
                "CREATE INDEX tokens_by_tenant ON tokens (tenant) WHERE tenant IS NOT NULL",
                """
                CREATE TABLE workloads (
                    id                TEXT COLLATE "C" PRIMARY KEY,
                    tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
                    name              TEXT NOT NULL,
                    state             TEXT NOT NULL,
                    reason            TEXT,
                    node              TEXT,
                    generation        BIGINT NOT NULL DEFAULT 0,
                    exit_code         INTEGER,
                    signal            INTEGER,
                    oom_killed        BOOLEAN NOT NULL DEFAULT FALSE,
                    restarts          BIGINT NOT NULL DEFAULT 0,
                    created_ms        BIGINT NOT NULL,
                    started_ms        BIGINT,
                    finished_ms       BIGINT,
                    unenforced_limits TEXT NOT NULL DEFAULT '[]',
                    gpus              TEXT NOT NULL DEFAULT '[]',
                    spec              TEXT NOT NULL,
                    next_attempt_ms   BIGINT,
                    consecutive_exits BIGINT
                )
                """,
                "CREATE INDEX workloads_by_tenant ON workloads (tenant, created_ms)",
                "CREATE INDEX workloads_by_state ON workloads (state)",
                "CREATE INDEX workloads_by_node ON workloads (node) WHERE node IS NOT NULL",
                "CREATE INDEX workloads_by_created ON workloads (created_ms, id)",
                """
                CREATE TABLE workload_inputs (
                    workload_id TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
                    path        TEXT NOT NULL,
                    content     BYTEA NOT NULL,
                    PRIMARY KEY (workload_id, path)
                )
                """,
                """
                CREATE TABLE workload_events (
                    seq         BIGSERIAL PRIMARY KEY,
                    workload_id TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
                    time_ms     BIGINT NOT NULL,
                    type        TEXT NOT NULL,
                    message     TEXT NOT NULL
                )
                """,
                "CREATE INDEX workload_events_by_workload ON workload_events (workload_id, seq)",
                """
                CREATE TABLE nodes (
                    name         TEXT COLLATE "C" PRIMARY KEY,
                    role         TEXT NOT NULL,
                    state        TEXT NOT NULL,
                    cordoned     BOOLEAN NOT NULL DEFAULT FALSE,
                    capabilities TEXT NOT NULL,
                    allocated    TEXT NOT NULL,
                    updated_ms   BIGINT NOT NULL
                )
                """,
                // Join tokens: only the hash of the secret; `revoked_ms` NULL = not revoked.
                """
                CREATE TABLE join_tokens (
                    id           TEXT COLLATE "C" PRIMARY KEY,
                    secret_hash  TEXT NOT NULL,
                    role         TEXT NOT NULL CHECK (role IN ('controller', 'worker', 'hybrid')),
                    description  TEXT NOT NULL DEFAULT '',
                    created_ms   BIGINT NOT NULL,
                    expires_ms   BIGINT NOT NULL,
                    revoked_ms   BIGINT,
                    uses         BIGINT NOT NULL DEFAULT 0,
                    last_used_ms BIGINT
                )
                """,
                "CREATE INDEX join_tokens_by_created ON join_tokens (created_ms, id)",
                // The public key each node name is pinned to on its first join.
                """
                CREATE TABLE node_identities (
                    name            TEXT COLLATE "C" PRIMARY KEY,
                    key_fingerprint TEXT NOT NULL,
                    role            TEXT NOT NULL CHECK (role IN ('controller', 'worker', 'hybrid')),
                    first_joined_ms BIGINT NOT NULL,
                    last_issued_ms  BIGINT NOT NULL,
                    last_serial     TEXT,
                    join_token      TEXT
                )
                """,
            ]
        ),
        (
            "v2-idempotency-keys",
            [
                // Submissions with an Idempotency-Key (AegisControl Controller+Idempotency.swift):
                // unique per tenant, as SQLite's v4.
                "ALTER TABLE workloads ADD COLUMN idempotency_key TEXT",
                """
                CREATE UNIQUE INDEX workloads_by_idempotency_key ON workloads (tenant, idempotency_key)
                    WHERE idempotency_key IS NOT NULL
                """,
            ]
        ),
        (
            "v3-workflows",
            [
                // Workflow runs (PostgresStateStore+Workflows.swift), as SQLite's v5-workflows.
                """
                CREATE TABLE workflows (
                    id            TEXT COLLATE "C" PRIMARY KEY,
                    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
                    name          TEXT NOT NULL,
                    manifest      TEXT NOT NULL,
                    manifest_file TEXT NOT NULL,
                    parameters    TEXT NOT NULL,
                    state         TEXT NOT NULL,
                    phase         TEXT NOT NULL,
                    created_ms    BIGINT NOT NULL,
                    updated_ms    BIGINT NOT NULL,
                    finished_ms   BIGINT
                )
                """,
                "CREATE INDEX workflows_by_tenant ON workflows (tenant, created_ms, id)",
                "CREATE INDEX workflows_by_phase ON workflows (phase)",
            ]
        ),
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
