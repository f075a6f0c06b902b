// GatewayStatus.swift — what the probes report and tests wait for: the listeners' ports (and the
// admin socket), whether the cluster CA has been found, whether the gateway drains; and the
// plain-HTTP responder of the probe listener (`--health-listen`, loopback) and the admin socket
// (`--admin-socket`): GET /healthz (200 while the process serves) and GET /readyz (200 once the TLS
// port listens and the controller's socket accepts connections, 503 with the reasons otherwise, and
// while draining); on the admin socket also GET /metrics (the gateway's series, text 0.0.4 or
// OpenMetrics by the Accept header).
import AegisMetrics
import HTTPTypes
import HummingbirdCore
import NIOCore
import Synchronization

final class GatewayStatus: Sendable {
    private struct State {
        var clusterPort: Int?
        var healthPort: Int?
        var waitingFor: String? = "the cluster CA"
        var draining = false
        /// Whether an admin socket is configured, and whether it listens.
        var adminExpected = false
        var adminListening = false
        var failure: String?
        var waiters: [(needsCluster: Bool, continuation: CheckedContinuation<(cluster: Int?, health: Int), any Error>)] = []
    }
    private let state: Mutex<State>

    /// - Parameter adminSocket: whether the gateway serves an admin socket (waiters wait for it too).
    init(adminSocket: Bool = false) {
        var initial = State()
        initial.adminExpected = adminSocket
        state = Mutex(initial)
    }

    func clusterListening(port: Int) {
        update {
            $0.clusterPort = port; $0.waitingFor = nil
        }
    }
    func healthListening(port: Int) { update { $0.healthPort = port } }
    func adminListening() { update { $0.adminListening = true } }
    func waiting(for what: String) { update { $0.waitingFor = what } }
    func drain() { update { $0.draining = true } }
    func failed(_ message: String) { update { $0.failure = message } }

    /// The ports once the probe listener and the admin socket (and, with `cluster`, the TLS port)
    /// listen.
    /// - Throws: `GatewayError` when the gateway stopped or failed before.
    func ports(cluster: Bool) async throws -> (cluster: Int?, health: Int) {
        try await withCheckedThrowingContinuation { continuation in
            update { $0.waiters.append((cluster, continuation)) }
        }
    }

    private func update(_ change: (inout State) -> Void) {
        typealias Answer = (CheckedContinuation<(cluster: Int?, health: Int), any Error>, Result<(cluster: Int?, health: Int), any Error>)
        let answers: [Answer] = state.withLock { s in
            change(&s)
            var answers: [Answer] = []
            s.waiters.removeAll { waiter in
                if let h = s.healthPort, !waiter.needsCluster || s.clusterPort != nil, !s.adminExpected || s.adminListening {
                    answers.append((waiter.continuation, .success((s.clusterPort, h))))
                } else if let failure = s.failure {
                    answers.append((waiter.continuation, .failure(GatewayError(failure))))
                } else {
                    return false
                }
                return true
            }
            return answers
        }
        for (continuation, result) in answers { continuation.resume(with: result) }
    }

    /// The /readyz answer: nil when ready, else the reasons, one per line.
    func notReadyReasons(probe: () -> String?) -> String? {
        var reasons: [String] = []
        state.withLock { s in
            if let failure = s.failure { reasons.append("failed: \(failure)") }
            if s.draining { reasons.append("draining: shutting down") }
            if let what = s.waitingFor { reasons.append("waiting for \(what)") }
            if s.clusterPort == nil && s.waitingFor == nil { reasons.append("the TLS listener is not up") }
            if s.adminExpected && !s.adminListening { reasons.append("the admin socket is not up") }
        }
        if let unreachable = probe() { reasons.append("controller socket: \(unreachable)") }
        return reasons.isEmpty ? nil : reasons.joined(separator: "\n")
    }

    /// The responder of the probe listener and, with `metrics`, of the admin socket (which adds
    /// GET /metrics).
    func healthResponder(upstream: Upstream, metrics: GatewayMetrics? = nil) -> HTTPChannelHandler.Responder {
        { request, writer, _ in
            let isRead = request.method == .get || request.method == .head
            let status: HTTPResponse.Status
            let text: String
            switch (isRead, request.uri.path, metrics) {
            case (true, "/healthz", _):
                (status, text) = (.ok, "ok")
            case (true, "/readyz", _):
                if let reasons = self.notReadyReasons(probe: upstream.probe) {
                    (status, text) = (.serviceUnavailable, reasons)
                } else {
                    (status, text) = (.ok, "ready")
                }
            case (true, "/metrics", let metrics?):
                let exposition = metrics.render(accept: request.headers[.accept])
                try await Self.write(.ok, exposition.body, type: exposition.contentType, request: request, writer: writer)
                return
            default:
                let served = metrics == nil ? "GET /healthz and GET /readyz" : "GET /metrics, GET /healthz and GET /readyz"
                (status, text) = (.notFound, "not found: this listener serves \(served)")
            }
            try await Self.write(status, Array((text + "\n").utf8), type: "text/plain; charset=utf-8", request: request, writer: writer)
        }
    }

    /// One whole response (its body left out for HEAD).
    static func write(
        _ status: HTTPResponse.Status, _ body: [UInt8], type: String, request: Request, writer: consuming ResponseWriter
    ) async throws {
        let head = HTTPResponse(status: status, headerFields: [.contentType: type, .contentLength: "\(body.count)"])
        let content = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        try await writer.write(response: head, body: content)
    }
}
