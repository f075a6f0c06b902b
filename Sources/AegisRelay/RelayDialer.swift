// RelayDialer.swift — the edge's end of the relay: a loopback TCP listener (127.0.0.1, an
// ephemeral port) whose each accepted connection is spliced into a WebSocket to a relay, so the
// existing mutual-TLS session code (ControllerSession) dials `https://127.0.0.1:PORT` and runs its
// TLS through the relay to the gateway, verifying the controller against the pinned cluster CA
// exactly as on a direct link. Relays are tried in order (the one that worked last first); a
// round in which none opens a session waits a jittered exponential back-off (RelayBackoff: 1 s →
// 60 s) before the next, and so does the first redial after a session ends, so that edges cut
// off together come back spread out. WebSocket pings every `pingInterval`: a relay that answers
// none for two intervals is closed, and with it the local connection (ControllerSession redials).
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// An edge's relay dialling settings.
public struct RelayDialerConfiguration: Sendable {
    /// The relays, `ws://HOST:PORT` or `wss://HOST:PORT` (the path `/v1/relay` is added when missing), in order of preference.
    public var relays: [String]
    /// The relay ticket to present, read at every dial (so a renewed ticket is used from the next one on).
    public var ticket: @Sendable () -> String
    /// TLS towards `wss://` relays (trust roots for the relay's own certificate); nil: the system default.
    public var tls: TLSConfiguration?
    /// Where the loopback listener binds (port 0: any free port, see `RelayDialer.localPort()`).
    public var listen = RelayAddress(host: "127.0.0.1", port: 0)
    /// WebSocket ping period towards the relay; a relay that answers none for two periods is closed.
    public var pingInterval: Duration = .seconds(10)
    /// The redial schedule.
    public var backoff = RelayBackoff()
    /// Waits between rounds (tests inject one that records the delays).
    public var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// Largest WebSocket frame accepted or sent, bytes.
    public var maxFrameBytes = 1 << 20

    /// - Throws: `RelayConfigurationError` for an empty list or a URL that is not ws:// or wss://.
    public init(relays: [String], ticket: @escaping @Sendable () -> String) throws(RelayConfigurationError) {
        guard !relays.isEmpty else { throw RelayConfigurationError(flag: "--relay", "at least one relay URL is needed") }
        self.relays = try relays.map { url throws(RelayConfigurationError) in try Self.sessionURL(url) }
        self.ticket = ticket
    }

    /// `ws[s]://HOST:PORT[/path]` → the URL with the relay path.
    static func sessionURL(_ url: String) throws(RelayConfigurationError) -> String {
        guard url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
            throw RelayConfigurationError(flag: "--relay", "\(url): expected ws://HOST:PORT or wss://HOST:PORT")
        }
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        let afterScheme = base.split(separator: "/", omittingEmptySubsequences: true).dropFirst()
        return afterScheme.count > 1 ? base : base + RelayConfiguration.path
    }
}

/// What the dialer has done, for status and tests.
public struct RelayDialerStatus: Sendable, Equatable {
    /// Dials attempted, by relay URL.
    public var attempts: [String: Int] = [:]
    /// Dials that failed before a session opened, by relay URL.
    public var failures: [String: Int] = [:]
    /// Sessions opened, by relay URL.
    public var opened: [String: Int] = [:]
    /// The relay of the session open now (nil: none).
    public var current: String?
    /// Every back-off wait taken, in order.
    public var waits: [Duration] = []
}

/// The edge-side relay dialer as a Service (run it in the edge's ServiceGroup, next to the session).
public final class RelayDialer: Service, Sendable {
    public let configuration: RelayDialerConfiguration
    let logger: Logger
    private let statusState = Mutex(RelayDialerStatus())
    /// Back-off: the attempt index of the next wait (nil: dial at once), and the relay to try first.
    private let schedule = Mutex<(nextWait: Int?, preferred: Int)>((nil, 0))
    private let port = BoundPort()

    public init(configuration: RelayDialerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// What the dialer has done so far.
    public var status: RelayDialerStatus { statusState.withLock { $0 } }

    /// The loopback port to dial (`https://127.0.0.1:PORT` for ControllerSession), once bound.
    public func localPort() async throws -> Int { try await port.wait() }

    public func run() async throws {
        let listen = configuration.listen
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: listen.host, port: listen.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            resolvePort(.failure(error))
            throw error
        }
        resolvePort(.success(server.channel.localAddress?.port ?? 0))
        let serverChannel = server.channel
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await local in connections {
                        group.addTask { await self.serve(local) }
                    }
                }
            }
        } onGracefulShutdown: {
            serverChannel.close(promise: nil)
        }
    }

    private func resolvePort(_ result: Result<Int, any Error>) { port.settle(result) }

    /// One local connection: rounds over the relays (with back-off between them) until one opens
    /// a session, then bytes both ways until it ends. The local connection then closes.
    func serve(_ local: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let localChannel = local.channel
        defer { localChannel.close(promise: nil) }
        // Whether a session ever opens, the channel is closed through executeThenClose (its writer finished).
        try? await local.executeThenClose { localIn, localOut in
            await self.serve(localChannel, localIn, localOut)
        }
    }

    private func serve(
        _ localChannel: any Channel, _ localIn: NIOAsyncChannelInboundStream<ByteBuffer>,
        _ localOut: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async {
        // A local client that went away while no relay answered is not dialled for again.
        let localClosed = Atomic<Bool>(false)
        localChannel.closeFuture.whenComplete { _ in localClosed.store(true, ordering: .relaxed) }
        while !Task.isCancelled && !localClosed.load(ordering: .relaxed) {
            let wait: Duration? = schedule.withLock { s in
                guard let n = s.nextWait else { return nil }
                return configuration.backoff.delay(attempt: n)
            }
            if let wait {
                statusState.withLock { $0.waits.append(wait) }
                logger.info("relay redial after back-off", metadata: ["wait": "\(wait)"])
                do { try await configuration.sleep(wait) } catch { return }
            }
            let start = schedule.withLock { $0.preferred }
            for step in 0..<configuration.relays.count {
                let index = (start + step) % configuration.relays.count
                let url = configuration.relays[index]
                let outcome = await dial(url: url, index: index, localIn: localIn, localOut: localOut)
                switch outcome {
                case .ended: return
                case .failed(let error):
                    statusState.withLock { $0.failures[url, default: 0] += 1 }
                    logger.warning("relay dial failed", metadata: ["relay": "\(url)", "error": "\(error)"])
                }
            }
            schedule.withLock { s in s.nextWait = s.nextWait.map { $0 + 1 } ?? 0 }
        }
    }

    enum DialOutcome {
        /// A session opened and has ended.
        case ended
        /// No session opened.
        case failed(any Error)
    }

    /// One dial of `url`; once the session opens, splices it with `local` until either ends.
    func dial(
        url: String, index: Int, localIn: NIOAsyncChannelInboundStream<ByteBuffer>, localOut: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async -> DialOutcome {
        statusState.withLock { $0.attempts[url, default: 0] += 1 }
        let opened = Atomic<Bool>(false)
        var configuration = WebSocketClientConfiguration(
            maxFrameSize: self.configuration.maxFrameBytes, closeTimeout: .seconds(2),
            autoPing: .enabled(timePeriod: self.configuration.pingInterval))
        configuration.additionalHeaders[.authorization] = RelayConfiguration.authorizationScheme + " " + self.configuration.ticket()
        do {
            try await WebSocketClient.connect(
                url: url, configuration: configuration, tlsConfiguration: self.configuration.tls, logger: logger
            ) { inbound, outbound, _ in
                opened.store(true, ordering: .relaxed)
                self.sessionOpened(url: url, index: index)
                defer { self.statusState.withLock { $0.current = nil } }
                try await Self.splice(localIn: localIn, localOut: localOut, inbound: inbound, outbound: outbound)
            }
        } catch {
            if !opened.load(ordering: .relaxed) { return .failed(error) }
            logger.info("relay session ended", metadata: ["relay": "\(url)", "error": "\(error)"])
            return .ended
        }
        if !opened.load(ordering: .relaxed) { return .failed(RelayDialError.notOpened) }
        logger.info("relay session ended", metadata: ["relay": "\(url)"])
        return .ended
    }

    private func sessionOpened(url: String, index: Int) {
        // The next dial (after this session ends) waits the first back-off step, and starts here.
        schedule.withLock {
            $0.nextWait = 0
            $0.preferred = index
        }
        statusState.withLock {
            $0.opened[url, default: 0] += 1
            $0.current = url
        }
        logger.info("relay session open", metadata: ["relay": "\(url)"])
    }

    /// Local bytes → binary frames, frames → local bytes, until either side ends.
    static func splice(
        localIn: NIOAsyncChannelInboundStream<ByteBuffer>, localOut: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await buffer in localIn { try await outbound.write(.binary(buffer)) }
            }
            group.addTask {
                for try await frame in inbound {
                    guard frame.opcode != .text else { throw RelayDialError.textFrame }
                    try await localOut.write(frame.data)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// Why a relay dial did not give a session.
public enum RelayDialError: Error, Sendable, Equatable {
    /// The connection ended before the WebSocket upgrade.
    case notOpened
    /// The relay sent a text frame: relays forward bytes only.
    case textFrame
}
