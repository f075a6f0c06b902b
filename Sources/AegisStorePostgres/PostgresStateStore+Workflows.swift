// PostgresStateStore+Workflows.swift — workflow runs, as AegisStore's Workflows.swift does it on
// SQLite: the manifest and parameters, the run state as JSON, the phase, times. Writes pass the
// write fence like every other write.
import AegisProtocol
import AegisStore
import Foundation
import Logging
import PostgresNIO

extension PostgresStateStore {
    static let workflowColumns =
        "id, tenant, name, manifest, manifest_file, parameters, state, phase, created_ms, updated_ms, finished_ms"

    public func insertWorkflow(_ r: WorkflowRecord) async throws {
        let logger = self.logger
        let parameters: String
        do { parameters = try CompactJSONEncoder().encodeString(r.parameters) } catch {
            throw StoreError(.encoding, "workflow \(r.id) parameters: cannot encode JSON: \(error)")
        }
        try await write("insert workflow \(r.id)") { [self] connection in
            guard try await Self.tenantExists(connection, r.tenant, logger) else {
                throw StoreError(.notFound, "tenant \(r.tenant) does not exist")
            }
            let existing = try await Self.count(connection, "SELECT COUNT(*) FROM workflows WHERE id = \(r.id)", logger)
            if existing > 0 { throw StoreError(.alreadyExists, "workflow \(r.id) already exists") }
            try await connection.query(
                """
                INSERT INTO workflows (\(unescaped: Self.workflowColumns))
                VALUES (\(r.id), \(r.tenant), \(r.name), \(r.manifest), \(r.manifestFile), \(parameters), \(r.state),
                    \(r.phase.rawValue), \(r.createdAtMs), \(r.updatedAtMs), \(r.finishedAtMs))
                """, logger: logger)
        }
    }

    public func workflow(id: String, tenant: String?) async throws -> WorkflowRecord? {
        let logger = self.logger
        return try await read("read workflow \(id)") { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.workflowColumns) FROM workflows
                WHERE id = \(id) AND (\(tenant)::text IS NULL OR tenant = \(tenant))
                """, logger: logger)
            for try await row in rows { return try Self.workflowRecord(from: row) }
            return nil
        }
    }

    public func listWorkflows(tenant: String?, phases: Set<WorkflowPhase>?) async throws -> [WorkflowRecord] {
        let logger = self.logger
        let phaseNames = phases.map { $0.map(\.rawValue).sorted() }
        return try await read("list workflows") { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.workflowColumns) FROM workflows
                WHERE (\(tenant)::text IS NULL OR tenant = \(tenant))
                    AND (\(phaseNames)::text[] IS NULL OR phase = ANY(\(phaseNames)))
                ORDER BY created_ms, id
                """, logger: logger)
            var out: [WorkflowRecord] = []
            for try await row in rows { out.append(try Self.workflowRecord(from: row)) }
            return out
        }
    }

    public func updateWorkflow(id: String, state: String, phase: WorkflowPhase, updatedAtMs: Int64, finishedAtMs: Int64?) async throws {
        let logger = self.logger
        try await write("update workflow \(id)") { connection in
            let updated = try await Self.count(
                connection,
                """
                WITH u AS (
                    UPDATE workflows SET state = \(state), phase = \(phase.rawValue), updated_ms = \(updatedAtMs),
                        finished_ms = \(finishedAtMs)
                    WHERE id = \(id) RETURNING 1
                ) SELECT COUNT(*) FROM u
                """, logger)
            if updated == 0 { throw StoreError(.notFound, "workflow \(id) does not exist") }
        }
    }

    static func workflowRecord(from row: PostgresRow) throws -> WorkflowRecord {
        let (id, tenant, name, manifest, file, parameters, state, phaseText, created, updated, finished) = try row.decode(
            (String, String, String, String, String, String, String, String, Int64, Int64, Int64?).self)
        guard let phase = WorkflowPhase(rawValue: phaseText) else {
            throw StoreError(.encoding, "workflow \(id): unknown phase \"\(phaseText)\"")
        }
        let values: [String: String]
        do { values = try JSONDecoder().decode([String: String].self, from: Data(parameters.utf8)) } catch {
            throw StoreError(.encoding, "workflow \(id) parameters: stored JSON does not decode: \(error)")
        }
        return WorkflowRecord(
            id: id, tenant: tenant, name: name, manifest: manifest, manifestFile: file, parameters: values, state: state,
            phase: phase, createdAtMs: created, updatedAtMs: updated, finishedAtMs: finished)
    }
}
