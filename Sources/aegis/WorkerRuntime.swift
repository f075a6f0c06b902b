// WorkerRuntime.swift — `aegis up --role worker`: a pure execution host. It joins the cluster on
// first start (token → node key, CSR, certificate in <data-dir>/identity), then keeps one outbound
// mutual-TLS session to the controller (AegisNodeLink) and serves no API. Its agents' supervisors
// fence themselves when its lease lapses: the lease file is refreshed only when the controller
// acknowledges a renewal.
import AegisControl
import AegisNet
import AegisNode
import AegisNodeLink
import AegisPKI
import AegisProtocol
import Foundation
import Logging
import Synchronization

final class WorkerRuntime: Sendable {
    let paths: AegisPaths
    let name: String
    let worker: Worker
    let session: ControllerSession
    let logger: Logger
    /// Re-runs capability detection every minute; a change goes to the controller with the next renewal.
    let redetect: @Sendable () async -> NodeCapabilities

    private init(paths: AegisPaths, name: String, worker: Worker, session: ControllerSession, logger: Logger,
                 redetect: @escaping @Sendable () async -> NodeCapabilities) {
        self.redetect = redetect
        self.paths = paths
        self.name = name
        self.worker = worker
        self.session = session
        self.logger = logger
    }

    /// Joins if the data dir holds no identity yet, starts the worker (re-adopting surviving
    /// sandboxes once the controller says which placements are still this node's) and the session.
    /// - Throws: `NodeStartError` / `JoinClientError` naming the step that failed.
    static func start(paths: AegisPaths, name: String, join server: String, token: String?, rejoin: Bool = false, labels: [String: String],
                      allowUnenforcedLimits: Bool, cgroupParent: String?, egress: EgressConfig?, leaseGraceMs: Int,
                      renewEveryMs: Int, detectRoot: String?, logCapBytes: Int = Worker.defaultLogCapBytes,
                      outputRetentionSeconds: Int64 = Worker.defaultOutputRetentionSeconds,
                      logger: Logger) async throws -> WorkerRuntime {
        guard server.hasPrefix("https://") else {
            throw NodeStartError("--join \(server): expected https://HOST:PORT, the controller's cluster port (aegis up --listen)")
        }
        let dir = paths.identityDir
        let joined = access(dir + "/" + NodeIdentity.certificateFileName, F_OK) == 0 && !rejoin
        if !joined, token?.isEmpty ?? true {
            throw NodeStartError("node \(name) has not joined a cluster yet (no \(dir)/\(NodeIdentity.certificateFileName)): pass --token with a join token (`aegis token create --role worker` on the controller)")
        }
        try NodeSetup.claimDataDir(paths)
        do {
            return try await startClaimed(paths: paths, name: name, join: server, token: joined ? nil : token, labels: labels,
                                          allowUnenforcedLimits: allowUnenforcedLimits, cgroupParent: cgroupParent, egress: egress,
                                          leaseGraceMs: leaseGraceMs, renewEveryMs: renewEveryMs, detectRoot: detectRoot,
                                          logCapBytes: logCapBytes, outputRetentionSeconds: outputRetentionSeconds, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(paths)  // a failed start leaves no pid file behind
            throw error
        }
    }

    private static func startClaimed(paths: AegisPaths, name: String, join server: String, token: String?, labels: [String: String],
                                     allowUnenforcedLimits: Bool, cgroupParent: String?, egress: EgressConfig?, leaseGraceMs: Int,
                                     renewEveryMs: Int, detectRoot: String?, logCapBytes: Int, outputRetentionSeconds: Int64,
                                     logger: Logger) async throws -> WorkerRuntime {
        let dir = paths.identityDir
        if let token {
            let outcome = try await JoinClient.join(transport: try PinnedJoinTransport(server: server), token: token,
                                                    nodeName: name, role: .worker, directory: dir)
            logger.notice("joined the cluster", metadata: ["node": "\(name)", "ca": "\(outcome.caFingerprint)", "serial": "\(outcome.serial)"])
        }
        guard case .ready = try NodeIdentity.loadOrCreate(directory: dir, nodeName: name) else {
            throw NodeStartError("\(dir) holds a node key but no certificate (an interrupted join): run again with --token")
        }
        let sink = EventSink()
        let lease = WorkerLease(paths: paths, graceMs: leaseGraceMs, automatic: false)
        let worker = try Worker(paths: paths, logger: Logger(label: "aegis.worker"), cgroupParent: cgroupParent,
                                logCapBytes: logCapBytes, egress: egress, lease: lease,
                                outputRetentionSeconds: outputRetentionSeconds) { sink.send($0) }
        let capabilities = await NodeSetup.detect(worker: worker, labels: labels, allowUnenforcedLimits: allowUnenforcedLimits,
                                                  detectRoot: detectRoot, logger: logger)
        let session = try ControllerSession(server: server, identityDir: dir, worker: worker,
                                            node: NodeInfo(name: name, role: .worker, capabilities: capabilities),
                                            renewEveryMs: renewEveryMs, logger: Logger(label: "aegis.session"))
        sink.attach(session)
        NodeSetup.logUp(name: name, role: .worker, paths: paths, capabilities: capabilities, worker: worker, logger: logger)
        let quiet = Logger(label: "aegis.detect")
        return WorkerRuntime(paths: paths, name: name, worker: worker, session: session, logger: logger) {
            await NodeSetup.detect(worker: worker, labels: labels, allowUnenforcedLimits: allowUnenforcedLimits,
                                   detectRoot: detectRoot, logger: quiet)
        }
    }

    /// Runs the session until SIGTERM/SIGINT (agents keep running; their supervisors fence them if
    /// no worker renews the lease within the grace), SIGUSR2 (`aegis down`: agents are stopped and
    /// their exits reported first), or the session ends for good (exit status 1).
    func run() async {
        let session = session, redetect = redetect
        let stop = StopLatch()
        var sources: [DispatchSourceSignal] = []  // alive until run returns
        for (sig, drain) in [(SIGTERM, false), (SIGINT, false), (SIGUSR2, true)] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { stop.fire(.signal(drain: drain)) }
            source.resume()
            sources.append(source)
        }
        let sessionTask = Task {
            if let fatal = await session.run() { stop.fire(.sessionEnded(fatal)) }
        }
        let detectTask = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if Task.isCancelled { return }
                session.capabilitiesDetected(await redetect())
            }
        }
        let sweeper = OutputRetentionSweeper(worker: worker)
        let sweepTask = Task { try? await sweeper.run() }
        let reason = await stop.wait()
        var drain = false
        switch reason {
        case .signal(let d): drain = d
        case .sessionEnded(let e): FileHandle.standardError.write(Data("aegis: \(e)\n".utf8))
        }
        if drain {
            logger.info("stopping agents")
            await worker.stopAll(evict: true)
            try? await Task.sleep(for: .milliseconds(500))  // let the exit events reach the controller
            if let egress = worker.egress, egress.attached.isEmpty { egress.teardown() }
        }
        sessionTask.cancel()
        detectTask.cancel()
        sweepTask.cancel()
        sources.forEach { $0.cancel() }
        unlink(paths.pidFile)
        logger.info("node stopped", metadata: ["agents": "\(drain ? "stopped" : "left running")"])
        if case .sessionEnded = reason { exit(1) }
    }
}

/// How a worker process ends: the first of a stop signal and a session that ended for good.
final class StopLatch: Sendable {
    enum Reason: Sendable {
        case signal(drain: Bool)
        case sessionEnded(SessionError)
    }

    private let state = Mutex<(reason: Reason?, waiter: CheckedContinuation<Reason, Never>?)>((nil, nil))

    /// Records `reason` unless one was recorded already, and wakes the waiter.
    func fire(_ reason: Reason) {
        let waiter: CheckedContinuation<Reason, Never>? = state.withLock { s in
            guard s.reason == nil else { return nil }
            s.reason = reason
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: reason)
    }

    /// The first reason fired (at once if it already was).
    func wait() async -> Reason {
        await withCheckedContinuation { c in
            let fired: Reason? = state.withLock { s in
                if let r = s.reason { return r }
                s.waiter = c
                return nil
            }
            if let fired { c.resume(returning: fired) }
        }
    }
}

/// Forwards the Worker's events to the session created after it (events of the start-up
/// reconcile may come first).
final class EventSink: Sendable {
    private let state = Mutex<(session: ControllerSession?, early: [WorkerEvent])>((nil, []))

    func send(_ e: WorkerEvent) {
        let session: ControllerSession? = state.withLock { s in
            if s.session == nil { s.early.append(e) }
            return s.session
        }
        session?.report(e)
    }

    func attach(_ session: ControllerSession) {
        let early: [WorkerEvent] = state.withLock { s in
            s.session = session
            defer { s.early = [] }
            return s.early
        }
        for e in early { session.report(e) }
    }
}
