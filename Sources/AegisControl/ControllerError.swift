// ControllerError.swift — why the controller refused or failed a request, by kind, with the error
// that caused it. Transport-free: the HTTP status of each kind is the API's business (AegisAPI
// ControllerError+HTTP.swift), so a gateway or another transport maps the same kinds its own way.
import AegisProtocol
import AegisStore

/// A refused or failed controller operation.
public struct ControllerError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The request is malformed or out of range; `field` names the offending field or flag.
        case invalid(field: String?)
        /// No caller could be identified (missing or unknown token, bad join token).
        case unauthenticated
        /// The caller may not do this.
        case forbidden
        /// No such thing, or another tenant's (never told apart).
        case notFound
        /// It clashes with what exists (a name taken, a key that does not match).
        case conflict
        /// A body or upload over its limit.
        case tooLarge
        /// What was asked for is on a node that is not connected, or this controller is not the
        /// leader (a standby, or one that lost its lease).
        case unavailable
        /// The controller failed (the store, the CA): `underlying` says how.
        case internalError
    }

    public var kind: Kind
    /// What went wrong, as the caller is told it.
    public var message: String
    /// The error that caused this one (a store, PKI or decoding error), if any.
    public var underlying: (any Error)?

    public init(_ kind: Kind, _ message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }

    /// The offending field of an `.invalid` error.
    public var field: String? {
        if case .invalid(let field) = kind { return field }
        return nil
    }

    /// The JSON body the API returns (`{"error": "...", "field": "..."}`).
    public var body: ErrorBody { ErrorBody(error: message, field: field) }

    public static func invalid(_ m: String, field: String? = nil, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.invalid(field: field), m, underlying: underlying)
    }
    public static let unauthenticated = ControllerError(.unauthenticated, "missing or invalid token (send Authorization: Bearer <token>)")
    public static func unauthenticated(_ m: String, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.unauthenticated, m, underlying: underlying)
    }
    public static func forbidden(_ m: String, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.forbidden, m, underlying: underlying)
    }
    /// Also what another tenant's workload looks like: not found, never forbidden.
    public static func notFound(_ m: String, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.notFound, m, underlying: underlying)
    }
    public static func conflict(_ m: String, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.conflict, m, underlying: underlying)
    }
    public static func tooLarge(_ m: String) -> ControllerError { ControllerError(.tooLarge, m) }
    /// The node that holds what was asked for is not connected.
    public static func unavailable(_ m: String, underlying: (any Error)? = nil) -> ControllerError {
        ControllerError(.unavailable, m, underlying: underlying)
    }
    /// A failure of the controller itself; the message is `context: underlying` (or the
    /// underlying error alone).
    /// A write refused because this controller lost the leadership (`StoreError.fenced`) is
    /// `unavailable` instead: the client retries against the new leader.
    public static func internalError(_ context: String? = nil, underlying: any Error) -> ControllerError {
        if let e = underlying as? StoreError, e.kind == .fenced { return .unavailable(e.description, underlying: e) }
        return ControllerError(.internalError, context.map { "\($0): \(underlying)" } ?? "\(underlying)", underlying: underlying)
    }
    public static func internalError(_ m: String) -> ControllerError { ControllerError(.internalError, m) }
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
