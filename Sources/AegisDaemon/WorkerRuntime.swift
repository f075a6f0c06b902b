// WorkerRuntime.swift — `aegis up --role worker`: a pure execution host. It joins the cluster on
// first start (token → node key, CSR, certificate in <data-dir>/identity), then keeps one outbound
// mutual-TLS session to the controller (AegisNodeLink) and serves no API. Its agents' supervisors
// fence themselves when its lease lapses: the lease file is refreshed only when the controller
// acknowledges a renewal.
import AegisClient
import AegisNet
import AegisNode
import AegisNodeLink
import AegisPKI
import AegisProtocol
import AegisSystem
import Foundation
import Logging
import ServiceLifecycle

/// A worker node: start it, then `run` it until a stop or a session that ended for good.
public final class WorkerRuntime: Sendable {
    public let configuration: NodeConfiguration
    public let worker: Worker
    public let session: ControllerSession
    let logger: Logger
    /// Fired by a stop signal, `stop(drain:)`, or a session that ended for good.
    public let stopLatch = StopLatch()
    /// How often capabilities are detected again (a change goes with the next renewal).
    static let redetectEvery: Duration = .seconds(60)

    var paths: AegisPaths { configuration.paths }

    private init(configuration: NodeConfiguration, worker: Worker, session: ControllerSession, logger: Logger) {
        self.configuration = configuration
        self.worker = worker
        self.session = session
        self.logger = logger
    }

    /// Joins if the data dir holds no identity yet (or with `rejoin`), starts the worker
    /// (re-adopting surviving sandboxes once the controller says which placements are still this
    /// node's) and the session. A failed start leaves no pid file.
    /// - Throws: `NodeStartError` / `JoinClientError` naming the step that failed.
    public static func start(_ configuration: NodeConfiguration, logger: Logger) async throws -> WorkerRuntime {
        let servers = configuration.joinURLs
        guard configuration.role == .worker, !servers.isEmpty else {
            throw NodeStartError("--role worker needs --join https://HOST:PORT (the controller's cluster port)")
        }
        let paths = configuration.paths, name = configuration.name, dir = paths.identityDir
        let joined = access(dir + "/" + NodeIdentity.certificateFileName, F_OK) == 0 && !configuration.rejoin
        if !joined, configuration.joinToken?.isEmpty ?? true {
            throw NodeStartError(
                "node \(name) has not joined a cluster yet (no \(dir)/\(NodeIdentity.certificateFileName)): pass --token with a join token (`aegis token create --role worker` on the controller)"
            )
        }
        try NodeSetup.claimDataDir(paths)
        do {
            return try await startClaimed(configuration, servers: servers, token: joined ? nil : configuration.joinToken, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(paths)  // a failed start leaves no pid file behind
            throw error
        }
    }

    private static func startClaimed(
        _ c: NodeConfiguration, servers: [String], token: String?, logger: Logger
    ) async throws
        -> WorkerRuntime
    {
        let paths = c.paths, dir = paths.identityDir
        if let token { try await join(servers: servers, token: token, configuration: c, logger: logger) }
        guard case .ready = try NodeIdentity.loadOrCreate(directory: dir, nodeName: c.name) else {
            throw NodeStartError("\(dir) holds a node key but no certificate (an interrupted join): run again with --token")
        }
        let sink = EventSink()
        let lease = WorkerLease(paths: paths, graceMs: c.leaseGraceMs, automatic: false)
        let worker = try Worker(
            paths: paths, logger: Logger(label: "aegis.worker"), cgroupParent: c.cgroupParent,
            logCapBytes: c.logCapBytes, egress: c.egress, lease: lease,
            outputRetentionSeconds: c.outputRetentionSeconds, images: try NodeSetup.imageStore(paths), registryOptions: c.registry,
            localImageDirectories: c.localImageDirectories,
            imageGC: c.imageGC
        ) { sink.send($0) }
        let capabilities = await NodeSetup.detect(worker: worker, configuration: c, logger: logger)
        let session = try ControllerSession(
            servers: servers, identityDir: dir, agent: worker,
            node: NodeInfo(name: c.name, role: .worker, capabilities: capabilities),
            renewEveryMs: c.renewEveryMs, logger: Logger(label: "aegis.session"))
        sink.attach(session)
        NodeSetup.logUp(name: c.name, role: .worker, paths: paths, capabilities: capabilities, worker: worker, logger: logger)
        return WorkerRuntime(configuration: c, worker: worker, session: session, logger: logger)
    }

    /// Joins through the first controller of `servers` that completes it (a standby of replicated
    /// controllers serves no cluster port: the next is tried); the last failure is thrown.
    private static func join(servers: [String], token: String, configuration c: NodeConfiguration, logger: Logger) async throws {
        var lastError: (any Error)?
        for server in servers {
            do {
                let outcome = try await JoinClient.join(
                    transport: try PinnedJoinTransport(server: server), token: token,
                    nodeName: c.name, role: .worker, directory: c.paths.identityDir)
                logger.notice(
                    "joined the cluster",
                    metadata: ["node": "\(c.name)", "via": "\(server)", "ca": "\(outcome.caFingerprint)", "serial": "\(outcome.serial)"])
                return
            } catch let e as JoinClientError where e.step == .fetchCA && servers.count > 1 {
                logger.warning("join failed, trying the next controller", metadata: ["url": "\(server)", "error": "\(e)"])
                lastError = e
            }
        }
        if let lastError { throw lastError }
    }

    /// Asks the worker to stop: agents keep running (their supervisors fence them if no worker
    /// renews the lease within the grace), or with `drain` are stopped and their exits reported first.
    public func stop(drain: Bool) { stopLatch.fire(.stop(drain: drain)) }

    /// Runs the session and the capability re-detection in one ServiceGroup until a stop
    /// (SIGTERM/SIGINT, SIGUSR2 = drain, `stop(drain:)`) or the session ends for good.
    /// - Throws: the `SessionError` that ended the session for good (the process should fail).
    /// - Parameter notifier: the service manager to tell readiness, status and liveness (a
    ///   Type=notify unit); nil outside one.
    public func run(handleSignals: Bool = true, notifier: ServiceNotifier? = nil) async throws {
        let signals = handleSignals ? stopLatch.installSignalHandlers(drainOnTerm: false) : []
        defer { signals.forEach { $0.cancel() } }
        let quiet = Logger(label: "aegis.detect"), worker = worker, c = configuration
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            ControllerSessionService(session: session, latch: stopLatch).configuration,
            .init(service: OutputRetentionSweeper(worker: worker)),
            .init(
                service: CapabilityRedetection(session: session, period: Self.redetectEvery) {
                    await NodeSetup.detect(worker: worker, configuration: c, logger: quiet)
                }),
            .init(
                service: ImageStartService(worker: worker) { [session] in
                    session.capabilitiesDetected(await NodeSetup.detect(worker: worker, configuration: c, logger: quiet))
                }),
            // Stops the agents while the session still runs, so their exits reach the controller.
            .init(service: AgentDrainService(latch: stopLatch) { [self] in await self.drainAgents() }),
            StopRequestService(latch: stopLatch).configuration,
        ]
        if let notifier {
            // Last in the list, so the first to hear of a stop (STOPPING=1).
            services.append(
                .init(
                    service: ServiceManagerNotifier(
                        notifier: notifier, probe: healthProbe(), readyAnywayAfter: Self.readyWithoutControllerAfter, logger: logger)))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        NodeSetup.releaseDataDir(paths)
        logger.info("node stopped", metadata: ["agents": "\(stopLatch.drains ? "stopped" : "left running")"])
        if case .sessionEnded(let e)? = stopLatch.reason { throw e }
        if let failure { throw failure }
    }

    /// READY=1 without a welcome after this long: the agents run meanwhile, the session keeps
    /// trying, and STATUS says that the controller is unreachable.
    static let readyWithoutControllerAfter: Duration = .seconds(30)

    /// Ready once the first welcome is reconciled; STATUS: session, lease, agents.
    func healthProbe() -> NodeHealthProbe {
        let session = session, worker = worker, name = configuration.name
        let status: @Sendable () async -> String? = {
            if session.isStalled { return nil }  // connected, yet no acknowledgement for too long
            let agents = "agents running: \(worker.runningSandboxes)"
            guard session.isConnected else {
                return "worker \(name): controller \(session.url) unreachable, reconnecting; \(agents)"
            }
            let ack = ContinuousClock.now - session.lastAcknowledgement
            let seconds = Double(ack.components.seconds) + Double(ack.components.attoseconds) / 1e18
            return "worker \(name): joined \(session.url); lease renewed \(String(format: "%.1f", seconds)) s ago; \(agents)"
        }
        return NodeHealthProbe(
            ready: { session.welcomesReconciled.load(ordering: .relaxed) > 0 ? await status() : nil }, status: status)
    }

    /// Stops every agent as evicted (placed again by their restart policy) and gives their exit
    /// events half a second to reach the controller.
    func drainAgents() async {
        logger.info("stopping agents")
        await worker.stopAll(evict: true)
        try? await Task.sleep(for: .milliseconds(500))
        if let egress = worker.egress, egress.attached.isEmpty { egress.teardown() }
    }
}
