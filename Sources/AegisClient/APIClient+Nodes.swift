// APIClient+Nodes.swift — node operations (admin): cordon, uncordon, drain; and the summary table
// `aegis node drain` prints.
import AegisProtocol
import NIOCore

extension APIClient {
    /// POST /v1/nodes/{name}/cordon (admin) → the node, now cordoned (no new agents are placed there).
    /// Errors: ErrorBody 403 (tenant token), 404 (unknown node).
    public func cordon(node name: String) async throws -> NodeInfo {
        try await call(.POST, "/v1/nodes/\(percentEncode(name))/cordon", body: Optional<String>.none)
    }

    /// POST /v1/nodes/{name}/uncordon (admin) → the node, schedulable again.
    /// Errors: ErrorBody 403 (tenant token), 404 (unknown node).
    public func uncordon(node name: String) async throws -> NodeInfo {
        try await call(.POST, "/v1/nodes/\(percentEncode(name))/uncordon", body: Optional<String>.none)
    }

    /// POST /v1/nodes/{name}/drain (admin): cordons the node, stops its agents and waits up to
    /// `timeoutSeconds` (server default 300) for them; the request's own deadline is that plus 30 s.
    /// Errors: ErrorBody 400 (timeout out of range), 403 (tenant token), 404 (unknown node).
    public func drain(node name: String, timeoutSeconds: Int? = nil) async throws -> DrainResponse {
        let wait = Int64(timeoutSeconds ?? 300) + 30
        return try await call(
            .POST, "/v1/nodes/\(percentEncode(name))/drain", body: DrainRequest(timeoutSeconds: timeoutSeconds),
            timeout: .seconds(wait))
    }
}

/// `aegis node drain` summary: ID, TENANT, NAME, OUTCOME, STATE, REASON.
public func drainTable(_ items: [DrainedAgent]) -> String {
    var t = TextTable(headers: ["ID", "TENANT", "NAME", "OUTCOME", "STATE", "REASON"])
    for x in items { t.add([x.id, x.tenant, x.name, x.outcome, x.state.rawValue, x.reason ?? "-"]) }
    return t.render()
}
