// Gateway.swift — AegisGateway, the cluster's one front door (`aegis gateway`): the TLS cluster
// port in front of the controller's API unix socket.
//
// What it does with a connection:
// - TLS 1.2+ with a server certificate the cluster CA issues in memory at start (the CA is read
//   from `--pki-dir`; while it does not exist yet the gateway waits for it, not ready). Client
//   certificates are optional; one that does not chain to the cluster CA fails the handshake.
// - Every HTTP request is forwarded to `--controller-socket`, request and response bodies streamed
//   (SSE log streams event by event; a response of at most 64 KiB with a Content-Length goes out
//   whole, with its head), hop-by-hop headers dropped, `X-Request-Id`
//   kept when well-formed (≤ 64 of [A-Za-z0-9-_]) or made, and set on the response; one JSON
//   access-log line per request on stdout.
// - `GET /v1/cluster/session` with an upgrade becomes a WebSocket tunnel to the controller's same
//   path: raw bytes both ways after the controller's own 101 (frames, pings and close codes pass
//   untouched); on shutdown the gateway closes it with 1001 "going away".
// - Limits: bodies over `--max-body-bytes` get 413 (at once by Content-Length, or as the streamed
//   body passes it, the upstream request cancelled); 502 when the controller can't be reached, 504
//   when it sends no response head in time; per tenant a token bucket (`--rate`/s, `--burst`) and
//   `--max-concurrent` requests in flight, the join route per client IP; 429 with Retry-After,
//   written after `--refusal-delay` (1 s) so that a client retrying at once floods nobody.
// - A plain-HTTP loopback listener (`--health-listen`) answers /healthz and /readyz; with
//   `--admin-socket` a unix socket answers them too, and GET /metrics with the gateway's series
//   (GatewayMetrics: requests by class and code, time to response head, rejections by reason,
//   sessions, requests in flight, draining) for the metrics sidecar.
// - Shutdown (graceful, a swift-service-lifecycle Service): the listener closes, idle connections
//   close, requests in flight finish within the drain timeout, sessions get 1001.
//
// The identity contract with the controller. The gateway removes every incoming header whose name
// starts with `X-Aegis-Gateway-` (any case) and, when the client presented a certificate that
// chained to the cluster CA in the handshake and passes AegisPKI's node-certificate checks (client
// authentication), adds `X-Aegis-Gateway-Client-Certificate: <base64 of the leaf's DER>`. The
// controller may trust `X-Aegis-Gateway-*` headers only on the unix socket the gateway uses (which
// nothing else may reach) and must ignore them on any other listener; it still verifies the
// certificate itself (role, name pinned to the key) as it does with a TLS peer today.
import AegisMetrics
import AegisPKI
import Foundation
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The gateway: run it in a `ServiceGroup` (or call `run()`); graceful shutdown drains it.
public final class Gateway: Service, Sendable, CustomStringConvertible {
    public let configuration: GatewayConfiguration
    private let ca: ClusterCA?
    private let accessLog: AccessLogSink
    private let logger: Logger
    private let status: GatewayStatus
    /// The gateway's series (served on `configuration.adminSocket`).
    public let metrics: GatewayMetrics

    public var description: String { "Gateway(\(configuration.listen) → \(configuration.controllerSocket))" }

    /// - Parameters:
    ///   - configuration: validated again here.
    ///   - ca: the cluster CA; nil to load it from `configuration.pkiDirectory` (waiting until it exists).
    ///   - accessLog: where the JSON access-log lines go (default: standard output).
    ///   - logger: the gateway's own log.
    ///   - metrics: where the gateway records its series (a new registry by default).
    /// - Throws: `GatewayConfigurationError` naming the flag.
    public init(
        configuration: GatewayConfiguration, ca: ClusterCA? = nil, accessLog: AccessLogSink = .standardOutput,
        logger: Logger = Logger(label: "aegis.gateway"), metrics: GatewayMetrics = GatewayMetrics()
    ) throws(GatewayConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.ca = ca
        self.accessLog = accessLog
        self.logger = logger
        self.metrics = metrics
        self.status = GatewayStatus(adminSocket: configuration.adminSocket != nil)
    }

    /// The TLS and probe ports once both (and the admin socket, when configured) listen (useful
    /// with port 0).
    /// - Throws: `GatewayError` when the gateway failed first.
    public func listeningPorts() async throws -> (cluster: Int, health: Int) {
        let ports = try await status.ports(cluster: true)
        return (ports.cluster ?? 0, ports.health)
    }

    /// The probe port once it listens (before the TLS port, while the gateway waits for the CA).
    /// - Throws: `GatewayError` when the gateway failed first.
    public func probePort() async throws -> Int {
        try await status.ports(cluster: false).health
    }

    /// Serves until graceful shutdown (then drains for at most `configuration.drainTimeout`) or
    /// cancellation.
    /// - Throws: `GatewayError` (a listener that can't bind, a CA that can't be read) with the cause.
    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let upstream = Upstream(
            socketPath: configuration.controllerSocket, headTimeout: configuration.responseHeadTimeout, eventLoopGroup: group)
        let health = ProbePort(configuration: configuration, upstream: upstream, status: status, logger: logger)
        let cluster = ClusterPort(
            configuration: configuration, ca: ca, upstream: upstream, accessLog: accessLog, status: status, metrics: metrics,
            logger: logger)
        // Services stop in reverse order: the admin socket last, so a drain shows in its series.
        var list: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: health), .init(service: cluster)]
        if let path = configuration.adminSocket {
            let admin = AdminSocket(path: path, upstream: upstream, status: status, metrics: metrics, logger: logger)
            list.insert(.init(service: admin), at: 0)
        }
        var services = ServiceGroupConfiguration(services: list, gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        services.maximumGracefulShutdownDuration = configuration.drainTimeout
        do {
            try await withGracefulShutdownHandler {
                try await ServiceGroup(configuration: services).run()
            } onGracefulShutdown: { [status, metrics, logger] in
                status.drain()
                metrics.setDraining(true)
                logger.info("draining: no new connections, requests in flight may finish")
            }
        } catch {
            status.failed("\(error)")
            try? await upstream.client.shutdown()
            throw (error as? GatewayError) ?? GatewayError("gateway: \(error)", underlying: error)
        }
        status.failed("stopped")
        try? await upstream.client.shutdown()
    }
}

/// The plain-HTTP probe port (/healthz, /readyz).
struct ProbePort: Service, CustomStringConvertible {
    let configuration: GatewayConfiguration
    let upstream: Upstream
    let status: GatewayStatus
    let logger: Logger

    var description: String { "ProbePort(\(configuration.healthListen))" }

    func run() async throws {
        let address = configuration.healthListen
        let server = Server(
            childChannelSetup: HTTP1Channel(responder: status.healthResponder(upstream: upstream)),
            configuration: .init(address: .hostname(address.host, port: address.port)),
            onServerRunning: { [status, logger] channel in
                status.healthListening(port: channel.localAddress?.port ?? 0)
                logger.info("probe listener", metadata: ["address": "\(address.host):\(channel.localAddress?.port ?? 0)"])
            }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do { try await server.run() } catch {
            throw GatewayError("listening on --health-listen \(address): \(error)", underlying: error)
        }
    }
}

/// The TLS cluster port: waits for the cluster CA, issues the server certificate, serves.
struct ClusterPort: Service, CustomStringConvertible {
    let configuration: GatewayConfiguration
    let ca: ClusterCA?
    let upstream: Upstream
    let accessLog: AccessLogSink
    let status: GatewayStatus
    let metrics: GatewayMetrics
    let logger: Logger

    var description: String { "ClusterPort(\(configuration.listen))" }

    func run() async throws {
        let ca: ClusterCA
        if let given = self.ca {
            ca = given
        } else if let loaded = try await waitForCA() {
            ca = loaded
        } else {
            return
        }
        let hosts = GatewayTLS.serverHosts(name: configuration.name, listenHost: configuration.listen.host)
        let tls = try GatewayTLS.configuration(ca: ca, name: configuration.name, hosts: hosts)
        let forwarder = Forwarder(
            upstream: upstream, limits: FairLimits(configuration: configuration, upstream: upstream),
            maxBodyBytes: configuration.maxBodyBytes, refusalDelay: configuration.refusalDelay, accessLog: accessLog, metrics: metrics,
            logger: logger)
        let core = GatewayCore(
            upstream: upstream, forwarder: forwarder, verifier: ca.verifier, accessLog: accessLog, idleTimeout: configuration.idleTimeout)
        let server = Server(
            childChannelSetup: try TLSChannel(GatewayChannel(core: core), tlsConfiguration: tls),
            configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port)),
            onServerRunning: { [status, logger, configuration] channel in
                let port = channel.localAddress?.port ?? 0
                status.clusterListening(port: port)
                logger.info(
                    "cluster port (TLS)",
                    metadata: [
                        "address": "\(configuration.listen.host):\(port)", "ca": "\(ca.fingerprint)",
                        "controller": "\(configuration.controllerSocket)",
                    ])
            }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do { try await server.run() } catch {
            throw GatewayError("listening on --listen \(configuration.listen): \(error)", underlying: error)
        }
    }

    /// Polls `--pki-dir` until it holds a CA (the controller creates it on its first start, which
    /// may come after the gateway's); nil when shutdown came first.
    /// - Throws: `GatewayError` when the CA is there but can't be loaded.
    private func waitForCA() async throws -> ClusterCA? {
        let dir = configuration.pkiDirectory
        var logged = false
        while !Task.isCancelled {
            let files = [ClusterCA.certificateFileName, ClusterCA.keyFileName].map { dir + "/" + $0 }
            if files.allSatisfy({ access($0, F_OK) == 0 }) {
                do { return try ClusterCA.load(directory: dir) } catch {
                    throw GatewayError("loading the cluster CA from --pki-dir \(dir): \(error)", underlying: error)
                }
            }
            status.waiting(for: "the cluster CA in \(dir) (the controller creates it on its first start)")
            if !logged { logger.notice("waiting for the cluster CA", metadata: ["dir": "\(dir)"]) }
            logged = true
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.caPollInterval) } } catch { return nil }
        }
        return nil
    }
}
