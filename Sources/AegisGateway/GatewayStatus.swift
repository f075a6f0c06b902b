// GatewayStatus.swift — what the probes report and tests wait for: the listeners' ports, whether
// the cluster CA has been found, whether the gateway drains; and the plain-HTTP probe listener
// (`--health-listen`, loopback): GET /healthz (200 while the process serves) and GET /readyz (200
// once the TLS port listens and the controller's socket accepts connections, 503 with the reasons
// otherwise, and while draining).
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
        var failure: String?
        var waiters: [(needsCluster: Bool, continuation: CheckedContinuation<(cluster: Int?, health: Int), any Error>)] = []
    }
    private let state = Mutex(State())

    func clusterListening(port: Int) {
        update {
            $0.clusterPort = port; $0.waitingFor = nil
        }
    }
    func healthListening(port: Int) { update { $0.healthPort = port } }
    func waiting(for what: String) { update { $0.waitingFor = what } }
    func drain() { update { $0.draining = true } }
    func failed(_ message: String) { update { $0.failure = message } }

    /// The ports once the probe listener (and, with `cluster`, the TLS port) listens.
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
                if let h = s.healthPort, !waiter.needsCluster || s.clusterPort != nil {
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
        }
        if let unreachable = probe() { reasons.append("controller socket: \(unreachable)") }
        return reasons.isEmpty ? nil : reasons.joined(separator: "\n")
    }

    /// The probe listener's responder.
    func healthResponder(upstream: Upstream) -> HTTPChannelHandler.Responder {
        { request, writer, _ in
            let status: HTTPResponse.Status
            let text: String
            switch (request.method, request.uri.path) {
            case (.get, "/healthz"), (.head, "/healthz"):
                (status, text) = (.ok, "ok")
            case (.get, "/readyz"), (.head, "/readyz"):
                if let reasons = self.notReadyReasons(probe: upstream.probe) {
                    (status, text) = (.serviceUnavailable, reasons)
                } else {
                    (status, text) = (.ok, "ready")
                }
            default:
                (status, text) = (.notFound, "not found: the probe port serves GET /healthz and GET /readyz")
            }
            let body = ByteBuffer(string: text + "\n")
            let head = HTTPResponse(
                status: status, headerFields: [.contentType: "text/plain; charset=utf-8", .contentLength: "\(body.readableBytes)"])
            try await writer.write(response: head, body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: body))
        }
    }
}
