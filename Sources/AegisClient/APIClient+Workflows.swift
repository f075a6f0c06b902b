// APIClient+Workflows.swift — the workflow API (AegisProtocol/Workflows.swift) and the table
// `aegis workflow ls` prints.
import AegisProtocol
import NIOCore

extension APIClient {
    /// POST /v1/workflows → the run (201). Errors: ErrorBody 400 naming the manifest's field and line.
    public func submitWorkflow(_ request: WorkflowSubmitRequest) async throws -> WorkflowInfo {
        try await call(.POST, "/v1/workflows", body: request)
    }

    /// GET /v1/workflows → the caller's workflows, oldest first.
    public func workflows() async throws -> [WorkflowInfo] {
        let list: WorkflowList = try await call(.GET, "/v1/workflows")
        return list.items
    }

    /// GET /v1/workflows/{id}. Errors: ErrorBody 404.
    public func workflow(id: String) async throws -> WorkflowDetail {
        try await call(.GET, "/v1/workflows/\(percentEncode(id))")
    }

    /// POST /v1/workflows/{id}/cancel. Errors: ErrorBody 404.
    public func cancelWorkflow(id: String) async throws -> WorkflowInfo {
        try await call(.POST, "/v1/workflows/\(percentEncode(id))/cancel", body: Optional<String>.none)
    }

    /// POST /v1/workflows/{id}/retry: runs its failed, skipped and cancelled steps again.
    /// Errors: ErrorBody 404, 409 (not failed or cancelled).
    public func retryWorkflow(id: String) async throws -> WorkflowInfo {
        try await call(.POST, "/v1/workflows/\(percentEncode(id))/retry", body: Optional<String>.none)
    }

    /// POST /v1/workflows/{id}/approve/{step} (or reject). Errors: ErrorBody 404, 409 (not waiting).
    public func decideWorkflow(id: String, step: String, approve: Bool) async throws -> WorkflowInfo {
        let verb = approve ? "approve" : "reject"
        return try await call(.POST, "/v1/workflows/\(percentEncode(id))/\(verb)/\(percentEncode(step))", body: Optional<String>.none)
    }
}

/// `aegis workflow ls`: ID, NAME, PHASE, STEPS (instances by phase), CREATED.
public func workflowTable(_ items: [WorkflowInfo]) -> String {
    var t = TextTable(headers: ["ID", "NAME", "PHASE", "INSTANCES"])
    for w in items {
        let counts = w.instances.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        t.add([w.id, w.name, w.phase.rawValue, counts.isEmpty ? "-" : counts])
    }
    return t.render()
}
