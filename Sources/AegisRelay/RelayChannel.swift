// RelayChannel.swift — the relay's listener pipeline: Hummingbird's HTTP/1 + WebSocket upgrade
// channel with a handshake deadline in front (a connection that has not become a relay session
// within `handshakeTimeout` is closed, whatever it sent), and the refusal answer written before
// any upgrade: a status, `X-Aegis-Relay-Refusal: <reason>`, `Connection: close`, then the close.
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Closes its channel `timeout` after it was added unless removed first (by `disarm`).
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    static let name = "aegis-relay-handshake-deadline"
    let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    /// Removes the deadline from `channel` (the session is accepted).
    static func disarm(_ channel: any Channel) async {
        try? await channel.pipeline.removeHandler(name: name).get()
    }
}

/// `HTTP1WebSocketUpgradeChannel` with a `HandshakeDeadline` at the front of each connection.
struct DeadlineUpgradeChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(
                HandshakeDeadline(timeout: timeout), name: HandshakeDeadline.name, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async { await inner.handle(value: value, logger: logger) }
}

/// Answers a refused dial on the not-yet-upgraded channel and closes it.
enum RelayRefusal {
    static func write(_ channel: any Channel, status: HTTPResponseStatus, reason: String) async {
        var headers = HTTPHeaders()
        headers.add(name: RelayConfiguration.refusalHeader, value: reason)
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        try? await channel.close().get()
    }
}
