// Workflows.swift — workflow runs (AegisWorkflow's engine): the manifest text and parameter values
// they were started with (the engine parses them again on resume), the run state as JSON, the
// phase, and times. A tenant's workflows go with the tenant.
import AegisProtocol
import GRDB

/// One stored workflow run.
public struct WorkflowRecord: Sendable, Equatable {
    /// `wf-` followed by 16 characters, as `ControlStore.newWorkflowID` makes.
    public var id: String
    public var tenant: String
    /// The manifest's `name`.
    public var name: String
    /// The manifest text as submitted, and the file name its errors name.
    public var manifest: String
    public var manifestFile: String
    /// `-p` values by name.
    public var parameters: [String: String]
    /// The engine's run state (AegisWorkflow's `WorkflowState`) as JSON.
    public var state: String
    public var phase: WorkflowPhase
    /// Unix ms.
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    public var finishedAtMs: Int64?

    public init(
        id: String, tenant: String, name: String, manifest: String, manifestFile: String, parameters: [String: String],
        state: String, phase: WorkflowPhase = .running, createdAtMs: Int64, updatedAtMs: Int64? = nil, finishedAtMs: Int64? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.manifest = manifest
        self.manifestFile = manifestFile
        self.parameters = parameters
        self.state = state
        self.phase = phase
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs ?? createdAtMs
        self.finishedAtMs = finishedAtMs
    }
}

extension ControlStore {
    /// A new workflow id: `wf-` then the time and randomness of `newWorkloadID`.
    public static func newWorkflowID(nowMs: Int64 = ControlStore.nowMs()) -> String {
        "wf-" + newWorkloadID(nowMs: nowMs).dropFirst(2)
    }

    static let workflowColumns =
        "id, tenant, name, manifest, manifest_file, parameters, state, phase, created_ms, updated_ms, finished_ms"

    /// Stores a new workflow run. - Throws: `.notFound` (tenant), `.alreadyExists` (id).
    public func insertWorkflow(_ r: WorkflowRecord) throws {
        let parameters = try Self.encodeJSON(r.parameters, "workflow \(r.id) parameters")
        try write("insert workflow \(r.id)") { db in
            guard try Self.tenantExists(db, r.tenant) else { throw StoreError(.notFound, "tenant \(r.tenant) does not exist") }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM workflows WHERE id = ?", arguments: [r.id]) == true {
                throw StoreError(.alreadyExists, "workflow \(r.id) already exists")
            }
            try db.execute(
                sql: "INSERT INTO workflows (\(Self.workflowColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    r.id, r.tenant, r.name, r.manifest, r.manifestFile, parameters, r.state, r.phase.rawValue, r.createdAtMs,
                    r.updatedAtMs, r.finishedAtMs,
                ])
        }
    }

    /// The workflow `id`; nil when there is none, or when `tenant` is given and it is another's.
    public func workflow(id: String, tenant: String?) throws -> WorkflowRecord? {
        try read("read workflow \(id)") { db in
            let row = try Row.fetchOne(db, sql: "SELECT \(Self.workflowColumns) FROM workflows WHERE id = ?", arguments: [id])
            guard let record = try row.map(Self.workflowRecord(from:)) else { return nil }
            return tenant == nil || record.tenant == tenant ? record : nil
        }
    }

    /// Workflows, oldest first; nil filters match every tenant or phase.
    public func listWorkflows(tenant: String?, phases: Set<WorkflowPhase>?) throws -> [WorkflowRecord] {
        try read("list workflows") { db in
            var clauses: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let tenant {
                clauses.append("tenant = ?")
                arguments.append(tenant)
            }
            if let phases {
                clauses.append("phase IN (\(phases.map { _ in "?" }.joined(separator: ",")))")
                arguments += phases.map(\.rawValue).sorted()
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(Self.workflowColumns) FROM workflows \(filter) ORDER BY created_ms, id",
                arguments: StatementArguments(arguments))
            return try rows.map(Self.workflowRecord(from:))
        }
    }

    /// Replaces a workflow's run state and phase. - Throws: `.notFound`.
    public func updateWorkflow(id: String, state: String, phase: WorkflowPhase, updatedAtMs: Int64, finishedAtMs: Int64?) throws {
        try write("update workflow \(id)") { db in
            try db.execute(
                sql: "UPDATE workflows SET state = ?, phase = ?, updated_ms = ?, finished_ms = ? WHERE id = ?",
                arguments: [state, phase.rawValue, updatedAtMs, finishedAtMs, id])
            guard db.changesCount == 1 else { throw StoreError(.notFound, "workflow \(id) does not exist") }
        }
    }

    static func workflowRecord(from row: Row) throws -> WorkflowRecord {
        let id: String = row["id"]
        let phaseText: String = row["phase"]
        guard let phase = WorkflowPhase(rawValue: phaseText) else {
            throw StoreError(.encoding, "workflow \(id): unknown phase \"\(phaseText)\"")
        }
        return WorkflowRecord(
            id: id, tenant: row["tenant"], name: row["name"], manifest: row["manifest"], manifestFile: row["manifest_file"],
            parameters: try decodeJSON([String: String].self, row["parameters"], "workflow \(id) parameters"),
            state: row["state"], phase: phase, createdAtMs: row["created_ms"], updatedAtMs: row["updated_ms"],
            finishedAtMs: row["finished_ms"])
    }
}
