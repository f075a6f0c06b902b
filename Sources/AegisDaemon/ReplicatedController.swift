// ReplicatedController.swift — `aegis up --role controller --datastore postgres://…`: one of
// several controllers on one PostgreSQL, of which the leader acts. The leader lease
// (AegisStorePostgres LeaderLease) decides; this runtime follows it through terms:
// - standby: the API listeners answer /healthz, and 503 with the leader's name to everything else
//   (StandbyRoutes in AegisAPI); no cluster port, so workers try the next controller they know;
// - leader (epoch E): a NodeRuntime term on the shared store — bootstrap, admin token, the
//   controller giving every known worker the full grace before calling it Down (as after a
//   restart), scheduling, the lease monitor, the API and the cluster port — every write fenced by E;
// - lease lost (refused renewal, or no renewal acknowledged for a whole lease): the term stops
//   (listeners closed, workers' sessions end) and the controller is a standby again. It never
//   exits for it: no crash loop; `/readyz` and the log say why.
import AegisAPI
import AegisControl
import AegisStore
import AegisStorePostgres
import AegisSystem
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

public final class ReplicatedController: Sendable {
    public let configuration: NodeConfiguration
    public let store: PostgresStateStore
    public let lease: LeaderLease
    public let stopLatch = StopLatch()
    let logger: Logger
    let changes: AsyncStream<Leadership>
    let changeInput: AsyncStream<Leadership>.Continuation
    /// The current leader term (nil while standby), for tests and status.
    let currentTerm = Mutex<NodeRuntime?>(nil)
    /// Terms this process has led (tests).
    public let termsLed = Atomic<Int>(0)

    private init(
        configuration: NodeConfiguration, store: PostgresStateStore, lease: LeaderLease, logger: Logger,
        changes: (AsyncStream<Leadership>, AsyncStream<Leadership>.Continuation)
    ) {
        self.configuration = configuration
        self.store = store
        self.lease = lease
        self.logger = logger
        self.changes = changes.0
        self.changeInput = changes.1
    }

    /// The leader's node runtime while this controller leads.
    public var term: NodeRuntime? { currentTerm.withLock { $0 } }

    /// Claims the data directory and opens the datastore as a standby (every write refused until
    /// the lease is won). While PostgreSQL can't be reached it keeps trying (every 2 s, saying so
    /// in the log) instead of exiting; a refusal by the server (a wrong password, no such
    /// database) ends the start at once.
    /// - Throws: `NodeStartError` naming the step (data directory, datastore).
    public static func start(
        _ configuration: NodeConfiguration, datastore: PostgresDatastore, logger: Logger
    ) async throws
        -> ReplicatedController
    {
        precondition(configuration.role == .controller && configuration.datastore.isReplicated)
        let paths = configuration.paths
        try NodeSetup.claimDataDir(paths)
        let fence = WriteFence(.standby)
        let store: PostgresStateStore
        let client: PostgresClient.Configuration
        do {
            client = try datastore.clientConfiguration()
            store = try await open(datastore, fence: fence, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(paths)
            throw NodeStartError("cannot open the datastore \(datastore)", underlying: error)
        }
        let (stream, input) = AsyncStream<Leadership>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let holder = "\(configuration.name)/\(getpid())/\(Hex.lowercase(randomBytes(3)))"
        let lease = LeaderLease(
            configuration: client, holder: holder, terms: configuration.leaderTerms, fence: fence,
            logger: Logger(label: "aegis.leader")
        ) { input.yield($0) }
        logger.info("replicated controller up (standby until it wins the leader lease)", metadata: ["holder": "\(holder)"])
        return ReplicatedController(configuration: configuration, store: store, lease: lease, logger: logger, changes: (stream, input))
    }

    /// `start` with the datastore of `configuration` (`--datastore`, `--datastore-password-file`,
    /// PGPASSWORD). - Throws: `NodeStartError` naming `--datastore` when the URL can't be used.
    public static func start(_ configuration: NodeConfiguration, logger: Logger) async throws -> ReplicatedController {
        guard case .postgres(let url, let passwordFile) = configuration.datastore else {
            throw NodeStartError("--datastore: not a PostgreSQL datastore")
        }
        let datastore: PostgresDatastore
        do { datastore = try PostgresDatastore(url: url, passwordFile: passwordFile) } catch {
            throw NodeStartError("--datastore: \(error)", underlying: error)
        }
        return try await start(configuration, datastore: datastore, logger: logger)
    }

    /// Opens the store, retrying while the server is unreachable.
    private static func open(_ datastore: PostgresDatastore, fence: WriteFence, logger: Logger) async throws -> PostgresStateStore {
        while true {
            do {
                return try await PostgresStateStore(
                    datastore: datastore, hasher: SHA256TokenHasher(), fence: fence, logger: Logger(label: "aegis.store"))
            } catch let e as StoreError where e.kind == .unreachable {
                logger.warning("the datastore is unreachable; retrying in 2 s", metadata: ["error": "\(e)"])
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    public func stop() { stopLatch.fire(.stop(drain: false)) }

    /// Runs the lease and the terms until a stop (signal, `stop()`); a leader releases the lease
    /// on the way out, so a standby takes over without waiting out the term.
    /// - Parameter notifier: the service manager (a Type=notify unit): READY=1 once the first
    ///   election round ended (leading or standing by), STATUS with the standing, WATCHDOG=1
    ///   while the election loop goes round and, when leading, the controller answers.
    public func run(handleSignals: Bool = true, notifier: ServiceNotifier? = nil) async throws {
        let signals = handleSignals ? stopLatch.installSignalHandlers(drainOnTerm: false) : []
        defer { signals.forEach { $0.cancel() } }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: lease),
            .init(service: LeaderTermDriver(owner: self)),
            StopRequestService(latch: stopLatch).configuration,
        ]
        if let notifier {
            services.append(
                .init(service: ServiceManagerNotifier(notifier: notifier, probe: healthProbe(), readyAnywayAfter: nil, logger: logger)))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        try? await store.close()
        NodeSetup.releaseDataDir(configuration.paths)
        logger.info("replicated controller stopped")
        if let failure { throw failure }
    }

    func healthProbe() -> NodeHealthProbe {
        let status: @Sendable () async -> String? = { [self] in
            guard lease.sinceLastRound <= configuration.leaderTerms.lease + configuration.leaderTerms.renewEvery else { return nil }
            switch lease.leadership {
            case .leading(let epoch):
                guard let term else { return "controller \(configuration.name): leader (epoch \(epoch)), starting" }
                return await term.statusLine(standing: "leader (epoch \(epoch))")
            case .standby(_, let reason):
                return "controller \(configuration.name): standby: \(reason)"
            }
        }
        return NodeHealthProbe(ready: { [lease] in lease.isDecided ? await status() : nil }, status: status)
    }

    /// Why this controller is not the leader and who is, for the standby's answers.
    var standing: (reason: String, leader: String?) {
        switch lease.leadership {
        case .leading(let epoch): return ("taking over as the leader (epoch \(epoch))", nil)
        case .standby(let leader, let reason): return (reason, leader)
        }
    }
}

/// Follows the lease: a standby phase (health-only listeners) or a leader term (a NodeRuntime),
/// switched at each change; stops the running one on shutdown.
struct LeaderTermDriver: Service {
    let owner: ReplicatedController

    enum Phase {
        /// `stop` begins the listeners' graceful shutdown; `done` ends once they closed.
        case standby(stop: @Sendable () async -> Void, done: Task<Void, Never>)
        case leader(epoch: Int64, done: Task<Void, Never>)
    }

    /// Whether `change` needs another phase than the running one (a new epoch is a new term).
    static func differs(_ phase: Phase?, _ change: Leadership) -> Bool {
        switch (phase, change) {
        case (.standby?, .standby): return false
        case (.leader(let running, _)?, .leading(let epoch)): return running != epoch
        default: return true
        }
    }

    func run() async {
        var phase: Phase?
        await withGracefulShutdownHandler {
            phase = startPhase(for: owner.lease.leadership)
            for await change in owner.changes {
                if Task.isShuttingDownGracefully { break }
                guard Self.differs(phase, change) else { continue }
                await stop(phase)
                phase = startPhase(for: change)
            }
        } onGracefulShutdown: { [owner] in
            owner.changeInput.finish()
        }
        await stop(phase)
    }

    private func startPhase(for leadership: Leadership) -> Phase {
        switch leadership {
        case .standby: return startStandby()
        case .leading(let epoch):
            let (owner, logger) = (owner, owner.logger)
            // A term that fails to start or ends by itself (a store call timed out, a listener
            // failed) while the lease is still this epoch's is started again: a leader that holds
            // the lease must serve, or nobody does until it expires.
            let done = Task {
                while !Task.isCancelled {
                    do {
                        let node = try await NodeRuntime.startTerm(owner.configuration, store: owner.store, logger: logger)
                        owner.currentTerm.withLock { $0 = node }
                        owner.termsLed.add(1, ordering: .relaxed)
                        logger.notice("leading: the controller is serving", metadata: ["epoch": "\(epoch)"])
                        if Task.isCancelled { node.stop(drain: false) }
                        try await node.run(handleSignals: false)
                    } catch {
                        logger.error("leader term ended with an error", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
                    }
                    owner.currentTerm.withLock { $0 = nil }
                    guard !Task.isCancelled, owner.lease.leadership == .leading(epoch: epoch) else { break }
                    logger.warning("the leader term ended while this controller still leads: starting it again in 1 s")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            return .leader(
                epoch: epoch,
                done: Task {
                    await withTaskCancellationHandler {
                        await done.value
                    } onCancel: {
                        done.cancel()  // a term still starting stops once started
                        owner.currentTerm.withLock { $0 }?.stop(drain: false)
                    }
                })
        }
    }

    private func stop(_ phase: Phase?) async {
        switch phase {
        case .standby(let stopServers, let done)?:
            await stopServers()
            await done.value
        case .leader(_, let done)?:
            done.cancel()
            await done.value
        case nil: return
        }
    }

    /// The API port and unix socket (or the pod socket) answering as a standby.
    private func startStandby() -> Phase {
        let c = owner.configuration, logger = owner.logger, owner = owner
        let router = APIServer.standbyRouter { owner.standing }
        var servers: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let podSocket = c.podSocket {
            unlink(podSocket)
            servers.append(
                .init(
                    service: Application(
                        router: router, configuration: .init(address: .unixDomainSocket(path: podSocket), serverName: "aegis"),
                        onServerRunning: { _ in chmod(podSocket, 0o660) }, logger: Logger(label: "aegis.api"))))
        } else {
            let portFile = c.paths.portFile, socket = c.paths.socket
            unlink(socket)
            servers.append(
                .init(
                    service: Application(
                        router: router, configuration: .init(address: .hostname("127.0.0.1", port: c.apiPort), serverName: "aegis"),
                        onServerRunning: { channel in
                            try? "\(channel.localAddress?.port ?? 0)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                        }, logger: Logger(label: "aegis.api"))))
            servers.append(
                .init(
                    service: Application(
                        router: router, configuration: .init(address: .unixDomainSocket(path: socket), serverName: "aegis"),
                        onServerRunning: { _ in chmod(socket, 0o660) }, logger: Logger(label: "aegis.api"))))
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: servers, logger: logger))
        let done = Task {
            do { try await group.run() } catch { logger.error("standby listeners failed", metadata: ["error": "\(error)"]) }
        }
        return .standby(stop: { await group.triggerGracefulShutdown() }, done: done)
    }
}

/// `count` bytes from the system's random source.
func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
