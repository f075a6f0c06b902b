// APIError.swift — an error with its HTTP status, as the API returns it.
import AegisProtocol

/// An API failure: HTTP status plus the JSON body (`{"error": "...", "field": "..."}`).
public struct APIError: Error, CustomStringConvertible, Sendable, Equatable {
    public var status: Int
    public var body: ErrorBody

    public init(_ status: Int, _ message: String, field: String? = nil) {
        self.status = status
        self.body = ErrorBody(error: message, field: field)
    }

    public var description: String { body.error }

    public static func badRequest(_ m: String, field: String? = nil) -> APIError { APIError(400, m, field: field) }
    public static let unauthorized = APIError(401, "missing or invalid token (send Authorization: Bearer <token>)")
    public static func forbidden(_ m: String) -> APIError { APIError(403, m) }
    /// Also what another tenant's workload looks like: not found, never forbidden.
    public static func notFound(_ m: String) -> APIError { APIError(404, m) }
    public static func conflict(_ m: String) -> APIError { APIError(409, m) }
    public static func internalError(_ m: String) -> APIError { APIError(500, m) }
    /// 503: the node that holds what was asked for is not connected.
    public static func unavailable(_ m: String) -> APIError { APIError(503, m) }
}

/// Who is calling, after authentication.
public struct Caller: Sendable, Equatable {
    public var isAdmin: Bool
    /// The tenant acted for (admin: X-Aegis-Tenant or "default").
    public var tenant: String

    public init(isAdmin: Bool, tenant: String) {
        self.isAdmin = isAdmin
        self.tenant = tenant
    }
}
