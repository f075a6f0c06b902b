// WorkflowRun.swift — one workflow run as the engine holds it: the parsed workflow (re-parsed
// from the stored manifest and `-p` values: `Workflow` is not Codable), its state, and the
// tenant its steps run under; the state's JSON form; the API's views of a run.
import AegisControl
import AegisProtocol
import AegisStore
import Foundation

struct WorkflowRun: Sendable {
    var record: WorkflowRecord
    let workflow: Workflow
    var state: WorkflowState
    /// Steps run as the workflow's tenant, never as an admin (quotas and tenancy apply).
    var caller: Caller { Caller(isAdmin: false, tenant: record.tenant) }

    /// Parses the stored manifest with its `-p` values and decodes the stored state.
    /// - Throws: `WorkflowEngineError.corrupt` when either no longer reads.
    init(record: WorkflowRecord) throws(WorkflowEngineError) {
        self.record = record
        do {
            workflow = try WorkflowParser.parse(
                record.manifest, file: record.manifestFile, overrides: record.parameters, defaultTenant: record.tenant)
            state = try WorkflowStateCoding.decode(record.state)
        } catch {
            throw .corrupt(record.id, underlying: error)
        }
    }

    init(record: WorkflowRecord, workflow: Workflow, state: WorkflowState) {
        self.record = record
        self.workflow = workflow
        self.state = state
    }

    /// The API's summary of the run.
    var info: WorkflowInfo {
        var counts: [String: Int] = [:]
        for step in state.steps.values { for i in step.instances { counts[i.phase.rawValue, default: 0] += 1 } }
        return WorkflowInfo(
            id: record.id, tenant: record.tenant, name: record.name, phase: state.phase, createdAtMs: record.createdAtMs,
            finishedAtMs: state.finishedAt, instances: counts)
    }

    /// Every instance in DAG order (`Workflow.dagOrder`), items by index.
    var instanceKeys: [(key: InstanceKey, state: InstanceState)] {
        var out: [(InstanceKey, InstanceState)] = []
        for step in workflow.dagOrder {
            guard let s = state.steps[step.name] else { continue }
            for (i, inst) in s.instances.enumerated() { out.append((InstanceKey(step: step.name, item: s.items == nil ? nil : i), inst)) }
        }
        return out
    }
}

/// The run state's stored JSON (sorted keys: equal states give equal text).
enum WorkflowStateCoding {
    static func encode(_ state: WorkflowState) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(state), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> WorkflowState {
        try JSONDecoder().decode(WorkflowState.self, from: Data(text.utf8))
    }
}

/// What the engine itself fails with (API calls throw `ControllerError`).
public enum WorkflowEngineError: Error, CustomStringConvertible, Sendable {
    /// A stored run whose manifest or state no longer reads.
    case corrupt(String, underlying: any Error)

    public var description: String {
        switch self {
        case .corrupt(let id, let e): return "workflow \(id): stored manifest or state does not read: \(e)"
        }
    }
}

extension InstanceState {
    /// Why it failed or was skipped, or how its last attempt ended, for `describe`.
    var detail: String? {
        if let f = failure { return "failed: \(f)" }
        if let s = skip { return "skipped: \(s)" }
        return lastOutcome.map { "last attempt: \($0)" }
    }
}
