// APIClient+Join.swift — the join routes (AegisProtocol/Join.swift): the cluster CA and the join
// itself for a joining node (no bearer token), join tokens and node identities for the admin, and
// the token table of `aegis token ls`.
import AegisProtocol
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

extension APIClient: ClusterJoinTransport {
    /// A client for a node that is joining: no bearer token is sent (the join token travels in the
    /// join request body).
    /// - Parameter server: `http://HOST:PORT` (https later), as for `--server`.
    /// - Throws: `ClientError` for a bad URL.
    public static func joining(server: String, httpClient: HTTPClient = APIClient.sharedHTTPClient) throws -> APIClient {
        APIClient(settings: ConnectionSettings(endpoint: try ConnectionSettings.parseServer(server), token: ""), httpClient: httpClient)
    }

    /// The API base, for messages.
    public var serverName: String { settings.endpoint.displayName }

    /// GET /v1/cluster/ca (unauthenticated).
    public func clusterCA() async throws -> ClusterCAInfo {
        try await call(.GET, "/v1/cluster/ca")
    }

    /// POST /v1/cluster/join → the node certificate and the CA. Errors are the server's ErrorBody
    /// (401 token refused, 403 role, 409 name pinned to another key, 400 CSR or name).
    public func join(_ request: JoinRequest) async throws -> JoinResponse {
        try await call(.POST, "/v1/cluster/join", body: request)
    }

    /// POST /v1/tokens (admin) → the join token text (shown once) and its record.
    public func createJoinToken(_ request: CreateJoinTokenRequest) async throws -> CreateJoinTokenResponse {
        try await call(.POST, "/v1/tokens", body: request)
    }

    /// GET /v1/tokens (admin) → join tokens, without secrets.
    public func joinTokens() async throws -> [JoinTokenInfo] {
        let list: JoinTokenList = try await call(.GET, "/v1/tokens")
        return list.items
    }

    /// DELETE /v1/tokens/{id} (admin) → the revoked token.
    public func revokeJoinToken(id: String) async throws -> JoinTokenInfo {
        try await call(.DELETE, "/v1/tokens/\(percentEncode(id))")
    }

    /// GET /v1/cluster/identities (admin).
    public func nodeIdentities() async throws -> [NodeIdentityInfo] {
        let list: NodeIdentityList = try await call(.GET, "/v1/cluster/identities")
        return list.items
    }

    /// DELETE /v1/cluster/identities/{name} (admin): frees the name for a new key.
    public func removeNodeIdentity(name: String) async throws {
        let response = try await execute(
            .DELETE, "/v1/cluster/identities/\(percentEncode(name))", body: nil,
            accept: "application/json", deadline: .now() + .seconds(60))
        _ = try? await response.body.collect(upTo: 1 << 20)
    }
}

/// `aegis token ls`: ID, ROLE, EXPIRES (in/ago, or the revocation), USES, REVOKED, DESCRIPTION.
public func joinTokenTable(_ items: [JoinTokenInfo], nowMs: Int64) -> String {
    var t = TextTable(headers: ["ID", "ROLE", "EXPIRES", "USES", "REVOKED", "DESCRIPTION"])
    for x in items {
        let left = x.expiresAtMs.saturatingSubtracting(nowMs)
        let expires = left > 0 ? "in " + formatAge(milliseconds: left) : "expired " + formatAge(milliseconds: -left) + " ago"
        let revoked = x.revokedAtMs.map { formatAge(milliseconds: nowMs.saturatingSubtracting($0)) + " ago" } ?? "no"
        t.add([x.id, x.role.rawValue, expires, String(x.uses), revoked, x.description.isEmpty ? "-" : x.description])
    }
    return t.render()
}
