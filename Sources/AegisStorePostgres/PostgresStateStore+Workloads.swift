// PostgresStateStore+Workloads.swift — storing and reading workload rows (spec as JSON text,
// status as columns, input files as BYTEA rows of their own), as AegisStore's Workloads.swift does
// it on SQLite. Updates, events, inputs and deletion: PostgresStateStore+WorkloadUpdates.swift.
import AegisProtocol
import AegisStore
import Logging
import NIOCore
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStateStore {
    public func insertWorkload(_ workload: Workload, event: AegisStore.WorkloadEvent?) async throws {
        let row = try Self.encodedRow(workload, event: event, specJSON: nil)
        let logger = self.logger
        try await write("insert workload \(workload.id)") { [self] connection in
            let refusals = try await Self.insertRows(connection, [row], logger)
            if let refusal = refusals[0] { throw refusal }
        }
    }

    public func insertWorkloads(_ new: [NewWorkload]) async throws -> [StoreError?] {
        let rows = try new.map {
            var row = try Self.encodedRow($0.workload, event: $0.event, specJSON: $0.specJSON)
            row.idempotencyKey = $0.idempotencyKey
            return row
        }
        let logger = self.logger
        return try await write("insert \(new.count) workload(s)") { [self] connection in
            try await Self.insertRows(connection, rows, logger)
        }
    }

    public func workload(id: String, includeInputs: Bool) async throws -> Workload? {
        let logger = self.logger
        return try await read("read workload \(id)") { [self] connection in
            var found: Workload?
            for try await row in try await connection.execute(WorkloadByIDStatement(id: id), logger: logger) {
                found = try Self.workload(from: row, specs).workload
            }
            guard var w = found else { return nil }
            if includeInputs { w.spec.inputs = try await Self.loadInputs(connection, [id], logger)[id] ?? [:] }
            return w
        }
    }

    public func workload(tenant: String, idempotencyKey: String) async throws -> Workload? {
        let logger = self.logger
        return try await read("read workload by idempotency key") { [self] connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: workloadColumns) FROM workloads WHERE tenant = \(tenant) AND idempotency_key = \(idempotencyKey)",
                logger: logger)
            for try await row in rows { return try Self.workload(from: row, specs).workload }
            return nil
        }
    }

    /// A negative `limit` means no limit (as SQLite's LIMIT -1).
    public func listWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?, limit: Int?) async throws -> [Workload] {
        let statement = ListWorkloadsStatement(
            tenant: tenant, states: states.map { $0.map(\.rawValue).sorted() }, node: node,
            limit: limit.flatMap { $0 < 0 ? nil : Int64($0) })
        let logger = self.logger
        return try await read("list workloads") { [self] connection in
            var out: [Workload] = []
            for try await row in try await connection.execute(statement, logger: logger) {
                out.append(try Self.workload(from: row, specs).workload)
            }
            return out
        }
    }

    public func countWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?) async throws -> Int {
        let statement = CountWorkloadsStatement(tenant: tenant, states: states.map { $0.map(\.rawValue).sorted() }, node: node)
        let logger = self.logger
        return try await read("count workloads") { [self] connection in
            for try await n in try await connection.execute(statement, logger: logger) { return Int(n) }
            return 0
        }
    }

    // MARK: - internals

    /// A workload ready to insert: its JSON columns encoded outside the transaction.
    struct EncodedRow: Sendable {
        var workload: Workload
        var event: AegisStore.WorkloadEvent?
        var spec: String
        var unenforced: String
        var gpus: String
        var idempotencyKey: String?
    }

    static func encodedRow(_ w: Workload, event: AegisStore.WorkloadEvent?, specJSON known: String?) throws -> EncodedRow {
        let spec: String
        if let known {
            spec = known
        } else {
            do { spec = try ControlStore.storedSpecJSON(w.spec) } catch {
                throw StoreError(.encoding, "workload \(w.id) spec: cannot encode JSON: \(error)")
            }
        }
        return EncodedRow(
            workload: w, event: event, spec: spec,
            unenforced: try stringsJSON(w.unenforcedLimits, "workload \(w.id) unenforcedLimits"),
            gpus: try stringsJSON(w.gpus, "workload \(w.id) gpus"))
    }

    /// A JSON array of strings (the common empty one without the encoder).
    static func stringsJSON(_ strings: [String], _ what: String) throws -> String {
        strings.isEmpty ? "[]" : try encodeJSON(strings, what)
    }

    /// Inserts the rows whose tenant exists and whose id is free (in the table and earlier in the
    /// batch); returns one refusal per row, nil for the stored ones. Tenants and ids are asked for
    /// in one query; inputs and events go in one multi-row statement each.
    static func insertRows(_ connection: PostgresConnection, _ rows: [EncodedRow], _ logger: Logger) async throws -> [StoreError?] {
        let tenants = Array(Set(rows.map(\.workload.spec.tenant)))
        let ids = rows.map(\.workload.id)
        var known: Set<String> = []
        var taken: Set<String> = []
        let existing = try await connection.query(
            """
            SELECT (SELECT COALESCE(array_agg(name), '{}') FROM tenants WHERE name = ANY(\(tenants))),
                   (SELECT COALESCE(array_agg(id), '{}') FROM workloads WHERE id = ANY(\(ids)))
            """, logger: logger)
        for try await (names, found) in existing.decode(([String], [String]).self) {
            known = Set(names)
            taken = Set(found)
        }
        // Idempotency keys already used, as "tenant\0key" → the workload that used it.
        var usedKeys: [String: String] = [:]
        let keys = rows.compactMap(\.idempotencyKey)
        if !keys.isEmpty {
            let used = try await connection.query(
                "SELECT tenant, idempotency_key, id FROM workloads WHERE idempotency_key = ANY(\(keys))", logger: logger)
            for try await (tenant, key, id) in used.decode((String, String, String).self) { usedKeys[tenant + "\0" + key] = id }
        }
        var outcomes: [StoreError?] = []
        var inputIDs: [String] = []
        var inputPaths: [String] = []
        var inputContents: [ByteBuffer] = []
        var eventIDs: [String] = []
        var eventTimes: [Int64] = []
        var eventTypes: [String] = []
        var eventMessages: [String] = []
        for r in rows {
            let w = r.workload
            guard known.contains(w.spec.tenant) else {
                outcomes.append(StoreError(.notFound, "tenant \(w.spec.tenant) does not exist"))
                continue
            }
            if let key = r.idempotencyKey, let first = usedKeys[w.spec.tenant + "\0" + key] {
                outcomes.append(
                    StoreError(.alreadyExists, "idempotency key \(key) of tenant \(w.spec.tenant) was used by workload \(first)"))
                continue
            }
            guard taken.insert(w.id).inserted else {
                outcomes.append(StoreError(.alreadyExists, "workload \(w.id) already exists"))
                continue
            }
            if let key = r.idempotencyKey { usedKeys[w.spec.tenant + "\0" + key] = w.id }
            try await connection.execute(
                InsertWorkloadStatement(
                    workload: w, unenforced: r.unenforced, gpus: r.gpus, spec: r.spec, idempotencyKey: r.idempotencyKey),
                logger: logger)
            for (path, content) in w.spec.inputs.sorted(by: { $0.key < $1.key }) {
                inputIDs.append(w.id)
                inputPaths.append(path)
                inputContents.append(ByteBuffer(bytes: content))
            }
            if let e = r.event {
                eventIDs.append(w.id)
                eventTimes.append(e.timeMs)
                eventTypes.append(e.type)
                eventMessages.append(e.message)
            }
            outcomes.append(nil)
        }
        if !inputIDs.isEmpty {
            try await connection.query(
                """
                INSERT INTO workload_inputs (workload_id, path, content)
                SELECT * FROM unnest(\(inputIDs)::text[], \(inputPaths)::text[], \(inputContents)::bytea[])
                """, logger: logger)
        }
        if !eventIDs.isEmpty {
            try await insertEvents(connection, ids: eventIDs, times: eventTimes, types: eventTypes, messages: eventMessages, logger)
        }
        return outcomes
    }

    /// Appends history lines in array order (the seq column follows it).
    static func insertEvents(
        _ connection: PostgresConnection, ids: [String], times: [Int64], types: [String], messages: [String], _ logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO workload_events (workload_id, time_ms, type, message)
            SELECT id, time_ms, type, message
            FROM unnest(\(ids)::text[], \(times)::bigint[], \(types)::text[], \(messages)::text[])
                WITH ORDINALITY AS e(id, time_ms, type, message, ord)
            ORDER BY ord
            """, logger: logger)
    }

    /// A workload from a row of `SELECT \(workloadColumns)`, with the spec text it was decoded from;
    /// the spec comes from `specs` when that text is the cached one.
    static func workload(from row: PostgresRow, _ specs: SpecCache) throws -> (workload: Workload, specText: String) {
        let (id, stateText, reason, node, generation, exitCode, signal, oomKilled, restarts, created, started) = try row.decode(
            (String, String, String?, String?, Int64, Int32?, Int32?, Bool, Int64, Int64, Int64?).self)
        let columns = row.makeRandomAccess()
        let finished = try columns[11].decode(Int64?.self)
        let unenforcedText = try columns[12].decode(String.self)
        let gpusText = try columns[13].decode(String.self)
        let specText = try columns[14].decode(String.self)
        let nextAttempt = try columns[15].decode(Int64?.self)
        let consecutiveExits = try columns[16].decode(Int64?.self)
        func decode<T: Decodable>(_ t: T.Type, _ column: String, _ text: String) throws -> T {
            do { return try JSONDecoder().decode(t, from: Data(text.utf8)) } catch {
                throw StoreError(.encoding, "workload \(id) column \(column): stored JSON does not decode as \(T.self): \(error)")
            }
        }
        guard let state = WorkloadState(rawValue: stateText) else {
            throw StoreError(.encoding, "workload \(id): unknown state \"\(stateText)\" in the database")
        }
        let spec: WorkloadSpec
        if let cached = specs.spec(id: id, text: specText) {
            spec = cached
        } else {
            spec = try decode(WorkloadSpec.self, "spec", specText)
            specs.remember(id: id, text: specText, spec: spec)
        }
        var w = Workload(
            id: id, spec: spec, state: state, reason: reason, node: node, generation: generation, exitCode: exitCode, signal: signal,
            oomKilled: oomKilled, restarts: Int(restarts), createdAtMs: created, startedAtMs: started, finishedAtMs: finished,
            unenforcedLimits: unenforcedText == "[]" ? [] : try decode([String].self, "unenforced_limits", unenforcedText),
            gpus: gpusText == "[]" ? [] : try decode([String].self, "gpus", gpusText))
        w.nextAttemptAtMs = nextAttempt
        w.consecutiveExits = consecutiveExits.map { Int($0) }
        return (w, specText)
    }

    /// Input files of `ids`: id → (path → bytes); every id present, empty when it has none.
    static func loadInputs(
        _ connection: PostgresConnection, _ ids: [String], _ logger: Logger
    ) async throws
        -> [String: [String: [UInt8]]]
    {
        var out: [String: [String: [UInt8]]] = [:]
        for id in ids { out[id] = [:] }
        let rows = try await connection.query(
            "SELECT workload_id, path, content FROM workload_inputs WHERE workload_id = ANY(\(ids))", logger: logger)
        for try await (id, path, content) in rows.decode((String, String, ByteBuffer).self) {
            out[id, default: [:]][path] = Array(content.readableBytesView)
        }
        return out
    }
}
