// ControllerError+HTTP.swift — the HTTP form of the controller's errors: each kind's status and
// the JSON body `{"error": "...", "field": "..."}`. Thrown from a route, Hummingbird answers with it.
import AegisControl
import AegisProtocol
import HTTPTypes
import Hummingbird

extension ControllerError: HTTPResponseError {
    /// 400 invalid, 401 unauthenticated, 403 forbidden, 404 not found, 409 conflict, 413 too
    /// large, 500 internal, 503 unavailable.
    public var status: HTTPResponse.Status {
        switch kind {
        case .invalid: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        APIServer.json(body, status: status)
    }
}
