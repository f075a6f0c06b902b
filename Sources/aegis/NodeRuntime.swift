// NodeRuntime.swift — a controller (store, scheduler, leases, API, the cluster port where remote
// workers open their sessions) and, in a hybrid node, a worker in the same process (capability
// detection, sandboxes) joined to it by an in-process WorkerLink. A worker-only node is
// WorkerRuntime.swift.
import AegisAPI
import AegisControl
import AegisMetrics
import AegisNet
import AegisNode
import AegisPKI
import AegisProtocol
import AegisScheduler
import HummingbirdWebSocket
import AegisStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The in-process link from the controller to the local worker.
struct LocalWorkerLink: WorkerLink {
    let worker: Worker
    /// Sandbox creation blocks (fork, namespaces, mounts): it runs here, off the controller's tasks
    /// and the API's requests (a submission or a shutdown never waits for one; a create that never
    /// returns holds one thread of this queue, not the node), as a remote worker's does; its
    /// outcome comes back as a worker event.
    static let launches = DispatchQueue(label: "aegis.worker.launch", attributes: .concurrent)

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        let worker = worker
        Self.launches.async { worker.start(Assignment(workload: workload, uid: uid, gpus: gpus)) }
    }
    func cancel(id: String, generation: Int64) async { worker.cancel(workloadID: id, generation: generation) }
    func release(id: String, generation: Int64) async { worker.release(workloadID: id, generation: generation) }
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? {
        worker.readLog(workloadID: id, stream: stream, offset: offset, maxBytes: maxBytes).map { LogChunk(bytes: $0.bytes, start: $0.start, size: $0.size) }
    }
    func outputs(id: String, outputDir: String) async -> [String] { worker.outputs(workloadID: id, outputDir: outputDir) }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] {
        try worker.readOutput(workloadID: id, outputDir: outputDir, path: path)
    }
    func reconcile(active: [(id: String, generation: Int64)]) async { worker.reconcile(active: active) }
}

final class NodeRuntime: Sendable {
    let paths: AegisPaths
    let name: String
    let role: AegisProtocol.NodeRole
    let store: ControlStore
    let controller: Controller
    /// The in-process worker of a hybrid node; nil for a controller.
    let worker: Worker?
    let logger: Logger
    let apiPort: Int
    let events: AsyncStream<WorkerEvent>

    private init(paths: AegisPaths, name: String, role: AegisProtocol.NodeRole, store: ControlStore, controller: Controller, worker: Worker?,
                 logger: Logger, apiPort: Int, events: AsyncStream<WorkerEvent>) {
        self.paths = paths
        self.name = name
        self.role = role
        self.store = store
        self.controller = controller
        self.worker = worker
        self.logger = logger
        self.apiPort = apiPort
        self.events = events
    }

    /// Opens the state, writes the admin token on first start, and starts the controller with its
    /// lease monitor. A hybrid node also detects capabilities, starts the worker and registers it
    /// (which re-adopts surviving sandboxes); a controller runs no worker and waits for remote
    /// workers' sessions on the cluster port.
    static func start(role: AegisProtocol.NodeRole, paths: AegisPaths, name: String, apiPort: Int, labels: [String: String],
                      allowUnenforcedLimits: Bool, cgroupParent: String?, egress: EgressConfig?, scheduler: SchedulerConfig,
                      leases: LeaseConfig, detectRoot: String?, nodeCertificateValidity: Double? = nil,
                      logCapBytes: Int = Worker.defaultLogCapBytes,
                      outputRetentionSeconds: Int64 = Worker.defaultOutputRetentionSeconds, logger: Logger) async throws -> NodeRuntime {
        try NodeSetup.claimDataDir(paths)
        let store = try ControlStore(path: paths.database, hasher: SHA256TokenHasher())
        _ = try store.bootstrap()
        try ensureAdminToken(store, paths: paths, logger: logger)

        let (events, continuation) = AsyncStream<WorkerEvent>.makeStream()
        var worker: Worker?
        var capabilities: NodeCapabilities?
        if role == .hybrid {
            let w = try Worker(paths: paths, logger: Logger(label: "aegis.worker"), cgroupParent: cgroupParent,
                               logCapBytes: logCapBytes, egress: egress, outputRetentionSeconds: outputRetentionSeconds) { continuation.yield($0) }
            worker = w
            capabilities = await NodeSetup.detect(worker: w, labels: labels, allowUnenforcedLimits: allowUnenforcedLimits,
                                                  detectRoot: detectRoot, logger: logger)
        }
        let tracker: LeaseTracker
        do { tracker = try LeaseTracker(config: leases) } catch { throw NodeStartError("\(error)") }
        let controller = Controller(store: store, schedulerConfig: scheduler, logger: Logger(label: "aegis.controller"), leases: tracker,
                                    nodeCertificateValidity: nodeCertificateValidity)
        let node = NodeRuntime(paths: paths, name: name, role: role, store: store, controller: controller, worker: worker,
                               logger: logger, apiPort: apiPort, events: events)
        await controller.trackKnownNodes(except: role == .hybrid ? name : nil)
        if let worker, let capabilities {
            try await controller.register(node: NodeInfo(name: name, role: .hybrid, capabilities: capabilities),
                                          link: LocalWorkerLink(worker: worker))
            NodeSetup.logUp(name: name, role: role, paths: paths, capabilities: capabilities, worker: worker, logger: logger)
        } else {
            logger.info("node up", metadata: ["name": "\(name)", "role": "\(role.rawValue)", "data-dir": "\(paths.dataDir)"])
        }
        return node
    }

    /// The admin token file (0600) is written on first start; the store keeps only its hash.
    static func ensureAdminToken(_ store: ControlStore, paths: AegisPaths, logger: Logger) throws {
        if let existing = try? String(contentsOfFile: paths.adminToken, encoding: .utf8),
           case .admin? = try store.authenticate(token: existing.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return
        }
        let token = try store.createToken(kind: .admin)
        let fd = open(paths.adminToken, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeStartError("cannot write \(paths.adminToken): errno \(errno)") }
        fchmod(fd, 0o600)
        let line = token.secret + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        logger.notice("admin token written", metadata: ["path": "\(paths.adminToken)"])
        print("aegis: admin token written to \(paths.adminToken)")
    }

    /// Serves the API on 127.0.0.1, on the unix socket and (with `listen`) over TLS on the cluster
    /// port until SIGTERM/SIGINT (agents keep running) or SIGUSR2 (`aegis down`: agents are
    /// stopped and recorded first). Stopping ends open log streams at once (an `error` event,
    /// "node is shutting down"); requests still running after `shutdownBackstop` are cancelled.
    func run(drainOnExit: Bool, listen: (host: String, port: Int)? = nil) async throws {
        // Worker events are handled one at a time, in order, until the node has stopped its agents
        // (the pump outlives the service group; it is cancelled when this function returns).
        async let pumping: Void = WorkerEventPump(controller: controller, events: events).pump()
        let shutdown = ShutdownSignal()
        let router = APIServer.router(controller: controller, metrics: { NodeMetrics.shared.render() }, shutdown: shutdown)
        unlink(paths.socket)
        let portFile = paths.portFile, socket = paths.socket, log = logger
        let tcp = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: apiPort), serverName: "aegis"),
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
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: tcp), .init(service: unix),
                                                                          .init(service: RestartBackoffTimer(controller: controller)),
                                                                          .init(service: LeaseMonitor(controller: controller))]
        if let listen {
            // The controller's own authority: one load of <data-dir>/pki, the CA that join tokens pin.
            let ca: ClusterCA
            do { ca = try await controller.clusterAuthority().ca } catch { throw NodeStartError("\(error)") }
            let tls = try ClusterListener.tlsConfiguration(ca: ca, hosts: ClusterListener.serverHosts(name: name, listenHost: listen.host))
            let clusterPortFile = paths.dataDir + "/cluster.port"
            let controller = controller
            let cluster = Application(
                router: router,
                server: try .tls(.http1WebSocketUpgrade(configuration: NodeSessionServer.configuration) { request, channel, logger in
                    try await NodeSessionServer.shouldUpgrade(request: request, channel: channel, controller: controller, logger: logger)
                }, tlsConfiguration: tls),
                configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "aegis"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    try? "\(port)\n".write(toFile: clusterPortFile, atomically: true, encoding: .utf8)
                    log.info("cluster listener (TLS)", metadata: ["address": "\(listen.host):\(port)", "ca": "\(ca.fingerprint)"])
                }, logger: Logger(label: "aegis.cluster"))
            services.append(.init(service: cluster))
        }
        if let worker { services.append(.init(service: OutputRetentionSweeper(worker: worker))) }
        // Services stop in reverse order: the notice first, so that every server's open streams end.
        services.append(.init(service: ShutdownNotice(signal: shutdown)))
        var config = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = Self.shutdownBackstop
        let group = ServiceGroup(configuration: config)
        let drain = DrainFlag(drainOnExit)
        signal(SIGUSR2, SIG_IGN)
        let usr2 = DispatchSource.makeSignalSource(signal: SIGUSR2)
        usr2.setEventHandler {
            drain.set()
            Task { await group.triggerGracefulShutdown() }
        }
        usr2.resume()
        var failure: (any Error)?
        do { try await group.run() } catch is CancellationError {
            // A request outlived the backstop and was cancelled: the node still stops in order.
            logger.warning("API servers stopped: a request was cancelled at the shutdown backstop")
        } catch {
            // A server could not run (its port taken, …): stop in order, then fail the start.
            logger.error("API servers stopped with an error", metadata: ["error": "\(error)"])
            failure = error
        }
        if drain.value, let worker {
            await drainAgents(worker)
            if let egress = worker.egress, egress.attached.isEmpty { egress.teardown() }  // nothing of ours left on the host
        }
        try? store.close()
        unlink(paths.socket)
        unlink(paths.pidFile)
        unlink(paths.dataDir + "/cluster.port")
        logger.info("node stopped", metadata: ["agents": "\(drain.value ? "stopped" : "left running")"])
        if let failure { throw failure }
    }

    /// Stops every agent and waits until their final states are recorded.
    func drainAgents(_ worker: Worker) async {
        logger.info("stopping agents")
        for w in await controller.activeWorkloads(node: name) {
            worker.cancel(workloadID: w.id, generation: w.generation)
        }
        await worker.stopAll()
        for _ in 0..<200 where await !controller.activeWorkloads(node: name).isEmpty {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension NodeRuntime {
    /// How long the API servers may take to close their connections once stopping began; then the
    /// requests still running (a `node drain` waiting for agents, …) are cancelled.
    static let shutdownBackstop: Duration = .milliseconds(700)
}

/// The first service to stop: marks the node as stopping, which ends every open log stream.
struct ShutdownNotice: Service {
    let signal: ShutdownSignal

    func run() async throws {
        try? await gracefulShutdown()
        signal.begin()
    }
}

final class DrainFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag: Bool
    init(_ v: Bool) { flag = v }
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

struct NodeStartError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
