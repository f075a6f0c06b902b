// NodeRuntime+API.swift — the API servers of a controller or hybrid node: 127.0.0.1:<api-port>,
// the unix socket, and with --listen the cluster port — AegisGateway in process (TLS: the tenant
// API and the workers' sessions) in front of the controller's cluster socket, exactly the front
// door of the controller pod — then the shutdown notice (last started, first stopped). A
// controller in its pod (--socket) serves only its pod socket, behind the pod's gateway.
import AegisAPI
import AegisControl
import AegisGateway
import AegisPKI
import AegisSystem
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

extension NodeRuntime {
    func apiServices() async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let shutdown = ShutdownSignal()
        if let podSocket = configuration.podSocket {
            listeners.expect(["socket " + podSocket])
            return [
                .init(service: try await podSocketServer(path: podSocket, shutdown: shutdown)),
                .init(service: ShutdownNotice(signal: shutdown)),
            ]
        }
        let router = APIServer.router(controller: controller, shutdown: shutdown)
        APIServer.workflowRoutes(router, controller: controller, engine: workflows)
        unlink(paths.socket)
        let portFile = paths.portFile, socket = paths.socket, log = logger, listeners = listeners
        listeners.expect(["api", "socket " + socket] + (configuration.listen == nil ? [] : ["socket " + paths.clusterSocket, "cluster"]))
        let tcp = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: configuration.apiPort), serverName: "aegis"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                log.info("API listening", metadata: ["address": "127.0.0.1:\(port)"])
                listeners.up("api", as: "api 127.0.0.1:\(port)")
            }, logger: Logger(label: "aegis.api"))
        let unix = Application(
            router: router, configuration: .init(address: .unixDomainSocket(path: socket), serverName: "aegis"),
            onServerRunning: { _ in
                chmod(socket, 0o660)
                log.info("API listening", metadata: ["socket": "\(socket)"])
                listeners.up("socket " + socket)
            }, logger: Logger(label: "aegis.api"))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: NamedListener(server: tcp, address: "127.0.0.1:\(configuration.apiPort) (--api-port)")),
            .init(service: NamedListener(server: unix, address: socket)),
        ]
        if let listen = configuration.listen {
            // The controller's own socket behind the gateway first: services stop in reverse, the gateway before it.
            services.append(.init(service: try await podSocketServer(path: paths.clusterSocket, shutdown: shutdown, mode: 0o600)))
            services.append(.init(service: try await clusterGateway(listen: listen, upstream: paths.clusterSocket)))
        }
        // Services stop in reverse order: the notice first, so that every server's open streams end.
        services.append(.init(service: ShutdownNotice(signal: shutdown)))
        return services
    }

    /// The controller's pod socket, its only listener (`aegis controller --socket`): the API and
    /// the workers' sessions as the gateway forwards them (identities from its headers), /metrics
    /// for the sidecar, /healthz and /readyz for probes. The cluster CA is loaded (created on the
    /// first start) before it listens, so that the gateway finds ca.crt.
    /// - Parameter mode: the socket file's mode (0660 in the pod, shared with the sidecars; 0600
    ///   behind the in-process gateway of `aegis up --listen`).
    private func podSocketServer(path: String, shutdown: ShutdownSignal, mode: mode_t = 0o660) async throws -> some Service {
        do { _ = try await controller.clusterAuthority() } catch { throw NodeStartError("\(error)", underlying: error) }
        let router = APIServer.router(controller: controller, shutdown: shutdown, listener: .podSocket)
        APIServer.workflowRoutes(router, controller: controller, engine: workflows)
        unlink(path)
        let controller = controller, log = logger, listeners = listeners
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: NodeSessionServer.configuration) { request, _, logger in
                try await NodeSessionServer.shouldUpgrade(request: request, controller: controller, logger: logger)
            },
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "aegis"),
            onServerRunning: { _ in
                chmod(path, mode)
                log.info("API listening (pod socket)", metadata: ["socket": "\(path)"])
                listeners.up("socket " + path)
            }, logger: Logger(label: "aegis.api"))
    }

    /// The cluster port of `aegis up --listen`: the same gateway as `aegis gateway` in the pod
    /// (AegisGateway: TLS with a server certificate from the controller's own authority, the CA that
    /// join tokens pin; workers' client certificates; per-tenant limits; access log lines at info
    /// under `aegis.access`), forwarding to this node's cluster socket.
    private func clusterGateway(listen: (host: String, port: Int), upstream: String) async throws -> some Service {
        let ca: ClusterCA
        do { ca = try await controller.clusterAuthority().ca } catch { throw NodeStartError("\(error)", underlying: error) }
        var flags = GatewayFlags()
        flags.listen = GatewayConfiguration.Address(host: listen.host, port: listen.port).description
        flags.healthListen = "127.0.0.1:0"
        flags.controllerSocket = upstream
        flags.pkiDir = await controller.pkiDirectory
        flags.name = name
        let gatewayConfiguration: GatewayConfiguration
        do { gatewayConfiguration = try GatewayConfiguration(flags) } catch { throw NodeStartError("--listen: \(error.message)") }
        let access = Logger(label: "aegis.access")
        let gateway: Gateway
        do {
            gateway = try Gateway(
                configuration: gatewayConfiguration, ca: ca, accessLog: AccessLogSink { access.info("\($0)") },
                logger: Logger(label: "aegis.cluster"))
        } catch { throw NodeStartError("--listen: \(error.message)") }
        return ClusterGatewayService(
            gateway: gateway, upstream: upstream, portFile: paths.dataDir + "/cluster.port", fingerprint: ca.fingerprint,
            listeners: listeners, logger: logger)
    }
}

/// Runs the in-process gateway once the controller's cluster socket accepts connections (a worker
/// reconnecting to a restarted node must not get a 502 from a gateway that came up first, and back
/// off), and writes its TLS port to `<data-dir>/cluster.port` once it listens.
struct ClusterGatewayService: Service {
    let gateway: Gateway
    let upstream: String
    let portFile: String
    let fingerprint: String
    let listeners: ListenersUp
    let logger: Logger

    func run() async throws {
        while (try? UnixSocket.probe(upstream)) == nil { try await Task.sleep(for: .milliseconds(5)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await gateway.run() }
            group.addTask {
                let port = try await gateway.listeningPorts().cluster
                try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                listeners.up("cluster", as: "cluster port \(gateway.configuration.listen.host):\(port)")
                logger.info(
                    "cluster listener (TLS)", metadata: ["address": "\(gateway.configuration.listen.host):\(port)", "ca": "\(fingerprint)"])
            }
            try await group.waitForAll()
        }
    }
}

/// The API listeners a node expects and those that are up, by name ("api", "socket PATH",
/// "cluster"); each shown as what it listens on once up.
final class ListenersUp: Sendable {
    private let state = Mutex<(expected: [String], up: [String: String])>(([], [:]))

    func expect(_ names: [String]) { state.withLock { $0.expected = names } }

    /// `name` is up; `shown` is how the status shows it (default: the name).
    func up(_ name: String, as shown: String? = nil) { state.withLock { $0.up[name] = shown ?? name } }

    /// Every expected listener is up (false while none is expected yet).
    var allUp: Bool { state.withLock { s in !s.expected.isEmpty && s.expected.allSatisfy { s.up[$0] != nil } } }

    /// What is up, in the expected order.
    var names: [String] { state.withLock { s in s.expected.compactMap { s.up[$0] } } }
}
