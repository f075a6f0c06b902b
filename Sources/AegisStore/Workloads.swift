// Workloads.swift — workload rows (spec as JSON, status as columns), their input files (one blob
// per file in `workload_inputs`, so listing never reads them) and their event log.
import GRDB
import AegisProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line of a workload's history, as `describe` shows it.
public struct WorkloadEvent: Codable, Sendable, Equatable {
    /// Unix milliseconds.
    public var timeMs: Int64
    /// Short CamelCase kind: "Submitted", "Scheduled", "Started", "Exited", "Cancelled", …
    public var type: String
    public var message: String

    public init(timeMs: Int64 = ControlStore.nowMs(), type: String, message: String) {
        self.timeMs = timeMs
        self.type = type
        self.message = message
    }
}

/// A workload to store and its first history line (`ControlStateStore.insertWorkloads`).
public struct NewWorkload: Sendable {
    public var workload: Workload
    public var event: WorkloadEvent?
    /// The spec's stored JSON when the caller has it already: `CompactJSONEncoder`'s encoding of
    /// `workload.spec` without its inputs (the controller encodes it once for the row and its answer).
    public var specJSON: String?
    /// The client's `Idempotency-Key` for this submission: unique per tenant (a second workload
    /// with the same key is refused as `.alreadyExists`; `workload(tenant:idempotencyKey:)` finds
    /// the first).
    public var idempotencyKey: String?

    public init(_ workload: Workload, event: WorkloadEvent? = nil, specJSON: String? = nil, idempotencyKey: String? = nil) {
        self.workload = workload
        self.event = event
        self.specJSON = specJSON
        self.idempotencyKey = idempotencyKey
    }
}

extension ControlStore {
    /// A new workload id: "a-" + 10 Crockford-base32 digits of the Unix time in ms + 6 random
    /// base32 digits (30 bits). Ids sort by creation time (to the millisecond) as plain strings.
    public static func newWorkloadID(nowMs: Int64 = ControlStore.nowMs()) -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        var out = Array("a-".utf8)
        let t = UInt64(max(0, nowMs))
        for i in stride(from: 9, through: 0, by: -1) { out.append(alphabet[Int((t >> (5 * UInt64(i))) & 31)]) }
        var rng = SystemRandomNumberGenerator()
        let r = rng.next() as UInt64
        for i in 0..<6 { out.append(alphabet[Int((r >> (5 * UInt64(i))) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Stores a new workload. `workload.spec.inputs` go to `workload_inputs`; the row keeps the
    /// spec without them. `event`, if given, is its first history line (same transaction).
    /// - Throws: `.notFound` (spec.tenant does not exist), `.alreadyExists` (id taken), `.database`.
    public func insertWorkload(_ workload: Workload, event: WorkloadEvent? = nil) throws {
        let columns = try Self.encodedColumns(workload, Self.makeEncoder())
        try write("insert workload \(workload.id)") { db in
            var tenants: [String: Bool] = [:]
            try Self.insertRow(db, workload, event, columns, tenants: &tenants)
        }
        rememberSpec(of: workload, text: columns.spec)
    }

    /// Stores new workloads in ONE transaction, each as `insertWorkload` would. Returns one outcome
    /// per workload, in order: nil when stored; the `.notFound` (tenant) or `.alreadyExists` (id,
    /// also a repeat within the batch) that kept it out, the others being stored all the same.
    /// - Throws: `.encoding`, `.database` (then nothing is stored).
    public func insertWorkloads(_ new: [NewWorkload]) throws -> [StoreError?] {
        let encoder = Self.makeEncoder()
        let columns = try new.map { try Self.encodedColumns($0.workload, encoder, specJSON: $0.specJSON) }
        return try write("insert \(new.count) workload(s)") { db in
            var outcomes: [StoreError?] = []
            var tenants: [String: Bool] = [:]  // whether it exists, asked once per tenant in the batch
            for (n, c) in zip(new, columns) {
                do {
                    try Self.insertRow(db, n.workload, n.event, c, tenants: &tenants, idempotencyKey: n.idempotencyKey)
                    rememberSpec(of: n.workload, text: c.spec)
                    outcomes.append(nil)
                } catch let e as StoreError where e.kind == .notFound || e.kind == .alreadyExists {
                    outcomes.append(e)  // refused before anything of it was written
                }
            }
            return outcomes
        }
    }

    /// The JSON columns of a workload row.
    struct EncodedColumns {
        var spec: String
        var unenforced: String
        var gpus: String
    }

    static func encodedColumns(_ w: Workload, _ encoder: CompactJSONEncoder, specJSON known: String? = nil) throws -> EncodedColumns {
        EncodedColumns(
            spec: try known ?? specJSON(w.spec, w.id),
            unenforced: try stringsJSON(w.unenforcedLimits, "workload \(w.id) unenforcedLimits", encoder),
            gpus: try stringsJSON(w.gpus, "workload \(w.id) gpus", encoder))
    }

    /// A JSON array of strings (the common empty one without the encoder).
    static func stringsJSON(_ strings: [String], _ what: String, _ encoder: CompactJSONEncoder) throws -> String {
        strings.isEmpty ? "[]" : try encodeJSON(strings, what, using: encoder)
    }

    /// Inserts one workload row, its inputs and its first event; checks tenant and id first (a
    /// refusal writes nothing).
    /// `tenants` remembers, within one transaction, which tenants exist.
    static func insertRow(
        _ db: Database, _ w: Workload, _ event: WorkloadEvent?, _ c: EncodedColumns, tenants: inout [String: Bool],
        idempotencyKey: String? = nil
    ) throws {
        let tenant = w.spec.tenant
        let exists = try tenants[tenant] ?? tenantExists(db, tenant)
        tenants[tenant] = exists
        guard exists else { throw StoreError(.notFound, "tenant \(tenant) does not exist") }
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM workloads WHERE id = ?)"), arguments: [w.id])
            == true
        {
            throw StoreError(.alreadyExists, "workload \(w.id) already exists")
        }
        if let key = idempotencyKey,
            let first = try String.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM workloads WHERE tenant = ? AND idempotency_key = ?"), arguments: [tenant, key])
        {
            throw StoreError(.alreadyExists, "idempotency key \(key) of tenant \(tenant) was used by workload \(first)")
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO workloads(id, tenant, name, state, reason, node, generation, exit_code, signal, oom_killed,
                                      restarts, created_ms, started_ms, finished_ms, unenforced_limits, gpus, spec,
                                      next_attempt_ms, consecutive_exits, idempotency_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                w.id, tenant, w.spec.name, w.state.rawValue, w.reason, w.node, w.generation, w.exitCode,
                w.signal, w.oomKilled, w.restarts, w.createdAtMs, w.startedAtMs, w.finishedAtMs,
                c.unenforced, c.gpus, c.spec, w.nextAttemptAtMs, w.consecutiveExits, idempotencyKey,
            ])
        let stmt = try db.cachedStatement(sql: "INSERT INTO workload_inputs(workload_id, path, content) VALUES (?, ?, ?)")
        for (path, content) in w.spec.inputs.sorted(by: { $0.key < $1.key }) {
            try stmt.execute(arguments: [w.id, path, Data(content)])
        }
        if let event { try insertEvent(db, w.id, event) }
    }

    /// The workload, or nil. With `includeInputs` false (default) `spec.inputs` is empty; use
    /// `inputs(id:)` or pass true to load the files.
    public func workload(id: String, includeInputs: Bool = false) throws -> Workload? {
        try read("read workload \(id)") { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT \(Self.workloadColumns) FROM workloads WHERE id = ?"), arguments: [id])
            else { return nil }
            var w = try workload(from: row, JSONDecoder())
            if includeInputs { w.spec.inputs = try Self.loadInputs(db, id) }
            return w
        }
    }

    /// The workload of `tenant` submitted with this idempotency key, or nil (without inputs).
    public func workload(tenant: String, idempotencyKey: String) throws -> Workload? {
        try read("read workload by idempotency key") { db in
            let sql = "SELECT \(Self.workloadColumns) FROM workloads WHERE tenant = ? AND idempotency_key = ?"
            guard let row = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [tenant, idempotencyKey]) else { return nil }
            return try workload(from: row, JSONDecoder())
        }
    }

    /// Workloads ordered by creation time (then id), without input contents.
    /// - Parameters: every filter is optional and they combine with AND; `states` empty = none match.
    ///   `limit` caps the number returned (the oldest first).
    public func listWorkloads(
        tenant: String? = nil, states: Set<WorkloadState>? = nil, node: String? = nil,
        limit: Int? = nil
    ) throws -> [Workload] {
        let (whereSQL, args) = Self.workloadFilter(tenant: tenant, states: states, node: node)
        var sql = "SELECT \(Self.workloadColumns) FROM workloads\(whereSQL) ORDER BY created_ms, id"
        var all = args
        if let limit { sql += " LIMIT ?"; all.append(limit) }
        return try read("list workloads") { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(all)).map {
                try workload(from: $0, decoder)
            }
        }
    }

    /// Number of workloads matching the filters (same meaning as `listWorkloads`).
    public func countWorkloads(tenant: String? = nil, states: Set<WorkloadState>? = nil, node: String? = nil) throws -> Int {
        let (whereSQL, args) = Self.workloadFilter(tenant: tenant, states: states, node: node)
        return try read("count workloads") { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM workloads\(whereSQL)"), arguments: StatementArguments(args)) ?? 0
        }
    }

    /// Read-modify-write of one workload in a single write transaction, plus an optional event.
    /// Inside `mutate`, `spec.inputs` is empty and changes to it are ignored (inputs are immutable).
    /// - Returns: the stored result.
    /// - Throws: `.notFound`; `.invalidArgument` if `mutate` changed `id` or `spec.tenant`; whatever
    ///   `mutate` throws (nothing is written then).
    @discardableResult
    public func update(id: String, event: WorkloadEvent? = nil, _ mutate: (inout Workload) throws -> Void) throws -> Workload {
        // An error of `mutate` is the caller's own (e.g. "changed since read"): rethrown as is,
        // not wrapped as a database failure.
        var mutateError: (any Error)?
        do {
            return try updateRow(id: id, event: event) { w in
                do { try mutate(&w) } catch {
                    mutateError = error
                    throw error
                }
            }
        } catch {
            if let mutateError { throw mutateError }
            throw error
        }
    }

    private func updateRow(id: String, event: WorkloadEvent?, _ mutate: (inout Workload) throws -> Void) throws -> Workload {
        try write("update workload \(id)") { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT \(Self.workloadColumns) FROM workloads WHERE id = ?"), arguments: [id])
            else { throw StoreError(.notFound, "workload \(id) does not exist") }
            let old = try workload(from: row, JSONDecoder())
            let oldSpecText: String = row[WorkloadColumn.spec.rawValue]
            var w = old
            try mutate(&w)
            guard w.id == old.id else { throw StoreError(.invalidArgument, "workload \(id): update may not change the id (to \(w.id))") }
            guard w.spec.tenant == old.spec.tenant else {
                throw StoreError(.invalidArgument, "workload \(id): update may not move it to another tenant (\(w.spec.tenant))")
            }
            w.spec.inputs = [:]
            let encoder = Self.makeEncoder()
            // Specs rarely change in an update (a state change, a placement): the stored text is kept.
            let specText = w.spec == old.spec ? oldSpecText : try Self.specJSON(w.spec, id)
            try db.cachedStatement(
                sql: """
                    UPDATE workloads SET name = ?, state = ?, reason = ?, node = ?, generation = ?, exit_code = ?, signal = ?,
                        oom_killed = ?, restarts = ?, created_ms = ?, started_ms = ?, finished_ms = ?, unenforced_limits = ?,
                        gpus = ?, spec = ?, next_attempt_ms = ?, consecutive_exits = ?
                    WHERE id = ?
                    """
            ).execute(
                arguments: [
                    w.spec.name, w.state.rawValue, w.reason, w.node, w.generation, w.exitCode, w.signal,
                    w.oomKilled, w.restarts, w.createdAtMs, w.startedAtMs, w.finishedAtMs,
                    try Self.stringsJSON(w.unenforcedLimits, "workload \(id) unenforcedLimits", encoder),
                    try Self.stringsJSON(w.gpus, "workload \(id) gpus", encoder),
                    specText, w.nextAttemptAtMs, w.consecutiveExits, id,
                ])
            if let event { try Self.insertEvent(db, id, event) }
            if specText != oldSpecText { specs.remember(id: id, text: specText, spec: w.spec) }
            return w
        }
    }

    /// Appends a history line. - Throws: `.notFound` when the workload does not exist.
    public func appendEvent(workloadID: String, _ event: WorkloadEvent) throws {
        try write("append event to workload \(workloadID)") { db in
            guard
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM workloads WHERE id = ?)"), arguments: [workloadID])
                    == true
            else { throw StoreError(.notFound, "workload \(workloadID) does not exist") }
            try Self.insertEvent(db, workloadID, event)
        }
    }

    /// A workload's history, in insertion order (empty for an unknown id).
    public func events(workloadID: String) throws -> [WorkloadEvent] {
        try read("read events of workload \(workloadID)") { db in
            try Row.fetchAll(
                db, sql: "SELECT time_ms, type, message FROM workload_events WHERE workload_id = ? ORDER BY seq",
                arguments: [workloadID]
            ).map { WorkloadEvent(timeMs: $0["time_ms"], type: $0["type"], message: $0["message"]) }
        }
    }

    /// A workload's input files: relative path → content (empty for an unknown id).
    public func inputs(id: String) throws -> [String: [UInt8]] {
        try read("read inputs of workload \(id)") { try Self.loadInputs($0, id) }
    }

    /// The input files of several workloads in one read: id → (name → bytes); a workload without
    /// inputs (or unknown) maps to an empty dictionary.
    public func inputs(ids: [String]) throws -> [String: [String: [UInt8]]] {
        try read("read inputs of \(ids.count) workload(s)") { db in
            var out = Dictionary(ids.map { ($0, [String: [UInt8]]()) }, uniquingKeysWith: { a, _ in a })
            guard !ids.isEmpty else { return out }
            // One statement for the whole batch (a scheduling pass asks for every placement's).
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: "SELECT workload_id, path, content FROM workload_inputs WHERE workload_id IN (SELECT value FROM json_each(?))"),
                arguments: [try CompactJSONEncoder().encodeString(ids)])
            while let row = try rows.next() {
                let id: String = row[0]
                let data: Data = row[2]
                out[id, default: [:]][row[1]] = [UInt8](data)
            }
            return out
        }
    }

    /// Deletes a workload with its inputs and events. - Throws: `.notFound`.
    public func deleteWorkload(id: String) throws {
        try write("delete workload \(id)") { db in
            try db.cachedStatement(sql: "DELETE FROM workloads WHERE id = ?").execute(arguments: [id])
            if db.changesCount == 0 { throw StoreError(.notFound, "workload \(id) does not exist") }
            specs.forget(id: id)
        }
    }

    // MARK: - internals

    static let workloadColumns = """
        id, state, reason, node, generation, exit_code, signal, oom_killed, restarts, created_ms, started_ms, \
        finished_ms, unenforced_limits, gpus, spec, next_attempt_ms, consecutive_exits
        """

    static func specJSON(_ spec: WorkloadSpec, _ id: String) throws -> String {
        do { return try storedSpecJSON(spec) } catch { throw StoreError(.encoding, "workload \(id) spec: cannot encode JSON: \(error)") }
    }

    /// The JSON a workload row stores for `spec`: compact, without the input files (they have a
    /// table of their own).
    public static func storedSpecJSON(_ spec: WorkloadSpec) throws -> String {
        var s = spec
        s.inputs = [:]
        return try CompactJSONEncoder().encodeString(s)
    }

    /// Caches the spec of a workload just stored as `text` (inputs are not part of it).
    func rememberSpec(of w: Workload, text: String) {
        var spec = w.spec
        spec.inputs = [:]
        specs.remember(id: w.id, text: text, spec: spec)
    }

    /// A workload row decoded; its spec comes from `specs` when the row's text is the cached text.
    /// The columns `workloadColumns` selects, by position (a row is read by index: GRDB's lookup
    /// by name lower-cases the name on every call).
    enum WorkloadColumn: Int {
        case id, state, reason, node, generation, exitCode, signal, oomKilled, restarts, createdMs, startedMs
        case finishedMs, unenforcedLimits, gpus, spec, nextAttemptMs, consecutiveExits
    }

    /// A workload from a row of `SELECT \(workloadColumns)`.
    func workload(from row: Row, _ decoder: JSONDecoder) throws -> Workload {
        typealias C = WorkloadColumn
        let id: String = row[C.id.rawValue]
        func decode<T: Decodable>(_ t: T.Type, _ column: String, _ text: String) throws -> T {
            do { return try decoder.decode(t, from: Data(text.utf8)) } catch {
                throw StoreError(.encoding, "workload \(id) column \(column): stored JSON does not decode as \(T.self): \(error)")
            }
        }
        /// A JSON array of strings; the common empty one without a decoder.
        func strings(_ c: WorkloadColumn, _ name: String) throws -> [String] {
            let text: String = row[c.rawValue]
            return text == "[]" ? [] : try decode([String].self, name, text)
        }
        let specText: String = row[C.spec.rawValue]
        let spec: WorkloadSpec
        if let cached = specs.spec(id: id, text: specText) {
            spec = cached
        } else {
            spec = try decode(WorkloadSpec.self, "spec", specText)
            specs.remember(id: id, text: specText, spec: spec)
        }
        let stateText: String = row[C.state.rawValue]
        guard let state = WorkloadState(rawValue: stateText) else {
            throw StoreError(.encoding, "workload \(id): unknown state \"\(stateText)\" in the database")
        }
        var w = Workload(
            id: id, spec: spec, state: state, reason: row[C.reason.rawValue],
            node: row[C.node.rawValue], generation: row[C.generation.rawValue], exitCode: row[C.exitCode.rawValue],
            signal: row[C.signal.rawValue],
            oomKilled: row[C.oomKilled.rawValue], restarts: row[C.restarts.rawValue], createdAtMs: row[C.createdMs.rawValue],
            startedAtMs: row[C.startedMs.rawValue], finishedAtMs: row[C.finishedMs.rawValue],
            unenforcedLimits: try strings(.unenforcedLimits, "unenforced_limits"), gpus: try strings(.gpus, "gpus"))
        w.nextAttemptAtMs = row[C.nextAttemptMs.rawValue]
        w.consecutiveExits = row[C.consecutiveExits.rawValue]
        return w
    }

    static func workloadFilter(
        tenant: String?, states: Set<WorkloadState>?, node: String?
    )
        -> (String, [(any DatabaseValueConvertible)?])
    {
        var clauses: [String] = []
        var args: [(any DatabaseValueConvertible)?] = []
        if let tenant { clauses.append("tenant = ?"); args.append(tenant) }
        if let states {
            if states.isEmpty {
                clauses.append("0")
            } else {
                clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ",")))")
                args += states.map(\.rawValue).sorted()
            }
        }
        if let node { clauses.append("node = ?"); args.append(node) }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), args)
    }

    static func insertEvent(_ db: Database, _ id: String, _ e: WorkloadEvent) throws {
        try db.cachedStatement(sql: "INSERT INTO workload_events(workload_id, time_ms, type, message) VALUES (?, ?, ?, ?)")
            .execute(arguments: [id, e.timeMs, e.type, e.message])
    }

    static func loadInputs(_ db: Database, _ id: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT path, content FROM workload_inputs WHERE workload_id = ?"), arguments: [id])
        {
            let data: Data = row["content"]
            out[row["path"]] = [UInt8](data)
        }
        return out
    }
}
