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
                      renewEveryMs: Int, detectRoot: String?, logger: Logger) async throws -> WorkerRuntime {
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
                                          leaseGraceMs: leaseGraceMs, renewEveryMs: renewEveryMs, detectRoot: detectRoot, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(paths)  // a failed start leaves no pid file behind
            throw error
        }
    }

    private static func startClaimed(paths: AegisPaths, name: String, join server: String, token: String?, labels: [String: String],
                                     allowUnenforcedLimits: Bool, cgroupParent: String?, egress: EgressConfig?, leaseGraceMs: Int,
                                     renewEveryMs: Int, detectRoot: String?, logger: Logger) async throws -> WorkerRuntime {
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
        let worker = try Worker(paths: paths, logger: Logger(label: "aegis.worker"), cgroupParent: cgroupParent, egress: egress,
                                lease: lease) { sink.send($0) }
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
    /// no worker renews the lease within the grace) or SIGUSR2 (`aegis down`: agents are stopped
    /// and their exits reported first).
    func run() async {
        let session = session, redetect = redetect
        let stopped = EventSink.Once()
        let sessionTask = Task {
            if let fatal = await session.run() {
                if stopped.claim() {
                    FileHandle.standardError.write(Data("aegis: \(fatal)\n".utf8))
                    kill(getpid(), SIGUSR1)  // ends waitForStopSignal
                }
            }
        }
        let detectTask = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if Task.isCancelled { return }
                session.capabilitiesDetected(await redetect())
            }
        }
        let drain = await waitForStopSignal()
        if drain {
            logger.info("stopping agents")
            await worker.stopAll(evict: true)
            try? await Task.sleep(for: .milliseconds(500))  // let the exit events reach the controller
            if let egress = worker.egress, egress.attached.isEmpty { egress.teardown() }
        }
        sessionTask.cancel()
        detectTask.cancel()
        unlink(paths.pidFile)
        logger.info("node stopped", metadata: ["agents": "\(drain ? "stopped" : "left running")"])
        if !stopped.claim() { exit(1) }  // the session ended for good: not a clean stop
    }

    /// true for SIGUSR2 (drain), false for SIGTERM/SIGINT.
    private func waitForStopSignal() async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let once = EventSink.Once()
            var sources: [DispatchSourceSignal] = []
            for (sig, drain) in [(SIGTERM, false), (SIGINT, false), (SIGUSR2, true), (SIGUSR1, false)] {
                signal(sig, SIG_IGN)
                let s = DispatchSource.makeSignalSource(signal: sig)
                s.setEventHandler { if once.claim() { c.resume(returning: drain) } }
                s.resume()
                sources.append(s)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Forwards the Worker's events to the session created after it.
final class EventSink: @unchecked Sendable {
    private let lock = NSLock()
    private var session: ControllerSession?
    private var early: [WorkerEvent] = []

    func send(_ e: WorkerEvent) {
        lock.lock()
        guard let s = session else { early.append(e); lock.unlock(); return }
        lock.unlock()
        s.report(e)
    }

    func attach(_ s: ControllerSession) {
        lock.lock()
        session = s
        let pending = early
        early = []
        lock.unlock()
        for e in pending { s.report(e) }
    }

    /// A flag that can be claimed once.
    final class Once: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false
        func claim() -> Bool {
            lock.lock(); defer { lock.unlock() }
            if claimed { return false }
            claimed = true
            return true
        }
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var all: [DispatchSourceSignal] = []
    static func keep(_ s: [DispatchSourceSignal]) { all += s }
}
