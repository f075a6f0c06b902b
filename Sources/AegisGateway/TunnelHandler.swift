// TunnelHandler.swift — a node session after its 101: raw bytes piped between the client's TLS
// channel and the controller's socket, both on one event loop, with backpressure (a side reads only
// while the other can take writes). Frames, pings and close codes pass through untouched. When the
// gateway shuts down (ChannelShouldQuiesceEvent on the client's channel) each direction stops at
// its next frame boundary and gets a close frame 1001 "going away" instead: unmasked to the
// client, masked to the controller; the channels close once the client answers or after 2 s.
import NIOCore
import Synchronization

/// Bytes a session moved, for its access-log line.
final class TunnelStats: Sendable {
    /// Client → controller.
    let bytesIn = Atomic<Int>(0)
    /// Controller → client.
    let bytesOut = Atomic<Int>(0)
    /// Whether the gateway closed it going away.
    let wentAway = Atomic<Bool>(false)
}

final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The channel this handler sits on: the client's or the controller's.
    enum Side { case client, upstream }

    /// 1001, RFC 6455 §7.4.1.
    static let goingAway: UInt16 = 1001
    /// How long the client has to answer the gateway's close before the channels close.
    static let closeGrace: TimeAmount = .seconds(2)

    let side: Side
    let stats: TunnelStats
    private var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Frames this side's peer sends (they go to the partner).
    private var tracker = WebSocketFrameTracker()
    private var goingAway = false
    /// Nothing more is forwarded from this side.
    private var stopped = false
    /// Writes to this side's channel waiting until its HTTP handlers are gone (nil: write through).
    private var held: [ByteBuffer]?

    private init(side: Side, stats: TunnelStats) {
        self.side = side
        self.stats = stats
    }

    /// The client's end and the controller's end of one tunnel.
    static func pair(stats: TunnelStats) -> (client: TunnelHandler, upstream: TunnelHandler) {
        let client = TunnelHandler(side: .client, stats: stats)
        let upstream = TunnelHandler(side: .upstream, stats: stats)
        client.partner = upstream
        upstream.partner = client
        return (client, upstream)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if stopped {
            _ = tracker.advance(buffer, stopAtBoundary: false)
            // The client answered the gateway's close: the session is over.
            if side == .client && tracker.closeFrames > 0 { closeBoth() }
            return
        }
        let forward = tracker.advance(buffer, stopAtBoundary: goingAway)
        if forward < buffer.readableBytes {
            let rest = buffer.getSlice(at: buffer.readerIndex + forward, length: buffer.readableBytes - forward)!
            buffer = buffer.getSlice(at: buffer.readerIndex, length: forward)!
            pass(buffer)
            stopForwarding()
            channelRead(context: context, data: wrapInboundOut(rest))
            return
        }
        pass(buffer)
        if goingAway && tracker.atBoundary { stopForwarding() }
    }

    private func pass(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if side == .client {
            stats.bytesIn.add(buffer.readableBytes, ordering: .relaxed)
        } else {
            stats.bytesOut.add(buffer.readableBytes, ordering: .relaxed)
        }
        partner?.send(buffer)
    }

    /// Writes `buffer` to this side's channel, or keeps it while writes are held.
    private func send(_ buffer: ByteBuffer) {
        if held != nil {
            held!.append(buffer)
            return
        }
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Keeps what is sent to this side until `releaseWrites` (the channel's HTTP handlers leave).
    func holdWrites() { held = held ?? [] }

    /// Writes and flushes what was held; from now on writes go through.
    func releaseWrites() {
        guard let buffers = held else { return }
        held = nil
        for b in buffers { context?.write(wrapOutboundOut(b), promise: nil) }
        context?.flush()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.flushAndClose()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            beginGoingAway()
            partner?.beginGoingAway()
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) { [weak self] in self?.closeBoth() }
        case let e as ChannelEvent where e == .inputClosed:
            closeBoth()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeBoth()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func partnerBecameWritable() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    /// Stop forwarding at the next frame boundary of what this side reads.
    private func beginGoingAway() {
        guard !goingAway else { return }
        goingAway = true
        stats.wentAway.store(true, ordering: .relaxed)
        if tracker.atBoundary { stopForwarding() }
    }

    /// Ends this direction: the partner's peer gets a close frame 1001 in place of further frames.
    private func stopForwarding() {
        guard !stopped else { return }
        stopped = true
        // What the client sends goes to the controller (masked, as from a client); what the
        // controller sends goes to the client (unmasked, as from a server).
        let frame = WebSocketFrameTracker.closeFrame(code: Self.goingAway, reason: "gateway shutting down", masked: side == .client)
        guard let target = partner?.context else { return }
        target.writeAndFlush(wrapOutboundOut(target.channel.allocator.buffer(bytes: frame)), promise: nil)
    }

    /// Closes both channels, each after what was forwarded to it has been flushed (a close frame
    /// read together with the end of its connection still reaches the other side).
    private func closeBoth() {
        partner?.flushAndClose()
        flushAndClose()
    }

    private func flushAndClose() {
        guard let context else { return }
        context.flush()
        context.close(promise: nil)
    }
}
