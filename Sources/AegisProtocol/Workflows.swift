// Workflows.swift — the workflow API's bodies (AegisWorkflow runs them; docs/workflows.md):
//
//   POST   /v1/workflows                       WorkflowSubmitRequest → WorkflowInfo (201)
//   GET    /v1/workflows[?phase=running]       → WorkflowList
//   GET    /v1/workflows/{id}                  → WorkflowDetail
//   POST   /v1/workflows/{id}/cancel           → WorkflowInfo
//   POST   /v1/workflows/{id}/retry            → WorkflowInfo (409 unless failed or cancelled)
//   POST   /v1/workflows/{id}/approve/{step}   → WorkflowInfo
//   POST   /v1/workflows/{id}/reject/{step}    → WorkflowInfo

/// Where a workflow run is: running, or how it ended.
public enum WorkflowPhase: String, Codable, Sendable, CaseIterable {
    case running, succeeded, failed, cancelled

    public var isFinal: Bool { self != .running }
}

/// Where an instance is. `ready` is never stored: renderings derive it (a pending step whose
/// dependencies are done).
public enum InstancePhase: String, Codable, Sendable, CaseIterable {
    case pending, ready, running
    /// The last attempt failed; the planner decides between a retry and a final failure.
    case attemptFailed
    case retryWaiting, waitingApproval
    case succeeded, failed, skipped, cancelled

    public var isTerminal: Bool { [.succeeded, .failed, .skipped, .cancelled].contains(self) }
}

/// `aegis workflow run FILE -p k=v`: the manifest text and the parameter values.
public struct WorkflowSubmitRequest: Codable, Sendable, Equatable {
    /// Workflow manifest text (YAML or JSON).
    public var manifest: String
    /// File name of the manifest, for error messages ("wf.yaml:8:20: …").
    public var manifestFile: String?
    /// `-p NAME=VALUE` values by name.
    public var parameters: [String: String]

    public init(manifest: String, manifestFile: String? = nil, parameters: [String: String] = [:]) {
        self.manifest = manifest
        self.manifestFile = manifestFile
        self.parameters = parameters
    }
}

/// A workflow run as lists show it.
public struct WorkflowInfo: Codable, Sendable, Equatable {
    public var id: String
    public var tenant: String
    public var name: String
    public var phase: WorkflowPhase
    /// Unix ms.
    public var createdAtMs: Int64
    public var finishedAtMs: Int64?
    /// Step instances by phase ("running": 3, "succeeded": 2, …).
    public var instances: [String: Int]

    public init(
        id: String, tenant: String, name: String, phase: WorkflowPhase, createdAtMs: Int64, finishedAtMs: Int64?,
        instances: [String: Int] = [:]
    ) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.phase = phase
        self.createdAtMs = createdAtMs
        self.finishedAtMs = finishedAtMs
        self.instances = instances
    }
}

public struct WorkflowList: Codable, Sendable, Equatable {
    public var items: [WorkflowInfo]
    public init(items: [WorkflowInfo]) { self.items = items }
}

/// One step instance of a workflow run, with the workload that ran its last attempt.
public struct WorkflowInstanceInfo: Codable, Sendable, Equatable {
    public var step: String
    /// Fan-out item index; nil for a step without fan-out.
    public var item: Int?
    public var phase: InstancePhase
    public var attempt: Int
    /// The workload of the last attempt, when one was submitted.
    public var workload: String?
    /// Why it failed or was skipped, or how its last attempt ended.
    public var detail: String?

    public init(step: String, item: Int?, phase: InstancePhase, attempt: Int, workload: String?, detail: String?) {
        self.step = step
        self.item = item
        self.phase = phase
        self.attempt = attempt
        self.workload = workload
        self.detail = detail
    }
}

/// `GET /v1/workflows/{id}`: the run, each instance, and the DAG drawn for a terminal and as DOT.
public struct WorkflowDetail: Codable, Sendable, Equatable {
    public var workflow: WorkflowInfo
    public var parameters: [String: String]
    public var instances: [WorkflowInstanceInfo]
    /// The DAG with each step's phase, for a terminal.
    public var text: String
    /// The same as a Graphviz DOT graph.
    public var dot: String

    public init(workflow: WorkflowInfo, parameters: [String: String], instances: [WorkflowInstanceInfo], text: String, dot: String) {
        self.workflow = workflow
        self.parameters = parameters
        self.instances = instances
        self.text = text
        self.dot = dot
    }
}
