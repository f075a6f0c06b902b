// FakeController.swift — a controller stand-in on a unix socket (Hummingbird, as the real API):
// routes that echo the headers they got, stream SSE events 100 ms apart, count an upload, answer
// slowly, resolve two tenants' tokens on /v1/whoami, accept joins; and a WebSocket on
// /v1/cluster/session that first reports the identity header it saw, then echoes every message
// (text "close:CODE" closes with that code).
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

final class FakeController: Sendable {
    let socket: String
    /// Byte counts of uploads read to their end.
    let completedUploads = Mutex<[Int]>([])
    /// Upload reads that ended in an error (the gateway cancelled them).
    let failedUploads = Atomic<Int>(0)
    /// SSE streams that ended (to their end, or because the reader left).
    let streamsEnded = Atomic<Int>(0)
    /// Sessions whose inbound stream ended.
    let sessionsEnded = Atomic<Int>(0)
    private let running = Mutex<Running?>(nil)

    init(socket: String) { self.socket = socket }

    /// Starts serving and waits until the socket listens.
    func start() async throws {
        let (started, signal) = AsyncStream<Void>.makeStream()
        var logger = Logger(label: "fake-controller")
        logger.logLevel = .warning
        let app = Application(
            router: router(),
            server: .http1WebSocketUpgrade(configuration: .init(maxFrameSize: 1 << 20)) { [self] request, _, _ in
                guard request.path?.hasPrefix(NodeSession.path) == true else { return .dontUpgrade }
                let identity = request.headerFields[HTTPField.Name("X-Aegis-Gateway-Client-Certificate")!] ?? "none"
                return .upgrade([:]) { inbound, outbound, _ in
                    try await self.echo(identity: identity, inbound: inbound, outbound: outbound)
                }
            },
            configuration: .init(address: .unixDomainSocket(path: socket)),
            onServerRunning: { _ in signal.finish() }, logger: logger)
        running.withLock { $0 = Running.start(app) }
        for await _ in started {}
    }

    func stop() async {
        let r = running.withLock { r in
            defer { r = nil }; return r
        }
        await r?.stop()
    }

    private func echo(identity: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        defer { sessionsEnded.add(1, ordering: .relaxed) }
        try await outbound.write(.text("identity:" + identity))
        for try await message in inbound.messages(maxSize: 1 << 20) {
            switch message {
            case .text(let text) where text.hasPrefix("close:"):
                try await outbound.close(.init(codeNumber: Int(text.dropFirst(6)) ?? 1000), reason: "asked to")
                return
            case .text(let text):
                try await outbound.write(.text(text))
            case .binary(let bytes):
                try await outbound.write(.binary(bytes))
            }
        }
    }

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.on("/echo/**", method: .get) { request, _ in Self.echoHeaders(request) }
        router.on("/echo/**", method: .post) { request, _ in Self.echoHeaders(request) }
        router.get("/v1/whoami") { request, _ -> Response in
            switch request.headers[.authorization] {
            case "Bearer token-a": return Self.json(["kind": "tenant", "tenant": "a"])
            case "Bearer token-b": return Self.json(["kind": "tenant", "tenant": "b"])
            case "Bearer admin": return Self.json(["kind": "admin", "tenant": "default"])
            default: return Self.json(["error": "unauthorized"], status: .unauthorized)
            }
        }
        router.get("/sse") { [self] request, _ -> Response in
            let count = Int(request.uri.queryParameters.get("n") ?? "5") ?? 5
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    defer { self.streamsEnded.add(1, ordering: .relaxed) }
                    for i in 0..<count {
                        try await writer.write(ByteBuffer(string: "data: event \(i)\n\n"))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
        }
        router.post("/upload") { [self] request, _ -> Response in
            var bytes = 0
            do {
                for try await chunk in request.body { bytes += chunk.readableBytes }
            } catch {
                failedUploads.add(1, ordering: .relaxed)
                throw error
            }
            completedUploads.withLock { $0.append(bytes) }
            return Self.json(["bytes": bytes])
        }
        router.get("/slow") { _, _ -> Response in
            try await Task.sleep(for: .milliseconds(1500))
            return Self.json(["slow": true])
        }
        router.post("/early") { _, _ in Self.json(["error": "no token"], status: .unauthorized) }
        router.post("/v1/cluster/join") { _, _ in Self.json(["joined": true]) }
        return router
    }

    static func echoHeaders(_ request: Request) -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return json(["method": request.method.rawValue, "path": request.uri.description, "headers": headers])
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
