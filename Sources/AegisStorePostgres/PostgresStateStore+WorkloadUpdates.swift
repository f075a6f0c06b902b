// PostgresStateStore+WorkloadUpdates.swift — read-modify-write of one workload (its row locked FOR
// UPDATE for the transaction), its event log, its input files, its deletion.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func update(
        id: String, event: AegisStore.WorkloadEvent?, _ mutate: @escaping @Sendable (inout Workload) throws -> Void
    ) async throws -> Workload {
        let logger = self.logger
        return try await write("update workload \(id)") { [self] connection in
            var found: (workload: Workload, specText: String)?
            for try await row in try await connection.execute(LockWorkloadStatement(id: id), logger: logger) {
                found = try Self.workload(from: row, specs)
            }
            guard let (old, oldSpecText) = found else { throw StoreError(.notFound, "workload \(id) does not exist") }
            var w = old
            // The closure's error is the caller's own ("changed since read"): rethrown as is.
            do { try mutate(&w) } catch { throw CallerError(error: error) }
            guard w.id == old.id else { throw StoreError(.invalidArgument, "workload \(id): update may not change the id (to \(w.id))") }
            guard w.spec.tenant == old.spec.tenant else {
                throw StoreError(.invalidArgument, "workload \(id): update may not move it to another tenant (\(w.spec.tenant))")
            }
            w.spec.inputs = [:]
            // Specs rarely change in an update (a state change, a placement): the stored text is kept.
            let specText: String
            if w.spec == old.spec {
                specText = oldSpecText
            } else {
                do { specText = try ControlStore.storedSpecJSON(w.spec) } catch {
                    throw StoreError(.encoding, "workload \(id) spec: cannot encode JSON: \(error)")
                }
            }
            let unenforced = try Self.stringsJSON(w.unenforcedLimits, "workload \(id) unenforcedLimits")
            let gpus = try Self.stringsJSON(w.gpus, "workload \(id) gpus")
            try await connection.query(
                """
                UPDATE workloads SET name = \(w.spec.name), state = \(w.state.rawValue), reason = \(w.reason), node = \(w.node),
                    generation = \(w.generation), exit_code = \(w.exitCode), signal = \(w.signal), oom_killed = \(w.oomKilled),
                    restarts = \(Int64(w.restarts)), created_ms = \(w.createdAtMs), started_ms = \(w.startedAtMs),
                    finished_ms = \(w.finishedAtMs), unenforced_limits = \(unenforced), gpus = \(gpus), spec = \(specText),
                    next_attempt_ms = \(w.nextAttemptAtMs), consecutive_exits = \(w.consecutiveExits.map(Int64.init))
                WHERE id = \(id)
                """, logger: logger)
            if let event {
                try await Self.insertEvents(
                    connection, ids: [id], times: [event.timeMs], types: [event.type], messages: [event.message], logger)
            }
            return w
        }
    }

    public func appendEvent(workloadID: String, _ event: AegisStore.WorkloadEvent) async throws {
        let logger = self.logger
        try await write("append event to workload \(workloadID)") { [self] connection in
            // KEY SHARE: a concurrent delete waits until this event is in.
            let exists = try await Self.count(
                connection, "SELECT COUNT(*) FROM (SELECT 1 FROM workloads WHERE id = \(workloadID) FOR KEY SHARE) AS w", logger)
            guard exists > 0 else { throw StoreError(.notFound, "workload \(workloadID) does not exist") }
            try await Self.insertEvents(
                connection, ids: [workloadID], times: [event.timeMs], types: [event.type], messages: [event.message], logger)
        }
    }

    public func events(workloadID: String) async throws -> [AegisStore.WorkloadEvent] {
        let logger = self.logger
        return try await read("read events of workload \(workloadID)") { [self] connection in
            let rows = try await connection.query(
                "SELECT time_ms, type, message FROM workload_events WHERE workload_id = \(workloadID) ORDER BY seq", logger: logger)
            var out: [AegisStore.WorkloadEvent] = []
            for try await (time, type, message) in rows.decode((Int64, String, String).self) {
                out.append(AegisStore.WorkloadEvent(timeMs: time, type: type, message: message))
            }
            return out
        }
    }

    public func inputs(id: String) async throws -> [String: [UInt8]] {
        let logger = self.logger
        return try await read("read inputs of workload \(id)") { [self] connection in
            try await Self.loadInputs(connection, [id], logger)[id] ?? [:]
        }
    }

    public func inputs(ids: [String]) async throws -> [String: [String: [UInt8]]] {
        let logger = self.logger
        return try await read("read inputs of \(ids.count) workload(s)") { [self] connection in
            try await Self.loadInputs(connection, ids, logger)
        }
    }

    public func deleteWorkload(id: String) async throws {
        let logger = self.logger
        try await write("delete workload \(id)") { [self] connection in
            let deleted = try await Self.count(
                connection, "WITH d AS (DELETE FROM workloads WHERE id = \(id) RETURNING 1) SELECT COUNT(*) FROM d", logger)
            if deleted == 0 { throw StoreError(.notFound, "workload \(id) does not exist") }
        }
        specs.forget(id: id)
    }
}
