// GatewayChannel.swift — one client connection of the TLS port (HummingbirdCore's child-channel
// protocol, wrapped in HummingbirdTLS's TLSChannel): HTTP/1.1 whose first request may be a session
// upgrade (SessionUpgrader), else requests answered by the Forwarder one after another
// (keep-alive, idle timeout, graceful quiescing by HummingbirdCore).
import AegisPKI
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// What every connection shares.
struct GatewayCore: Sendable {
    let upstream: Upstream
    let forwarder: Forwarder
    let verifier: PKIVerifier
    let accessLog: AccessLogSink
    let idleTimeout: Duration
}

/// A session's byte tunnel, running until either side closes.
struct SessionTunnel: Sendable {
    let client: any Channel
    let upstream: any Channel
    let stats: TunnelStats
    let record: SessionRecord

    /// Waits for both channels to close, then writes the access-log line (status 101).
    func run(accessLog: AccessLogSink) async {
        try? await client.closeFuture.get()
        try? await upstream.closeFuture.get()
        var line = AccessRecord(
            requestID: record.requestID, remote: record.remote, method: "GET", path: record.path, clientCN: record.clientCN)
        line.status = 101
        line.bytesIn = stats.bytesIn.load(ordering: .relaxed)
        line.bytesOut = stats.bytesOut.load(ordering: .relaxed)
        if stats.wentAway.load(ordering: .relaxed) { line.error = "closed by the gateway going away" }
        line.start = record.start
        line.emit(to: accessLog)
    }
}

struct GatewayChannel: ServerChildChannel, HTTPChannelHandler {
    /// What the connection's first request made of it.
    enum Negotiated: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case tunnel(SessionTunnel)
        /// The session upgrade was refused: that reply, then the connection ends.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Forwarder.Reply)
        /// A request that asked for an upgrade that did not happen (NIO does not pass it on):
        /// forwarded as a plain request, then the connection ends.
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPRequestHead)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
        let upgrade: SessionUpgradeState
        let gone: ClientGoneSignal
    }

    let core: GatewayCore
    /// The connection's TLS peer, known once its first request is read.
    var identity = ClientIdentity.anonymous
    /// Fires when the connection's client leaves.
    var gone = ClientGoneSignal()

    var responder: HTTPChannelHandler.Responder {
        let forwarder = core.forwarder, identity = identity, gone = gone
        return { request, writer, channel in
            try await forwarder.respond(request, writer, channel: channel, identity: identity, gone: gone)
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let state = SessionUpgradeState()
            let gone = ClientGoneSignal()
            let core = core
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration<Negotiated>(
                upgraders: [SessionUpgrader(core: core, state: state)],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(HTTP1ToHTTPServerCodec(secure: true))
                        try sync.addHandler(ClientGoneWatcher(signal: gone))
                        try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: core.idleTimeout, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let reply = state.refused { return .refused(http, reply) }
                        if let head = state.firstHead, head.headers.contains(name: "upgrade") { return .notUpgraded(http, head) }
                        return .http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false  // HummingbirdCore reads requests one after another
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let sync = channel.pipeline.syncOperations
            let negotiated = try sync.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let upgrader = try sync.handler(type: NIOTypedHTTPServerUpgradeHandler<Negotiated>.self)
            try sync.addHandler(FirstHeadRecorder(state: state), name: FirstHeadRecorder.name, position: .before(upgrader))
            return Value(negotiated: negotiated, channel: channel, upgrade: state, gone: gone)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                var connection = self
                connection.identity = await ClientIdentity.of(channel: value.channel, verifier: core.verifier)
                connection.gone = value.gone
                await connection.handleHTTP(asyncChannel: http, logger: logger)
            case .tunnel(let tunnel):
                await tunnel.run(accessLog: core.accessLog)
            case .refused(let http, let reply):
                var record = Self.record(value.upgrade.firstHead, channel: value.channel)
                try? await http.executeThenClose { _, outbound in
                    try await core.forwarder.send(
                        reply, requestID: record.requestID, writer: ResponseWriter(outbound: outbound), record: &record)
                }
            case .notUpgraded(let http, let head):
                let identity = await ClientIdentity.of(channel: value.channel, verifier: core.verifier)
                try? await http.executeThenClose { _, outbound in
                    try await core.forwarder.respond(
                        Self.request(head), ResponseWriter(outbound: outbound), channel: http.channel, identity: identity, gone: value.gone)
                }
            }
        } catch {
            logger.debug("connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }

    /// The access-log record of a connection's first request.
    static func record(_ head: HTTPRequestHead?, channel: any Channel) -> AccessRecord {
        let request = head.map(Self.request)
        return AccessRecord(
            requestID: ForwardedHeaders.requestID(request?.headers ?? [:]), remote: channel.remoteAddress?.ipAddress ?? "unknown",
            method: request?.method.rawValue ?? "GET", path: request?.uri.path ?? "", clientCN: nil)
    }

    /// A NIOHTTP1 request head as the Request HummingbirdCore hands responders, without a body.
    static func request(_ head: HTTPRequestHead) -> Request {
        var fields = HTTPFields()
        for (name, value) in head.headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        let method = HTTPRequest.Method(head.method.rawValue) ?? .get
        return Request(
            head: HTTPRequest(method: method, scheme: "https", authority: nil, path: head.uri, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer()))
    }
}
