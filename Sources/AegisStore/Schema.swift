// Schema.swift — versioned migrations of aegis.db (GRDB DatabaseMigrator; applied identifiers are
// recorded in `grdb_migrations`). Rules for later versions: never edit a shipped migration; add
// "v2", "v3" … that ALTER TABLE … ADD COLUMN with a DEFAULT (or create tables). Every query in this
// module names its columns, so added columns never break older reads.
import GRDB

enum Schema {
    static func migrator() -> DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            // Monotonic counters (tenant uid allocation). Never decremented.
            try db.execute(
                sql: """
                    CREATE TABLE counters (
                        name  TEXT PRIMARY KEY NOT NULL,
                        value INTEGER NOT NULL
                    ) STRICT;

                    CREATE TABLE tenants (
                        name                 TEXT PRIMARY KEY NOT NULL,
                        uid                  INTEGER NOT NULL UNIQUE,
                        quota_cpu_millis     INTEGER,
                        quota_memory_bytes   INTEGER,
                        quota_gpus           INTEGER,
                        quota_running_agents INTEGER,
                        created_ms           INTEGER NOT NULL
                    ) STRICT;

                    CREATE TABLE tokens (
                        id         TEXT PRIMARY KEY NOT NULL,
                        hash       TEXT NOT NULL UNIQUE,
                        kind       TEXT NOT NULL CHECK (kind IN ('admin', 'tenant')),
                        tenant     TEXT REFERENCES tenants(name) ON DELETE CASCADE,
                        created_ms INTEGER NOT NULL,
                        revoked    INTEGER NOT NULL DEFAULT 0,
                        CHECK ((kind = 'admin' AND tenant IS NULL) OR (kind = 'tenant' AND tenant IS NOT NULL))
                    ) STRICT;

                    CREATE TABLE workloads (
                        id                TEXT PRIMARY KEY NOT NULL,
                        tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
                        name              TEXT NOT NULL,
                        state             TEXT NOT NULL,
                        reason            TEXT,
                        node              TEXT,
                        generation        INTEGER NOT NULL DEFAULT 0,
                        exit_code         INTEGER,
                        signal            INTEGER,
                        oom_killed        INTEGER NOT NULL DEFAULT 0,
                        restarts          INTEGER NOT NULL DEFAULT 0,
                        created_ms        INTEGER NOT NULL,
                        started_ms        INTEGER,
                        finished_ms       INTEGER,
                        unenforced_limits TEXT NOT NULL DEFAULT '[]',
                        gpus              TEXT NOT NULL DEFAULT '[]',
                        spec              TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX workloads_by_tenant ON workloads(tenant, created_ms);
                    CREATE INDEX workloads_by_state ON workloads(state);
                    CREATE INDEX workloads_by_node ON workloads(node) WHERE node IS NOT NULL;

                    CREATE TABLE workload_inputs (
                        workload_id TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
                        path        TEXT NOT NULL,
                        content     BLOB NOT NULL,
                        PRIMARY KEY (workload_id, path)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE workload_events (
                        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
                        workload_id TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
                        time_ms     INTEGER NOT NULL,
                        type        TEXT NOT NULL,
                        message     TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX workload_events_by_workload ON workload_events(workload_id, seq);

                    CREATE TABLE nodes (
                        name         TEXT PRIMARY KEY NOT NULL,
                        role         TEXT NOT NULL,
                        state        TEXT NOT NULL,
                        cordoned     INTEGER NOT NULL DEFAULT 0,
                        capabilities TEXT NOT NULL,
                        allocated    TEXT NOT NULL,
                        updated_ms   INTEGER NOT NULL
                    ) STRICT;
                    """)
        }
        m.registerMigration("v2") { db in
            // Join tokens (JoinTokens.swift): only the SHA-256 of the secret is kept. Times are
            // Unix ms; `revoked_ms` NULL = not revoked. Node identities (NodeIdentities.swift): the
            // public key each node name is pinned to on its first join.
            try db.execute(
                sql: """
                    CREATE TABLE join_tokens (
                        id           TEXT PRIMARY KEY NOT NULL,
                        secret_hash  TEXT NOT NULL,
                        role         TEXT NOT NULL CHECK (role IN ('controller', 'worker', 'hybrid')),
                        description  TEXT NOT NULL DEFAULT '',
                        created_ms   INTEGER NOT NULL,
                        expires_ms   INTEGER NOT NULL,
                        revoked_ms   INTEGER,
                        uses         INTEGER NOT NULL DEFAULT 0,
                        last_used_ms INTEGER
                    ) STRICT;

                    CREATE TABLE node_identities (
                        name            TEXT PRIMARY KEY NOT NULL,
                        key_fingerprint TEXT NOT NULL,
                        role            TEXT NOT NULL CHECK (role IN ('controller', 'worker', 'hybrid')),
                        first_joined_ms INTEGER NOT NULL,
                        last_issued_ms  INTEGER NOT NULL,
                        last_serial     TEXT,
                        join_token      TEXT
                    ) STRICT;
                    """)
        }
        m.registerMigration("v3-restart-backoff") { db in
            // Restart back-off (AegisProtocol/RestartBackoff.swift): a pending workload is not placed
            // before `next_attempt_ms` (Unix ms, NULL = at once); `consecutive_exits` counts the
            // exits in a row that led to a restart.
            try db.execute(
                sql: """
                    ALTER TABLE workloads ADD COLUMN next_attempt_ms INTEGER;
                    ALTER TABLE workloads ADD COLUMN consecutive_exits INTEGER;
                    """)
        }
        m.registerMigration("v4-idempotency-keys") { db in
            // Submissions with an Idempotency-Key header: the key, unique per tenant (a retried
            // submission finds its first workload instead of making a second).
            try db.execute(
                sql: """
                    ALTER TABLE workloads ADD COLUMN idempotency_key TEXT;
                    CREATE UNIQUE INDEX workloads_by_idempotency_key ON workloads(tenant, idempotency_key)
                        WHERE idempotency_key IS NOT NULL;
                    """)
        }
        m.registerMigration("v5-workflows") { db in
            // Workflow runs (Workflows.swift): the manifest and parameters they started with, the
            // run state as JSON, the phase (running until it ends). Gone with their tenant.
            try db.execute(
                sql: """
                    CREATE TABLE workflows (
                        id            TEXT PRIMARY KEY NOT NULL,
                        tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
                        name          TEXT NOT NULL,
                        manifest      TEXT NOT NULL,
                        manifest_file TEXT NOT NULL,
                        parameters    TEXT NOT NULL,
                        state         TEXT NOT NULL,
                        phase         TEXT NOT NULL,
                        created_ms    INTEGER NOT NULL,
                        updated_ms    INTEGER NOT NULL,
                        finished_ms   INTEGER
                    ) STRICT;
                    CREATE INDEX workflows_by_tenant ON workflows(tenant, created_ms);
                    CREATE INDEX workflows_by_phase ON workflows(phase);
                    """)
        }
        return m
    }
}
