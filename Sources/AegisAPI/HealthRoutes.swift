// HealthRoutes.swift — GET /healthz (200 while the process serves requests) and GET /readyz (200
// once the controller can do its job, 503 with the reasons otherwise): no token on any listener,
// as Kubernetes' apiserver serves them; `aegis health` and the pod's probes ask for them.
import AegisControl
import HTTPTypes
import Hummingbird
import NIOCore

/// The listener a router serves, which decides what it trusts beyond bearer tokens.
public enum APIListenerKind: Sendable, Equatable {
    /// 127.0.0.1, the node's `aegis.sock`, the TLS cluster port: bearer tokens only; node
    /// sessions authenticate with the TLS client certificate; `X-Aegis-Gateway-*` means nothing.
    case direct
    /// The controller's socket in its pod, reached only by the pod's containers: the gateway
    /// passes a verified client certificate as `X-Aegis-Gateway-Client-Certificate` and marks
    /// every request it forwards with `X-Aegis-Gateway-Forwarded-For`; a request without that
    /// mark comes from inside the pod (the metrics sidecar, probes) and may read /metrics
    /// without a token.
    case podSocket

    /// The header the gateway puts on every request it forwards.
    public static let forwardedFor = HTTPField.Name("X-Aegis-Gateway-Forwarded-For")!
    /// The base64 DER of the client certificate the gateway verified.
    public static let clientCertificate = HTTPField.Name("X-Aegis-Gateway-Client-Certificate")!

    /// Whether a request on this listener comes from inside the pod.
    func isPodLocal(_ headers: HTTPFields) -> Bool { self == .podSocket && headers[Self.forwardedFor] == nil }
}

extension APIServer {
    static func healthRoutes(_ router: Router<BasicRequestContext>, controller: Controller) {
        router.get("healthz") { _, _ in text(.ok, "ok") }
        router.get("readyz") { _, _ in
            let reasons = await controller.notReadyReasons()
            return reasons.isEmpty ? text(.ok, "ready") : text(.serviceUnavailable, reasons.joined(separator: "\n"))
        }
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
    }
}
