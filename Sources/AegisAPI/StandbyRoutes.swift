// StandbyRoutes.swift — what a standby controller (not the leader of a replicated controller on
// PostgreSQL) answers on its API listeners: /healthz 200 (the process serves), /readyz 503 with
// why it is not the leader and who is (a load balancer or the gateway sends traffic to the
// leader), every other request 503 with the same reason as the API's error body, and the leader
// named in `X-Aegis-Leader` when known. Workers' sessions are refused the same way, so they try
// the next controller of their --join list.
import AegisControl
import HTTPTypes
import Hummingbird
import NIOCore

extension APIServer {
    /// The header naming the current leader (its holder name) on a standby's answers.
    public static let leaderHeader = HTTPField.Name("X-Aegis-Leader")!

    /// A standby's router. `standing` gives the current reason and leader (read per request).
    public static func standbyRouter(standing: @escaping @Sendable () -> (reason: String, leader: String?)) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("healthz") { _, _ in text(.ok, "ok") }
        router.get("readyz") { _, _ in
            let now = standing()
            var response = text(.serviceUnavailable, "standby: " + now.reason)
            if let leader = now.leader { response.headers[leaderHeader] = leader }
            return response
        }
        let refuse: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            let now = standing()
            let error = ControllerError.unavailable("this controller is a standby: \(now.reason)")
            var response = json(error.body, status: error.status)
            if let leader = now.leader { response.headers[leaderHeader] = leader }
            return response
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head] {
            router.on("**", method: method, use: refuse)
        }
        return router
    }
}
