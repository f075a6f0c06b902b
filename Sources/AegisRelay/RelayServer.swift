// RelayServer.swift — `aegis relay`: edges dial out to it over WebSocket with a relay ticket; for
// each accepted edge it opens a TCP connection to an upstream (the gateway's cluster port) and
// forwards opaque bytes both ways, WebSocket binary frames ↔ TCP bytes. The edge's mutual TLS runs
// inside that stream, end to end with the gateway, so the relay sees only ciphertext: it can drop
// or delay a session but can't read or forge one. Order of a dial: handshake deadline armed →
// ticket checked (refused: 401 with the reason, nothing opened) → upstreams tried in order
// (none: 502) → 101 → the session replaces any earlier one of the same edge → bytes flow until
// either side ends or pings go unanswered for two intervals.
import Crypto
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Counts since start, for status and tests.
public struct RelayCounters: Sendable, Equatable {
    /// Sessions opened (a 101 was sent).
    public var accepted = 0
    /// Dials refused, by reason (`missing-ticket`, `expired`, `bad-signature`, `upstream-unreachable`, …).
    public var refused: [String: Int] = [:]
    /// Sessions closed because the same edge dialled again.
    public var replaced = 0
    /// Bytes forwarded edge → upstream and upstream → edge.
    public var bytesToUpstream = 0
    public var bytesToEdge = 0
}

/// The relay as a Service: run it in a ServiceGroup; graceful shutdown closes every session.
public final class RelayServer: Service, Sendable {
    public let configuration: RelayConfiguration
    /// The live sessions, one per edge.
    public let table = RelaySessionTable()
    let logger: Logger
    private let counterState = Mutex(RelayCounters())
    private let port = BoundPort()

    public init(configuration: RelayConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Counts since start.
    public var counters: RelayCounters { counterState.withLock { $0 } }

    /// The port the listener is bound to, once it is (waits for it).
    public func listeningPort() async throws -> Int { try await port.wait() }

    public func run() async throws {
        let c = configuration
        var builder = HTTPServerBuilder { responder in
            DeadlineUpgradeChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(
                        http1: .init(idleTimeout: .seconds(Int64(c.handshakeTimeout.components.seconds) + 1)),
                        ws: .init(maxFrameSize: c.maxFrameBytes, autoPing: .enabled(timePeriod: c.pingInterval), closeTimeout: .seconds(2))),
                    shouldUpgrade: { [self] head, channel, logger in try await self.shouldUpgrade(head, channel: channel) }),
                timeout: .nanoseconds(Int64(c.handshakeTimeout / .nanoseconds(1))))
        }
        if let tls = c.tls { builder = try .tls(builder, tlsConfiguration: tls) }
        // Hummingbird logs a refused upgrade (the relay closed the connection after its answer) as
        // an error: anonymous clients must not fill the log with those. Its own lines show at debug.
        var serverLogger = logger
        if serverLogger.logLevel > .debug { serverLogger.logLevel = .critical }
        let app = Application(
            router: Router(), server: builder,
            configuration: .init(address: .hostname(c.listen.host, port: c.listen.port), serverName: nil),
            onServerRunning: { [self] channel in self.bound(channel.localAddress?.port ?? 0) }, logger: serverLogger)
        defer { failWaiters() }
        try await withGracefulShutdownHandler {
            try await app.run()  // in the caller's ServiceGroup: its signals, its graceful shutdown
        } onGracefulShutdown: { [self] in
            self.table.closeAll()
        }
    }

    private func bound(_ value: Int) {
        port.settle(.success(value))
        logger.info("relay listening", metadata: ["port": "\(value)", "upstreams": "\(configuration.upstreams)"])
    }

    private func failWaiters() { port.settle(.failure(CancellationError())) }

    private func refuse(
        _ channel: any Channel, _ status: HTTPResponseStatus, _ reason: String, _ detail: String
    ) async
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    {
        counterState.withLock { $0.refused[reason, default: 0] += 1 }
        logger.notice(
            "relay dial refused",
            metadata: ["reason": "\(reason)", "detail": "\(detail)", "remote": "\(channel.remoteAddress?.description ?? "?")"])
        await RelayRefusal.write(channel, status: status, reason: reason)
        return .dontUpgrade
    }

    /// The ticket, then an upstream; only then the upgrade.
    func shouldUpgrade(
        _ head: HTTPRequest, channel: any Channel
    ) async throws
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    {
        let path = head.path.map { $0.split(separator: "?", maxSplits: 1).first.map(String.init) ?? $0 } ?? ""
        guard path == RelayConfiguration.path else { return await refuse(channel, .notFound, "not-found", path) }
        let scheme = RelayConfiguration.authorizationScheme + " "
        // The scheme in any case (RFC 9110 §11.1).
        guard let authorization = head.headerFields[.authorization],
            authorization.utf8.count > scheme.utf8.count,
            authorization.prefix(scheme.count).lowercased() == scheme.lowercased()
        else {
            return await refuse(channel, .unauthorized, "missing-ticket", "no Authorization: \(scheme)<ticket>")
        }
        let ticket: RelayTicket
        do {
            ticket = try RelayTicket.verify(
                String(authorization.dropFirst(scheme.count)), key: configuration.ticketKey, nowMs: configuration.nowMs(),
                skewMs: configuration.clockSkewMs)
        } catch {
            return await refuse(channel, .unauthorized, error.reason, error.description)
        }
        guard let (upstream, address) = await connectUpstream(on: channel.eventLoop) else {
            return await refuse(channel, .badGateway, "upstream-unreachable", "no upstream of \(configuration.upstreams) answered")
        }
        // Should the upgrade not happen after all (the client went away), the upstream goes too.
        channel.closeFuture.whenComplete { _ in upstream.channel.close(promise: nil) }
        return .upgrade([:]) { [self] inbound, outbound, _ in
            await HandshakeDeadline.disarm(channel)
            try await self.forward(
                ticket: ticket, edgeChannel: channel, upstream: upstream, address: address, inbound: inbound, outbound: outbound)
        }
    }

    /// The first upstream that accepts a TCP connection, in configuration order.
    func connectUpstream(on eventLoop: any EventLoop) async -> (NIOAsyncChannel<ByteBuffer, ByteBuffer>, RelayAddress)? {
        for address in configuration.upstreams {
            do {
                let channel = try await ClientBootstrap(group: eventLoop)
                    .connectTimeout(.nanoseconds(Int64(configuration.upstreamConnectTimeout / .nanoseconds(1))))
                    .channelOption(.allowRemoteHalfClosure, value: false)
                    .connect(host: address.host, port: address.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                return (channel, address)
            } catch {
                logger.warning("relay upstream not reachable", metadata: ["upstream": "\(address)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// One session: registered under its edge (closing the one it replaces), bytes both ways until
    /// either side ends, then removed — only if it is still the edge's session.
    func forward(
        ticket: RelayTicket, edgeChannel: any Channel, upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>, address: RelayAddress,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter
    ) async throws {
        let key = RelayEdgeKey(tenant: ticket.tenant, edge: ticket.edge)
        let upstreamChannel = upstream.channel
        let (generation, replaced) = table.register(key, ticketID: ticket.idHex, upstream: address.description) {
            edgeChannel.close(promise: nil)
            upstreamChannel.close(promise: nil)
        }
        counterState.withLock {
            $0.accepted += 1
            if replaced != nil { $0.replaced += 1 }
        }
        replaced?.close()
        logger.info(
            "relay session open",
            metadata: [
                "edge": "\(key)", "generation": "\(generation)", "ticket": "\(ticket.idHex)", "upstream": "\(address)",
                "replaced": "\(replaced.map { "\($0.info.generation)" } ?? "-")",
            ])
        defer {
            let removed = table.remove(key, generation: generation)
            logger.info("relay session closed", metadata: ["edge": "\(key)", "generation": "\(generation)", "current": "\(removed)"])
        }
        let tap = configuration.tap
        try await upstream.executeThenClose { upstreamIn, upstreamOut in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {  // edge → upstream
                    for try await frame in inbound {
                        guard frame.opcode != .text else { throw RelayError.textFrame }
                        tap?(.toUpstream, frame.data)
                        self.counterState.withLock { $0.bytesToUpstream += frame.data.readableBytes }
                        try await upstreamOut.write(frame.data)
                    }
                }
                group.addTask {  // upstream → edge
                    for try await buffer in upstreamIn {
                        tap?(.toEdge, buffer)
                        self.counterState.withLock { $0.bytesToEdge += buffer.readableBytes }
                        try await outbound.write(.binary(buffer))
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }
}

/// Why a relay session ended on the relay's side.
public enum RelayError: Error, Sendable, Equatable {
    /// The edge sent a text frame: the relay forwards bytes only.
    case textFrame
}
