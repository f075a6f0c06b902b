// MetricsRoutes.swift — GET /metrics (admin token; the metrics sidecar reads it over the
// controller's pod socket without one) with content negotiation (Prometheus text 0.0.4 by default,
// OpenMetrics 1.0.0 when the Accept header prefers it; AegisMetrics/Exposition.swift), and the
// middleware counting every API request by route template, method and status.
import AegisControl
import AegisMetrics
import AegisProtocol
import HTTPTypes
import Hummingbird
import NIOCore

extension APIServer {
    /// GET /metrics: the admin token, or no token from inside the pod (`APIListenerKind.podSocket`
    /// without the gateway's mark: the metrics sidecar).
    static func metricsRoute(_ router: Router<BasicRequestContext>, controller: Controller, listener: APIListenerKind) {
        router.get("metrics") { req, _ in
            try await respond {
                if !listener.isPodLocal(req.headers) {
                    let c = try await caller(req, controller)
                    guard c.isAdmin else { throw ControllerError.forbidden("metrics are admin-only") }
                }
                let exposition = await controller.metricsExposition(accept: req.headers[.accept])
                return Response(
                    status: .ok, headers: [.contentType: exposition.contentType],
                    body: .init(byteBuffer: ByteBuffer(bytes: exposition.body)))
            }
        }
    }
}

/// Records `aegis_api_requests_total{route,method,status}` and
/// `aegis_api_request_duration_seconds{route,method}` for every request of the routes added after
/// it. The route is the router's template with `:name` captures (`/v1/workloads/:id`), never the
/// request's path; a path no route matches is `unmatched`. The duration runs until the response
/// head is ready (a streamed body — a followed log — is not waited for).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ControllerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, status: response.status.code, since: started)
            return response
        } catch {
            record(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, since started: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - started).components
        metrics.recordAPIRequest(
            route: Self.template(context.endpointPath), method: request.method.rawValue, status: status,
            seconds: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }

    /// Hummingbird's endpoint path ("/v1/workloads/{id}/files/**") in the router's own notation
    /// ("/v1/workloads/:id/files/**"); `unmatched` for none ("NotFound").
    static func template(_ endpoint: String?) -> String {
        guard let endpoint, endpoint.hasPrefix("/") else { return "unmatched" }
        guard endpoint.utf8.contains(UInt8(ascii: "{")) else { return endpoint }
        var out = ""
        var inCapture = false
        for ch in endpoint {
            switch ch {
            case "{" where !inCapture:
                inCapture = true
                out.append(":")
            case "}" where inCapture:
                inCapture = false
            default:
                out.append(ch)
            }
        }
        return out
    }
}
