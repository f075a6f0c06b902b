// SessionUpgrade.swift — a worker's `GET /v1/cluster/session` with `Upgrade: websocket`: before the
// client gets its 101, the gateway opens a connection to the controller's socket, sends the same
// upgrade request (X-Aegis-Gateway-* replaced by the verified identity, a request ID added) and
// waits for the controller's 101, whose Sec-WebSocket-Accept (computed from the client's own key)
// and extension headers it passes on. Then both connections become one raw byte tunnel
// (TunnelHandler). A controller that refuses (or can't be reached) gets the client an HTTP error
// instead of a 101. An opened tunnel counts in GatewayMetrics (a request of class `session` with
// code 101, `aegis_gateway_sessions_total`, `aegis_gateway_sessions_open` until it closes).
import AegisMetrics
import AegisPKI
import AegisProtocol
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The upgrade's state on one client connection, shared by the upgrader's steps and the fallback.
final class SessionUpgradeState: Sendable {
    struct Opened: Sendable {
        let upstream: any Channel
        let record: SessionRecord
    }
    private let opened = Mutex<Opened?>(nil)
    private let refusal = Mutex<Forwarder.Reply?>(nil)
    private let head = Mutex<HTTPRequestHead?>(nil)

    func setOpened(_ o: Opened) { opened.withLock { $0 = o } }

    func takeOpened() -> Opened? {
        opened.withLock { o in
            let taken = o
            o = nil
            return taken
        }
    }

    func refuse(_ reply: Forwarder.Reply) { refusal.withLock { $0 = reply } }
    var refused: Forwarder.Reply? { refusal.withLock { $0 } }
    func record(_ h: HTTPRequestHead) { head.withLock { if $0 == nil { $0 = h } } }
    /// The connection's first request head.
    var firstHead: HTTPRequestHead? { head.withLock { $0 } }
}

/// Remembers a connection's first request head: NIO's upgrade handler keeps a request that asked
/// for an upgrade to itself, so when no upgrade happens (another path, another protocol, a refusal)
/// the gateway still knows what to answer.
final class FirstHeadRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    static let name = "aegis-gateway-first-head"
    let state: SessionUpgradeState

    init(state: SessionUpgradeState) { self.state = state }

    /// Records the head, then leaves the pipeline (before an upgrade makes its input raw bytes).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let isHead: Bool
        if case .head(let head) = unwrapInboundIn(data) {
            state.record(head)
            isHead = true
        } else {
            isHead = false
        }
        context.fireChannelRead(data)
        if isHead { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
    }
}

/// What the access log says of a session when it ends.
struct SessionRecord: Sendable {
    let requestID: String
    let remote: String
    let path: String
    let clientCN: String?
    let start = ContinuousClock.now
}

struct SessionUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = GatewayChannel.Negotiated

    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    let core: GatewayCore
    let state: SessionUpgradeState

    /// Names of the controller's 101 headers passed to the client.
    static let passedOn: Set<String> = ["sec-websocket-accept", "sec-websocket-extensions", "sec-websocket-protocol"]

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    )
        -> EventLoopFuture<HTTPHeaders>
    {
        let path = upgradeRequest.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        // Not a session — another path, or no `Connection: upgrade` (then HTTP/1.1 parsing goes on
        // past the request, and pipelined requests must not reach a tunnel): no upgrade, the
        // request is forwarded as plain HTTP.
        guard path == NodeSession.path, Self.asksForUpgrade(upgradeRequest.headers) else {
            return channel.eventLoop.makeFailedFuture(NotASession())
        }
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders.self)
        promise.completeWithTask {
            do {
                return try await open(channel: channel, request: upgradeRequest, path: path, initial: initialResponseHeaders)
            } catch let reply as Forwarder.Reply {
                state.refuse(reply)
                throw reply
            }
        }
        return promise.futureResult
    }

    /// Whether the Connection header lists the `upgrade` token (RFC 9110 §7.8).
    static func asksForUpgrade(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    /// Only a client that proved a node certificate in the handshake reaches the controller's
    /// session endpoint: an anonymous one is refused here (403), before a connection is dialled.
    private func open(channel: any Channel, request: HTTPRequestHead, path: String, initial: HTTPHeaders) async throws -> HTTPHeaders {
        let identity = await ClientIdentity.of(channel: channel, verifier: core.verifier)
        switch identity {
        case .refused(let reason):
            throw Forwarder.Reply(status: .forbidden, message: reason, close: true, rejection: .forbidden)
        case .anonymous:
            throw Forwarder.Reply(
                status: .forbidden, message: "a node session needs a client certificate from the cluster CA (join the node first)",
                close: true, rejection: .forbidden)
        case .verified: break
        }
        var fields = HTTPFields()
        for (name, value) in request.headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        let id = ForwardedHeaders.requestID(fields)
        var headers = ForwardedHeaders.upstream(
            fields, identity: identity, requestID: id, client: channel.remoteAddress?.ipAddress ?? "unknown")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Upgrade", value: "websocket")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: request.uri, headers: headers)
        let (upstream, response) = try await UpstreamHandshake.open(
            socketPath: core.upstream.socketPath, head: head, eventLoop: channel.eventLoop, timeout: core.upstream.headTimeAmount)
        guard response.status == .switchingProtocols else {
            upstream.close(promise: nil)
            let code = Int(response.status.code)
            // The controller's own refusal (401, 403…) is passed on; anything else is no usable answer.
            throw Forwarder.Reply(
                status: code >= 400 ? .init(code: code) : .badGateway,
                message: "the controller refused the session upgrade: \(response.status.code) \(response.status.reasonPhrase)",
                close: true, rejection: code >= 400 ? nil : .upstreamUnavailable)
        }
        let remote = channel.remoteAddress?.ipAddress ?? "unknown"
        state.setOpened(
            .init(upstream: upstream, record: SessionRecord(requestID: id, remote: remote, path: path, clientCN: identity.commonName)))
        // A client gone before its 101 leaves no connection to the controller behind.
        channel.closeFuture.whenComplete { [state] _ in state.takeOpened()?.upstream.close(promise: nil) }
        var answer = initial
        for (name, value) in response.headers where Self.passedOn.contains(name.lowercased()) { answer.add(name: name, value: value) }
        answer.add(name: ForwardedHeaders.requestID.rawName, value: id)
        return answer
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<GatewayChannel.Negotiated> {
        guard let opened = state.takeOpened() else { return channel.eventLoop.makeFailedFuture(NotASession()) }
        let upstream = opened.upstream
        guard upstream.eventLoop === channel.eventLoop else {
            upstream.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(NotASession())
        }
        let metrics = core.forwarder.metrics
        return channel.eventLoop.makeCompletedFuture {
            let stats = TunnelStats()
            let (clientEnd, upstreamEnd) = TunnelHandler.pair(stats: stats)
            // Until the controller side's HTTP handlers are gone, what the client sends (bytes
            // pipelined after its upgrade request) is held: the response decoder still watches
            // writes and takes only request parts.
            upstreamEnd.holdWrites()
            try channel.pipeline.syncOperations.addHandler(clientEnd)
            let pipeline = upstream.pipeline.syncOperations
            _ = pipeline.removeHandler(name: UpstreamHandshake.handshakeName)
            try pipeline.addHandler(upstreamEnd)
            _ = pipeline.removeHandler(name: UpstreamHandshake.encoderName)
            // Bytes that followed the controller's 101 (its first frames) reach the tunnel as the
            // decoder leaves, outside a read cycle: nothing else would flush them to the client.
            pipeline.removeHandler(name: UpstreamHandshake.decoderName).whenComplete { _ in
                upstreamEnd.releaseWrites()
                channel.flush()
            }
            // Either side closing (even before the tunnel's handlers were there) ends the other.
            upstream.closeFuture.whenComplete { _ in channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in upstream.close(promise: nil) }
            metrics.recordRequest(.session, code: 101, since: opened.record.start)
            metrics.sessionOpened()
            channel.closeFuture.whenComplete { _ in metrics.sessionClosed() }
            return .tunnel(SessionTunnel(client: channel, upstream: upstream, stats: stats, record: opened.record))
        }
    }

    /// The request is not for the session path (it goes the plain HTTP way).
    struct NotASession: Error {}
}

/// The controller's end of a session: one connection to its socket, the upgrade request sent,
/// the response head awaited (at most `timeout`).
enum UpstreamHandshake {
    static let encoderName = "aegis-gateway-http-encoder"
    static let decoderName = "aegis-gateway-http-decoder"
    static let handshakeName = "aegis-gateway-handshake"

    /// - Throws: `Forwarder.Reply` 502 (no connection, or it closed before answering) or 504.
    static func open(
        socketPath: String, head: HTTPRequestHead, eventLoop: any EventLoop, timeout: TimeAmount
    ) async throws -> (
        any Channel, HTTPResponseHead
    ) {
        let outcome = Outcome(promise: eventLoop.makePromise())
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTPRequestEncoder(), name: encoderName)
                        try pipeline.addHandler(
                            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)), name: decoderName)
                        try pipeline.addHandler(HandshakeHandler(outcome: outcome), name: handshakeName)
                    }
                }
                .connect(unixDomainSocketPath: socketPath).get()
        } catch {
            outcome.fail(error)
            throw Forwarder.Reply(
                status: .badGateway, message: "the controller at \(socketPath) did not answer: \(error)", close: true,
                rejection: .upstreamUnavailable)
        }
        let timer = eventLoop.scheduleTask(in: timeout) { outcome.fail(Forwarder.HeadTimeout()) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            let response = try await outcome.promise.futureResult.get()
            timer.cancel()
            return (channel, response)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if error is Forwarder.HeadTimeout {
                throw Forwarder.Reply(
                    status: .gatewayTimeout, message: "the controller sent no response within \(timeout)", close: true,
                    rejection: .upstreamTimeout)
            }
            throw Forwarder.Reply(
                status: .badGateway, message: "the controller at \(socketPath) did not answer: \(error)", close: true,
                rejection: .upstreamUnavailable)
        }
    }

    /// The handshake's result: the first of a response head, an error or the timeout wins.
    final class Outcome: Sendable {
        let promise: EventLoopPromise<HTTPResponseHead>
        private let done = Atomic(false)

        init(promise: EventLoopPromise<HTTPResponseHead>) { self.promise = promise }

        func succeed(_ head: HTTPResponseHead) {
            if !done.exchange(true, ordering: .acquiringAndReleasing) { promise.succeed(head) }
        }

        func fail(_ error: any Error) {
            if !done.exchange(true, ordering: .acquiringAndReleasing) { promise.fail(error) }
        }
    }

    /// Completes the outcome with the first response head, or fails it if the connection ends first.
    final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let outcome: Outcome

        init(outcome: Outcome) { self.outcome = outcome }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { outcome.succeed(head) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            outcome.fail(ChannelError.eof)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            outcome.fail(error)
            context.close(promise: nil)
        }
    }
}
