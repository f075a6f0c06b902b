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
import AegisStore
import AegisSystem
import AegisWorkflow
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A controller or hybrid node: start it, then `run` it until a stop (signal, `stop(drain:)`).
public final class NodeRuntime: Sendable {
    public let configuration: NodeConfiguration
    public let store: any ControlStateStore
    /// The node owns its data directory claim and its store (a SQLite node); false for a leader's
    /// term of a replicated controller (ReplicatedController.swift), which owns both across terms.
    let ownsState: Bool
    public let controller: Controller
    /// The workflow engine on this controller (its loop runs as a service of `run`).
    public let workflows: WorkflowEngine
    /// The in-process worker of a hybrid node; nil for a controller.
    public let worker: Worker?
    /// Whether this start wrote a new admin token file (the CLI says so).
    public let adminTokenWritten: Bool
    let logger: Logger
    let events: AsyncStream<WorkerEvent>
    let eventInput: AsyncStream<WorkerEvent>.Continuation
    /// Fired by a stop signal or `stop(drain:)`.
    public let stopLatch = StopLatch()
    /// The API listeners that are up (the node is ready once all are).
    let listeners = ListenersUp()

    var paths: AegisPaths { configuration.paths }
    var name: String { configuration.name }

    private init(
        configuration: NodeConfiguration, store: any ControlStateStore, ownsState: Bool, controller: Controller, worker: Worker?,
        adminTokenWritten: Bool, logger: Logger, events: (AsyncStream<WorkerEvent>, AsyncStream<WorkerEvent>.Continuation)
    ) {
        self.configuration = configuration
        self.store = store
        self.ownsState = ownsState
        self.controller = controller
        self.workflows = WorkflowEngine(controller: controller, store: store, logger: Logger(label: "aegis.workflow"))
        self.worker = worker
        self.adminTokenWritten = adminTokenWritten
        self.logger = logger
        self.events = events.0
        self.eventInput = events.1
    }

    /// Claims the data directory, opens the state, writes the admin token on first start, and
    /// starts the controller. A hybrid node also detects capabilities, starts the worker and
    /// registers it (which re-adopts surviving sandboxes); a controller runs no worker and waits
    /// for remote workers' sessions on the cluster port. A failed start leaves no pid file.
    /// - Throws: `NodeStartError` (with the underlying store, sandbox or PKI error).
    public static func start(_ configuration: NodeConfiguration, logger: Logger) async throws -> NodeRuntime {
        precondition(configuration.role != .worker, "a worker node is a WorkerRuntime")
        let paths = configuration.paths
        try NodeSetup.claimDataDir(paths)
        do {
            return try await startClaimed(configuration, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(paths)
            throw error
        }
    }

    private static func startClaimed(_ configuration: NodeConfiguration, logger: Logger) async throws -> NodeRuntime {
        let store: SQLiteStateStore
        do {
            store = SQLiteStateStore(try ControlStore(path: configuration.paths.database, hasher: SHA256TokenHasher()))
        } catch { throw NodeStartError("cannot open the state in \(configuration.paths.database)", underlying: error) }
        do {
            return try await start(configuration, store: store, ownsState: true, logger: logger)
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// A leader's term of a replicated controller: the controller on the shared datastore, whose
    /// writes the leader epoch fences. The data directory stays claimed and the store open when
    /// the term ends (`run` returns); the caller owns both.
    /// - Throws: `NodeStartError` (a fenced write: the lease was lost meanwhile).
    public static func startTerm(
        _ configuration: NodeConfiguration, store: any ControlStateStore, logger: Logger
    ) async throws
        -> NodeRuntime
    {
        precondition(configuration.role == .controller, "a replicated controller runs no worker")
        return try await start(configuration, store: store, ownsState: false, logger: logger)
    }

    private static func start(
        _ configuration: NodeConfiguration, store: any ControlStateStore, ownsState: Bool, logger: Logger
    ) async throws -> NodeRuntime {
        let c = configuration, paths = configuration.paths
        do { _ = try await store.bootstrap() } catch {
            throw NodeStartError(
                "cannot set up the state in \(store.dataDirectory == nil ? "the datastore" : paths.database)", underlying: error)
        }
        let tokenWritten = try await ensureAdminToken(store, paths: paths, logger: logger)
        let (events, continuation) = AsyncStream<WorkerEvent>.makeStream()
        var worker: Worker?
        var capabilities: NodeCapabilities?
        if c.role == .hybrid {
            let w = try Worker(
                paths: paths, logger: Logger(label: "aegis.worker"), cgroupParent: c.cgroupParent,
                logCapBytes: c.logCapBytes, egress: c.egress,
                outputRetentionSeconds: c.outputRetentionSeconds, images: try NodeSetup.imageStore(paths),
                registryOptions: c.registry, localImageDirectories: c.localImageDirectories,
                imageGC: c.imageGC
            ) { continuation.yield($0) }
            worker = w
            capabilities = await NodeSetup.detect(worker: w, configuration: c, logger: logger)
        }
        let tracker: LeaseTracker
        do { tracker = try LeaseTracker(config: c.leases) } catch { throw NodeStartError("\(error)", underlying: error) }
        let controller = Controller(
            store: store, schedulerConfig: c.scheduler, logger: Logger(label: "aegis.controller"), pkiDirectory: paths.pkiDir,
            leases: tracker,
            nodeCertificateValidity: c.nodeCertificateValiditySeconds, metrics: ControllerMetrics())
        let node = NodeRuntime(
            configuration: c, store: store, ownsState: ownsState, controller: controller, worker: worker,
            adminTokenWritten: tokenWritten,
            logger: logger, events: (events, continuation))
        await controller.trackKnownNodes(except: c.role == .hybrid ? c.name : nil)
        if let worker, let capabilities {
            try await controller.register(
                node: NodeInfo(name: c.name, role: .hybrid, capabilities: capabilities),
                link: LocalWorkerLink(worker: worker))
            NodeSetup.logUp(name: c.name, role: c.role, paths: paths, capabilities: capabilities, worker: worker, logger: logger)
        } else {
            logger.info("node up", metadata: ["name": "\(c.name)", "role": "\(c.role.rawValue)", "data-dir": "\(paths.dataDir)"])
        }
        return node
    }

    /// The admin token file (0600) is written on first start; the store keeps only its hash.
    /// Returns whether it was written now.
    static func ensureAdminToken(_ store: any ControlStateStore, paths: AegisPaths, logger: Logger) async throws -> Bool {
        do {
            if let existing = try? String(contentsOfFile: paths.adminToken, encoding: .utf8),
                case .admin? = try await store.authenticate(token: existing.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return false
            }
        } catch { throw NodeStartError("cannot check the admin token in \(paths.adminToken)", underlying: error) }
        let token: (id: String, secret: String)
        do { token = try await store.createToken(kind: .admin) } catch {
            throw NodeStartError("cannot create the admin token", underlying: error)
        }
        let fd = open(paths.adminToken, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeStartError("cannot write \(paths.adminToken): errno \(errno)", errno: errno) }
        fchmod(fd, 0o600)
        let line = token.secret + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        logger.notice("admin token written", metadata: ["path": "\(paths.adminToken)"])
        return true
    }

    /// Asks the node to stop, as SIGTERM (`drain: false`: agents keep running) or `aegis down`
    /// (`drain: true`: agents are stopped and their final states recorded first) would.
    public func stop(drain: Bool) { stopLatch.fire(.stop(drain: drain)) }

    /// Runs the node's services in one ServiceGroup until a stop: the worker-event pump, the lease
    /// monitor, the output retention sweeper, the restart back-off timer, the API on 127.0.0.1, the unix socket and (with
    /// `listen`) the cluster port. Stopping ends open log streams at once (an `error` event, "node
    /// is shutting down"); requests still running after `shutdownBackstop` are cancelled; then a
    /// draining stop stops the agents; the store is closed last.
    /// - Parameter handleSignals: SIGTERM/SIGINT stop the node (draining with `drainOnExit`),
    ///   SIGUSR2 drains it; false in-process (tests), where `stop(drain:)` does.
    /// - Parameter notifier: the service manager to tell readiness, status and liveness (a
    ///   Type=notify unit); nil outside one.
    /// - Throws: a server's error (its port taken, …), after the node stopped in order.
    public func run(handleSignals: Bool = true, notifier: ServiceNotifier? = nil) async throws {
        let signals = handleSignals ? stopLatch.installSignalHandlers(drainOnTerm: configuration.drainOnExit) : []
        defer { signals.forEach { $0.cancel() } }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: WorkerEventPump(controller: controller, events: events, finish: { [eventInput] in eventInput.finish() })),
            .init(service: LeaseMonitor(controller: controller)),
        ]
        if let worker {
            services.append(.init(service: OutputRetentionSweeper(worker: worker)))
            let (controller, c, name) = (controller, configuration, configuration.name)
            let pulled: @Sendable () async -> Void = {
                let capabilities = await NodeSetup.detect(worker: worker, configuration: c, logger: Logger(label: "aegis.detect"))
                await controller.updateCapabilities(node: name, capabilities)
            }
            services.append(.init(service: ImageStartService(worker: worker, pulled: pulled)))
            services.append(.init(service: AgentDrainService(latch: stopLatch) { [self] in await self.drainAgents(worker) }))
        }
        services.append(.init(service: RestartBackoffTimer(controller: controller)))
        services.append(.init(service: WorkflowService(engine: workflows)))
        services.append(APIServersService(services: try await apiServices(), backstop: Self.shutdownBackstop, logger: logger).configuration)
        services.append(StopRequestService(latch: stopLatch).configuration)
        if let notifier {
            // Last in the list, so the first to hear of a stop (STOPPING=1).
            services.append(
                .init(service: ServiceManagerNotifier(notifier: notifier, probe: healthProbe(), readyAnywayAfter: nil, logger: logger)))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        unlink(paths.socket)
        if let podSocket = configuration.podSocket { unlink(podSocket) }
        if configuration.listen != nil { unlink(paths.clusterSocket) }
        unlink(paths.dataDir + "/cluster.port")
        guard ownsState else {
            logger.info("leader term ended")
            if let failure { throw failure }
            return
        }
        try? await store.close()
        NodeSetup.releaseDataDir(paths)
        logger.info("node stopped", metadata: ["agents": "\(stopLatch.drains && worker != nil ? "stopped" : "left running")"])
        if let failure { throw failure }
    }

    /// Ready once every API listener is up; STATUS: `statusLine()`.
    func healthProbe() -> NodeHealthProbe {
        NodeHealthProbe(ready: { [self] in listeners.allUp ? await statusLine() : nil }, status: { [self] in await statusLine() })
    }

    /// The STATUS line: role and name, `standing` when given (a replicated controller's "leader
    /// (epoch 7)"), the controller's own readiness (an actor call and a store read), the
    /// listeners, the agents of a hybrid node. E.g. "hybrid n1: serving (api …, socket …); agents
    /// running: 2".
    func statusLine(standing: String? = nil) async -> String {
        let reasons = await controller.notReadyReasons()
        var line = "\(configuration.role.rawValue) \(name): " + (standing.map { $0 + "; " } ?? "")
        line += reasons.isEmpty ? "serving" : "not ready: " + reasons.joined(separator: "; ")
        line += " (" + listeners.names.joined(separator: ", ") + ")"
        if let worker { line += "; agents running: \(worker.runningSandboxes)" }
        return line
    }

    /// Stops every agent and waits until their final states are recorded; removes the egress
    /// network when nothing of ours is left on it.
    func drainAgents(_ worker: Worker) async {
        logger.info("stopping agents")
        for w in await controller.activeWorkloads(node: name) {
            worker.cancel(workloadID: w.id, generation: w.generation)
        }
        await worker.stopAll()
        for _ in 0..<200 where await !controller.activeWorkloads(node: name).isEmpty {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if let egress = worker.egress, egress.attached.isEmpty { egress.teardown() }
    }
}

extension NodeRuntime {
    /// How long the API servers may take to close their connections once stopping began; then the
    /// requests still running (a `node drain` waiting for agents, …) are cancelled.
    public static let shutdownBackstop: Duration = .milliseconds(700)
}
