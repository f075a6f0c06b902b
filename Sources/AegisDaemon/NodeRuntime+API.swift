// NodeRuntime+API.swift — the API servers of a controller or hybrid node: 127.0.0.1:<api-port>,
// the unix socket, and with --listen the cluster port (TLS: the tenant API and the workers'
// session upgrade), then the shutdown notice (last started, first stopped). A controller in its
// pod (--socket) serves only its pod socket, behind the gateway.
import AegisAPI
import AegisControl
import AegisPKI
import Foundation
import Hummingbird
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

extension NodeRuntime {
    func apiServices() async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let shutdown = ShutdownSignal()
        if let podSocket = configuration.podSocket {
            return [
                .init(service: try await podSocketServer(path: podSocket, shutdown: shutdown)),
                .init(service: ShutdownNotice(signal: shutdown)),
            ]
        }
        let router = APIServer.router(controller: controller, shutdown: shutdown)
        unlink(paths.socket)
        let portFile = paths.portFile, socket = paths.socket, log = logger
        let tcp = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: configuration.apiPort), serverName: "aegis"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                log.info("API listening", metadata: ["address": "127.0.0.1:\(port)"])
            }, logger: Logger(label: "aegis.api"))
        let unix = Application(
            router: router, configuration: .init(address: .unixDomainSocket(path: socket), serverName: "aegis"),
            onServerRunning: { _ in
                chmod(socket, 0o660)
                log.info("API listening", metadata: ["socket": "\(socket)"])
            }, logger: Logger(label: "aegis.api"))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: tcp), .init(service: unix)]
        if let listen = configuration.listen {
            services.append(.init(service: try await clusterServer(router: router, listen: listen)))
        }
        // Services stop in reverse order: the notice first, so that every server's open streams end.
        services.append(.init(service: ShutdownNotice(signal: shutdown)))
        return services
    }

    /// The controller's pod socket, its only listener (`aegis controller --socket`): the API and
    /// the workers' sessions as the gateway forwards them (identities from its headers), /metrics
    /// for the sidecar, /healthz and /readyz for probes. The cluster CA is loaded (created on the
    /// first start) before it listens, so that the gateway finds ca.crt.
    private func podSocketServer(path: String, shutdown: ShutdownSignal) async throws -> some Service {
        do { _ = try await controller.clusterAuthority() } catch { throw NodeStartError("\(error)", underlying: error) }
        let router = APIServer.router(controller: controller, shutdown: shutdown, listener: .podSocket)
        unlink(path)
        let controller = controller, log = logger
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: NodeSessionServer.configuration) { request, channel, logger in
                try await NodeSessionServer.shouldUpgrade(
                    request: request, channel: channel, controller: controller, logger: logger, listener: .podSocket)
            },
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "aegis"),
            onServerRunning: { _ in
                chmod(path, 0o660)
                log.info("API listening (pod socket)", metadata: ["socket": "\(path)"])
            }, logger: Logger(label: "aegis.api"))
    }

    /// The cluster port: the API over TLS with a server certificate from the controller's own
    /// authority (one load of <data-dir>/pki, the CA that join tokens pin), and the workers' sessions.
    private func clusterServer(router: Router<BasicRequestContext>, listen: (host: String, port: Int)) async throws -> some Service {
        let ca: ClusterCA
        do { ca = try await controller.clusterAuthority().ca } catch { throw NodeStartError("\(error)", underlying: error) }
        let tls = try ClusterListener.tlsConfiguration(ca: ca, hosts: ClusterListener.serverHosts(name: name, listenHost: listen.host))
        let clusterPortFile = paths.dataDir + "/cluster.port"
        let controller = controller, log = logger
        return Application(
            router: router,
            server: try .tls(
                .http1WebSocketUpgrade(configuration: NodeSessionServer.configuration) { request, channel, logger in
                    try await NodeSessionServer.shouldUpgrade(request: request, channel: channel, controller: controller, logger: logger)
                }, tlsConfiguration: tls),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "aegis"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                try? "\(port)\n".write(toFile: clusterPortFile, atomically: true, encoding: .utf8)
                log.info("cluster listener (TLS)", metadata: ["address": "\(listen.host):\(port)", "ca": "\(ca.fingerprint)"])
            }, logger: Logger(label: "aegis.cluster"))
    }
}
