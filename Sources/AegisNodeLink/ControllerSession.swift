// ControllerSession.swift — the worker's end of the node protocol (AegisProtocol Session.swift):
// one outbound WebSocket over mutual TLS to the controller's cluster port (the worker never
// listens), kept open and re-opened with backoff. It registers the node (hello), renews the lease
// every `renewEvery`, refreshes the self-fencing lease file only when a renewal is acknowledged
// (to the moment that renewal was sent), runs the controller's commands on the node's agent
// (`NodeAgent`) and answers its requests (logs, outputs); the agent's events go the other way.
import AegisPKI
import AegisProtocol
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Synchronization

public final class ControllerSession: Sendable {
    /// Where requests (log chunks, output listings and files) are answered: blocking reads.
    static let answers = DispatchQueue(label: "aegis.session.answers", attributes: .concurrent)
    /// Each controller's `wss://HOST:PORT/v1/cluster/session`, in `--join` order, and whether its
    /// host is an IP literal (then a fixed SNI name is sent and the host name not checked).
    let targets: [(url: String, ipHost: Bool)]
    /// Which of `targets` the session uses now: the next after each failed connection (a
    /// controller that is down or a standby), so that a worker finds the leader.
    private let targetIndex = Atomic<Int>(0)
    /// The controller URL in use now.
    public var url: String { targets[targetIndex.load(ordering: .relaxed) % targets.count].url }
    let agent: any NodeAgent
    let logger: Logger
    let node: Mutex<NodeInfo>
    /// SNI name sent when the URL's host is an IP literal.
    static let ipSNIHostname = "aegis-controller"
    /// Renewal period used until the controller's `welcome` says otherwise.
    let renewEveryMs: Int
    /// Events waiting for a connection, and the current connection's queue.
    private let outbox = Mutex<(pending: [WorkerEvent], queue: AsyncStream<SessionMessage>.Continuation?)>(([], nil))
    /// Sent-at times (CLOCK_REALTIME ns) of unacknowledged renewals by seq, and when the last ack came.
    private let renewals = Mutex<(next: UInt64, sentAt: [UInt64: Int64], lastAck: ContinuousClock.Instant)>((1, [:], .now))
    /// When the node certificate on disk is due for renewal (nil: not read yet).
    private let renewalDue = Mutex<Date?>(nil)
    /// Capabilities detected since the last renewal that the controller has not seen yet.
    private let changedCapabilities = Mutex<NodeCapabilities?>(nil)
    /// Sessions opened (for tests and logs).
    public let sessionsOpened = Atomic<Int>(0)
    /// Welcomes whose placements the worker has reconciled: surviving sandboxes re-adopted, stale
    /// copies killed (a worker is ready once the first one is).
    public let welcomesReconciled = Atomic<Int>(0)
    /// A welcomed session is open now.
    public var isConnected: Bool { outbox.withLock { $0.queue != nil } }
    /// When the controller last acknowledged a renewal (or welcomed the session).
    public var lastAcknowledgement: ContinuousClock.Instant { renewals.withLock { $0.lastAck } }
    /// A welcomed session that should have ended for want of acknowledgements (the renew loop
    /// gives up after max(3 renewals, 2 s)) but has not, two renewal periods later: its loop is
    /// wedged. The worker then stops feeding systemd's watchdog.
    public var isStalled: Bool {
        let welcomed = welcomedRenewMs.load(ordering: .relaxed)
        let renewMs = welcomed > 0 ? welcomed : renewEveryMs
        let limit = max(3 * renewMs, 2_000) + 2 * renewMs
        return isConnected && ContinuousClock.now - lastAcknowledgement > .milliseconds(limit)
    }
    /// The renewal period of the controller's last `welcome`, ms (0 before one).
    private let welcomedRenewMs = Atomic<Int>(0)
    /// `sessionsOpened` when the previous attempt ended (a refusal before any welcome counts).
    private let welcomedBefore = Atomic<Int>(0)

    /// - Parameters:
    ///   - servers: the controllers' cluster URLs, `https://HOST:PORT` (several: replicated
    ///     controllers, tried in turn until the leader answers).
    ///   - identityDir: the joined node's identity: mutual TLS with its certificate and key,
    ///     trusting only the cluster CA (`ControllerSession.tlsConfiguration(identityDir:)`).
    /// - Throws: `SessionError` for a URL that is not https; NIOSSL errors for an unreadable identity.
    ///   - node: what hello registers (name, role, capabilities).
    /// Identity directory (node.key, node.crt, ca.crt): read at every connection, so a renewed
    /// certificate is used from the next one on.
    let identityDir: String

    public init(
        servers: [String], identityDir: String, agent: any NodeAgent, node: NodeInfo, renewEveryMs: Int = 5_000, logger: Logger
    ) throws {
        self.identityDir = identityDir
        let tls = try Self.tlsConfiguration(identityDir: identityDir)
        guard !servers.isEmpty else { throw SessionError(.invalidURL, "--join: no controller URL given") }
        targets = try servers.map(Self.target)
        _ = tls  // checked now: a broken identity fails the start, not every reconnect
        self.agent = agent
        self.node = Mutex(node)
        self.renewEveryMs = renewEveryMs
        self.logger = logger
    }

    /// One controller: `https://HOST:PORT` → its session URL and whether HOST is an IP literal.
    static func target(_ server: String) throws -> (url: String, ipHost: Bool) {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("https://") else {
            throw SessionError(.invalidURL, "--join \(server): expected https://HOST:PORT (the controller's cluster port)")
        }
        let authority = base.dropFirst("https://".count)
        var host = String(authority.split(separator: "/").first ?? "")
        if host.hasPrefix("[") {
            host = String(host.dropFirst().prefix { $0 != "]" })
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return ("wss://" + authority + NodeSession.path, isIPLiteral(host))
    }

    /// Mutual TLS from a joined node's identity directory: `node.crt` + `node.key` presented as the
    /// client certificate, `ca.crt` the only trust root, the server's name checked (TLS 1.2+).
    /// - Throws: NIOSSL errors naming the unreadable or invalid file.
    public static func tlsConfiguration(identityDir: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(identityDir + "/node.crt").map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: identityDir + "/node.key", format: .pem)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = chain
        tls.privateKey = .privateKey(key)
        tls.trustRoots = .file(identityDir + "/ca.crt")
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        return tls
    }

    static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// What the Worker reports; sent now when connected, else when the next session is welcomed.
    public func report(_ event: WorkerEvent) {
        outbox.withLock { o in
            if let q = o.queue { q.yield(.event(event)) } else { o.pending.append(event) }
        }
    }

    /// Keeps a session open until the task is cancelled: reconnects after 0.5 s, doubling to 5 s
    /// (or to the controller's renewal period when that is shorter: every renewal missed while
    /// waiting eats into the agents' grace) while connections fail. Returns the error that ended it for good: a protocol version the
    /// controller does not speak, or three refusals in a row by the controller (say, the node's
    /// identity was removed).
    public func run() async -> SessionError? {
        var backoffMs = 500
        var refusals = 0
        while !Task.isCancelled {
            let openedBefore = sessionsOpened.load(ordering: .relaxed)
            do {
                try await connectOnce()
            } catch let e as SessionError {
                logger.warning("controller session failed", metadata: ["url": "\(url)", "error": "\(e)"])
                if e.fatal { return e }
                if e.kind == .refused && sessionsOpened.load(ordering: .relaxed) == welcomedBefore.load(ordering: .relaxed) {
                    refusals += 1
                    if refusals >= 3 { return SessionError(.refusedRepeatedly, e.message, underlying: e) }
                } else {
                    refusals = 0
                }
                welcomedBefore.store(sessionsOpened.load(ordering: .relaxed), ordering: .relaxed)
            } catch {
                logger.warning("controller session failed", metadata: ["url": "\(url)", "error": "\(error)"])
            }
            if Task.isCancelled { return nil }
            if targets.count > 1 {
                let next = (targetIndex.load(ordering: .relaxed) + 1) % targets.count
                targetIndex.store(next, ordering: .relaxed)
                // A full round of controllers failed before the back-off grows; within a round, the next at once.
                if next != 0 && sessionsOpened.load(ordering: .relaxed) == openedBefore { continue }
            }
            if sessionsOpened.load(ordering: .relaxed) != openedBefore { backoffMs = 500 }  // it worked for a while
            try? await Task.sleep(for: .milliseconds(backoffMs))
            let welcomed = welcomedRenewMs.load(ordering: .relaxed)
            let renewMs = welcomed > 0 ? welcomed : renewEveryMs
            backoffMs = min(backoffMs * 2, max(500, min(5_000, renewMs)))
        }
        return nil
    }

    private func connectOnce() async throws {
        let (url, ipHost) = targets[targetIndex.load(ordering: .relaxed) % targets.count]
        let config = WebSocketClientConfiguration(
            maxFrameSize: NodeSession.maxFrameBytes, closeTimeout: .seconds(2),
            autoPing: .enabled(timePeriod: .seconds(5)), sniHostname: ipHost ? Self.ipSNIHostname : nil)
        var tls = try Self.tlsConfiguration(identityDir: identityDir)
        // An IP literal can't be sent as SNI (RFC 6066 §3) nor checked by NIOSSL as a host name:
        // the controller is then authenticated as a holder of a serverAuth certificate of the
        // pinned cluster CA (node certificates are clientAuth only), and a fixed name goes as SNI.
        if ipHost { tls.certificateVerification = .noHostnameVerification }
        try await WebSocketClient.connect(url: url, configuration: config, tlsConfiguration: tls, logger: logger) { inbound, outbound, _ in
            try await self.serve(inbound: inbound, outbound: outbound)
        }
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let (outgoing, queue) = AsyncStream<SessionMessage>.makeStream()
        let helloSentAt = Self.realtimeNs()
        let terms = WelcomedTerms()
        // Every registration and capability update carries the longest sandbox grace (re-adopted ones included).
        let grace = agent.longestLeaseGraceMs  // reads the sandbox records: not under the lock
        let hello = node.withLock { n in
            n.capabilities.leaseGraceMs = grace
            return n
        }
        queue.yield(.hello(version: NodeSession.version, node: hello))
        defer { outbox.withLock { $0.queue = nil }; queue.finish() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {  // the only writer
                let encoder = JSONEncoder()
                for await m in outgoing { try await outbound.write(.text(m.frameText(encoder))) }
            }
            // Commands run in order on their own task, so a slow start (resolving an egress host
            // name) never holds up the acknowledgements the read loop must see.
            let (commands, commandQueue) = AsyncStream<SessionMessage>.makeStream()
            group.addTask {
                for await m in commands { await self.apply(m) }
                // Done only with the session (the group is cancelled): why it ended is the read loop's to say.
                try await Task.sleep(for: .seconds(365 * 86_400))
            }
            group.addTask {
                defer { commandQueue.finish() }
                try await self.read(inbound, queue: queue, commands: commandQueue, helloSentAt: helloSentAt, terms: terms)
            }
            group.addTask {
                // Renewals begin once welcomed (10 s at most); a session that is never welcomed is retried.
                let deadline = ContinuousClock.now + .seconds(10)
                while terms.value.withLock({ $0 }) == nil {
                    if ContinuousClock.now > deadline { throw SessionError(.noWelcome, "no welcome from the controller within 10 s") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let every = terms.value.withLock { $0?.renewEveryMs ?? 0 }
                // The controller's word, read within 1 ms…24 h (as `aegis up` bounds it) so that
                // 3 × ms and the sleep cannot overflow.
                let ms = every > 0 ? min(every, Bounds.maxLeaseDurationMs) : self.renewEveryMs
                try await self.renewLoop(queue: queue, everyMs: ms, deadAfterMs: max(3 * ms, 2_000))
            }
            // The first child to end (a read error, a closed connection, a lapsed acknowledgement)
            // ends the session; the others are cancelled.
            defer { group.cancelAll() }
            try await group.next()
            throw SessionError(.closed, "controller closed the connection")
        }
    }

    private func read(
        _ inbound: WebSocketInboundStream, queue: AsyncStream<SessionMessage>.Continuation,
        commands: AsyncStream<SessionMessage>.Continuation, helloSentAt: Int64, terms: WelcomedTerms
    ) async throws {
        let decoder = JSONDecoder()  // one per session: frames are read one after another
        for try await message in inbound.messages(maxSize: NodeSession.maxFrameBytes) {
            guard case .text(let text) = message else { continue }
            let m: SessionMessage
            do { m = try SessionMessage(frameText: text, decoder) } catch {
                throw SessionError(.protocolViolation, "not a node protocol message from the controller", underlying: error)
            }
            switch m {
            case let .welcome(version, lease, active):
                guard version == NodeSession.version else {
                    throw SessionError(
                        .incompatibleVersion, "controller speaks node protocol \(version), this worker \(NodeSession.version)")
                }
                if let grace = agent.longestLeaseGraceMs, grace > lease.downAfterMs {
                    logger.warning(
                        "this worker's agents fence themselves later than the controller declares it Down: the controller waits for the longer grace before moving them",
                        metadata: ["grace-ms": "\(grace)", "down-after-ms": "\(lease.downAfterMs)"])
                }
                welcomedRenewMs.store(lease.renewEveryMs, ordering: .relaxed)
                let first = terms.value.withLock { t in
                    defer { t = lease }
                    return t == nil
                }
                if first {
                    try? agent.leaseAcknowledged(sentAtNs: helloSentAt)  // the first welcome acknowledges the hello
                    renewals.withLock {
                        $0.lastAck = .now; $0.sentAt = [:]
                    }
                }
                // Any sandbox not in `active` is a stale copy: the worker kills it. In order with the
                // commands (a start still running must be done before its sandbox is looked for).
                commands.yield(m)
                if first {
                    sessionsOpened.add(1, ordering: .relaxed)
                    let pending: [WorkerEvent] = outbox.withLock { o in
                        o.queue = queue
                        defer { o.pending = [] }
                        return o.pending
                    }
                    for e in pending { queue.yield(.event(e)) }
                    requestCertificateIfDue(queue)
                    logger.info("controller session open", metadata: ["url": "\(url)", "active": "\(active.count)"])
                }
            case let .renewed(seq, state):
                let sentAt: Int64? = renewals.withLock { r in
                    r.lastAck = .now
                    let s = r.sentAt[seq]
                    r.sentAt = r.sentAt.filter { $0.key > seq }
                    return s
                }
                if let sentAt, state == .ready { try? agent.leaseAcknowledged(sentAtNs: sentAt) }
            case .start, .cancel, .release:
                commands.yield(m)
            case let .request(seq, r):
                // Answers read the disk (and may first copy a just-ended agent's volume out): off
                // the concurrency pool, which keeps serving renewals and frames meanwhile.
                Self.answers.async { queue.yield(.reply(seq: seq, self.answer(r))) }
            case .certificate(_, let outcome):
                saveCertificate(outcome)
            case .error(let message):
                throw SessionError(.refused, message)
            default:
                throw SessionError(.protocolViolation, "unexpected \(m.kind.rawValue) from the controller")
            }
        }
    }

    /// Runs one of the controller's commands on the worker.
    func apply(_ m: SessionMessage) async {
        switch m {
        case .start(let command):
            var w = command.workload
            var inputs: [String: [UInt8]] = [:]
            for (path, b64) in command.files { inputs[path] = Data(base64Encoded: b64).map { Array($0) } ?? [] }
            w.spec.inputs = inputs
            await agent.start(workload: w, uid: command.uid, gpus: command.gpus)
        case .cancel(let p):
            agent.cancel(workloadID: p.id, generation: p.generation)
        case .release(let p):
            agent.release(workloadID: p.id, generation: p.generation)
        case .welcome(_, _, let active):
            agent.reconcile(active: active.map { ($0.id, $0.generation) })
            welcomesReconciled.add(1, ordering: .relaxed)
        default:
            return
        }
    }

    /// Sends a renewal every `everyMs`; ends the session when no acknowledgement came for
    /// `deadAfterMs` (a cut link: the next connection attempt finds out whether it healed).
    private func renewLoop(queue: AsyncStream<SessionMessage>.Continuation, everyMs: Int, deadAfterMs: Int) async throws {
        while !Task.isCancelled {
            let (seq, lastAck): (UInt64, ContinuousClock.Instant) = renewals.withLock { r in
                let seq = r.next
                r.next += 1
                r.sentAt[seq] = Self.realtimeNs()
                return (seq, r.lastAck)
            }
            if ContinuousClock.now - lastAck > .milliseconds(deadAfterMs) {
                throw SessionError(.leaseLapsed, "no lease acknowledgement for \(deadAfterMs) ms")
            }
            let changed = changedCapabilities.withLock { c in
                defer { c = nil }; return c
            }
            var update: NodeInfo?
            if let changed {
                update = node.withLock {
                    $0.capabilities = changed; return $0
                }
            }
            queue.yield(.renew(seq: seq, node: update, capacity: liveCapacity()))
            if seq % UInt64(max(1, 10_000 / everyMs)) == 0 { requestCertificateIfDue(queue) }  // every ~10 s (two small file reads)
            try await Task.sleep(for: .milliseconds(everyMs))
        }
    }

    /// The worker's capabilities as detected now: sent with the next renewal when they differ.
    public func capabilitiesDetected(_ c: NodeCapabilities) {
        var c = c
        c.leaseGraceMs = agent.longestLeaseGraceMs
        guard node.withLock({ $0.capabilities != c }) else { return }
        changedCapabilities.withLock { $0 = c }
    }

    /// The agent's live capacity (running agents, MemAvailable, load).
    func liveCapacity() -> LiveCapacity { agent.liveCapacity() }

    /// CLOCK_REALTIME now, ns (the clock lease files are compared against).
    static func realtimeNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Asks for a new certificate (same key) once 2/3 of the current one's validity has passed.
    func requestCertificateIfDue(_ queue: AsyncStream<SessionMessage>.Continuation) {
        // The identity files are read only once the remembered renewal date has come.
        if let due = renewalDue.withLock({ $0 }), Date() < due { return }
        guard case .ready(let identity)? = try? NodeIdentity.loadOrCreate(directory: identityDir, nodeName: node.withLock({ $0.name }))
        else { return }
        renewalDue.withLock { $0 = identity.renewalDate() }
        guard identity.needsRenewal(), let csr = try? identity.key.makeCSRPEM() else { return }
        logger.notice("renewing the node certificate", metadata: ["expires": "\(identity.notValidAfter)"])
        queue.yield(.renewCertificate(seq: 0, csrPEM: csr))
    }

    /// Checks the new certificate against the node key and saves it (used from the next connection).
    func saveCertificate(_ outcome: CertificateOutcome) {
        let pem: String
        switch outcome {
        case .issued(let issued): pem = issued
        case .refused(let reason):
            logger.error("certificate renewal refused", metadata: ["reason": "\(reason)"])
            return
        }
        do {
            guard case .ready(let current) = try NodeIdentity.loadOrCreate(directory: identityDir, nodeName: node.withLock({ $0.name }))
            else { return }
            let renewed = try current.key.identity(certificatePEM: pem)
            try renewed.save(directory: identityDir)
            renewalDue.withLock { $0 = renewed.renewalDate() }
            logger.notice("node certificate renewed", metadata: ["expires": "\(renewed.notValidAfter)"])
        } catch {
            logger.error("renewed certificate not saved", metadata: ["error": "\(error)"])
        }
    }

    func answer(_ r: WorkerRequest) -> WorkerReply {
        switch r.kind {
        case .log:
            guard
                let chunk = agent.readLog(
                    workloadID: r.workload, stream: r.stream ?? .stdout, offset: max(0, r.offset ?? 0),
                    maxBytes: min(max(0, r.maxBytes ?? (1 << 20)), 8 << 20))
            else {
                return WorkerReply(error: "no log for workload \(r.workload)")
            }
            return WorkerReply(data: Data(chunk.bytes).base64EncodedString(), size: chunk.size, start: chunk.start)
        case .outputs:
            return WorkerReply(paths: agent.outputs(workloadID: r.workload, outputDir: r.outputDir ?? "output"))
        case .output:
            do {
                let chunk = try agent.readOutput(
                    workloadID: r.workload, outputDir: r.outputDir ?? "output", path: r.path ?? "",
                    offset: max(0, r.offset ?? 0), maxBytes: min(max(1, r.maxBytes ?? (8 << 20)), 8 << 20))
                return WorkerReply(data: Data(chunk.bytes).base64EncodedString(), size: chunk.size)
            } catch {
                return WorkerReply(error: "\(error)")
            }
        }
    }
}

/// The lease terms of the session's first `welcome` (nil until then).
final class WelcomedTerms: Sendable {
    let value = Mutex<LeaseTerms?>(nil)
}
