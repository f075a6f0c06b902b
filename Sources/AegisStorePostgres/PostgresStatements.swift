// PostgresStatements.swift — the prepared statements of the hot paths (postgres-nio prepares each
// once per pooled connection, then only binds and executes): a workload by id, the workload list
// and count (one SQL text whatever the filters: a NULL parameter matches everything), a workload
// row insert, and the placement batch (PostgresStateStore+Placements.swift).
import AegisProtocol
import PostgresNIO

/// The workload columns every read selects, in `PostgresStateStore.workload(from:)`'s order.
let workloadColumns = """
    id, state, reason, node, generation, exit_code, signal, oom_killed, restarts, created_ms, started_ms, \
    finished_ms, unenforced_limits, gpus, spec, next_attempt_ms, consecutive_exits
    """

/// The filter of `listWorkloads`/`countWorkloads` over $1 tenant, $2 states, $3 node (NULL = any).
private let workloadFilter = """
    ($1::text IS NULL OR tenant = $1) AND ($2::text[] IS NULL OR state = ANY($2::text[])) \
    AND ($3::text IS NULL OR node = $3)
    """

/// One workload row (FOR UPDATE when `lock`: `update`'s read-modify-write).
struct WorkloadByIDStatement: PostgresPreparedStatement {
    static let sql = "SELECT \(workloadColumns) FROM workloads WHERE id = $1"
    typealias Row = PostgresRow
    var id: String

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 1)
        b.append(id)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { row }
}

struct LockWorkloadStatement: PostgresPreparedStatement {
    static let sql = "SELECT \(workloadColumns) FROM workloads WHERE id = $1 FOR UPDATE"
    typealias Row = PostgresRow
    var id: String

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 1)
        b.append(id)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { row }
}

/// Workloads oldest first; $4 LIMIT (NULL = all).
struct ListWorkloadsStatement: PostgresPreparedStatement {
    static let sql = "SELECT \(workloadColumns) FROM workloads WHERE \(workloadFilter) ORDER BY created_ms, id LIMIT $4"
    typealias Row = PostgresRow
    var tenant: String?
    var states: [String]?
    var node: String?
    var limit: Int64?

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 4)
        b.append(tenant)
        b.append(states)
        b.append(node)
        b.append(limit)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { row }
}

struct CountWorkloadsStatement: PostgresPreparedStatement {
    static let sql = "SELECT COUNT(*) FROM workloads WHERE \(workloadFilter)"
    typealias Row = Int64
    var tenant: String?
    var states: [String]?
    var node: String?

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 3)
        b.append(tenant)
        b.append(states)
        b.append(node)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}

/// One new workload row (its inputs and first event are inserted in batches beside it).
struct InsertWorkloadStatement: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO workloads (id, tenant, name, state, reason, node, generation, exit_code, signal, oom_killed,
                               restarts, created_ms, started_ms, finished_ms, unenforced_limits, gpus, spec,
                               next_attempt_ms, consecutive_exits, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
        """
    typealias Row = ()
    var workload: Workload
    var unenforced: String
    var gpus: String
    var spec: String
    var idempotencyKey: String?

    func makeBindings() throws -> PostgresBindings {
        let w = workload
        var b = PostgresBindings(capacity: 20)
        b.append(w.id)
        b.append(w.spec.tenant)
        b.append(w.spec.name)
        b.append(w.state.rawValue)
        b.append(w.reason)
        b.append(w.node)
        b.append(w.generation)
        b.append(w.exitCode)
        b.append(w.signal)
        b.append(w.oomKilled)
        b.append(Int64(w.restarts))
        b.append(w.createdAtMs)
        b.append(w.startedAtMs)
        b.append(w.finishedAtMs)
        b.append(unenforced)
        b.append(gpus)
        b.append(spec)
        b.append(w.nextAttemptAtMs)
        b.append(w.consecutiveExits.map(Int64.init))
        b.append(idempotencyKey)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws {}
}

/// A placement batch in one statement: workloads whose stored generation is lower, that are not
/// final and (with only_pending) pending get the placement; each of them gets its "scheduled"
/// event, in batch order. Returns the ids applied. A batch must not repeat an id (the caller
/// splits repeats into later rounds). $1 ids, $2 nodes, $3 generations, $4 gpus JSON, $5
/// unenforced limits JSON, $6 only-if-pending flags, $7 event messages, $8 event time (Unix ms),
/// $9 event type.
struct PlacementBatchStatement: PostgresPreparedStatement {
    static let finals = WorkloadState.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ", ")
    static let sql = """
        WITH p AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bool[], $7::text[])
                WITH ORDINALITY AS p(id, node, generation, gpus, unenforced, only_pending, message, ord)
        ), u AS (
            UPDATE workloads w SET state = 'scheduled', node = p.node, generation = p.generation, gpus = p.gpus,
                reason = NULL, next_attempt_ms = NULL, unenforced_limits = p.unenforced
            FROM p
            WHERE w.id = p.id AND w.generation < p.generation AND w.state NOT IN (\(finals))
                AND (NOT p.only_pending OR w.state = 'pending')
            RETURNING w.id
        )
        INSERT INTO workload_events (workload_id, time_ms, type, message)
        SELECT p.id, $8::bigint, $9::text, p.message FROM p JOIN u ON u.id = p.id ORDER BY p.ord
        RETURNING workload_id
        """
    typealias Row = String
    var ids: [String] = []
    var nodes: [String] = []
    var generations: [Int64] = []
    var gpus: [String] = []
    var unenforced: [String] = []
    var onlyIfPending: [Bool] = []
    var messages: [String] = []
    var timeMs: Int64
    var type: String

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 9)
        b.append(ids)
        b.append(nodes)
        b.append(generations)
        b.append(gpus)
        b.append(unenforced)
        b.append(onlyIfPending)
        b.append(messages)
        b.append(timeMs)
        b.append(type)
        return b
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
}
