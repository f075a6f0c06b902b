// LeaderLease.swift — leader election on the datastore (one row, `aegis_leader`). A controller
// takes the lease once it has expired by the database's clock, raising `epoch` (the fencing token
// every write checks, WriteFence.swift), renews it every `renewEvery`, and steps down when a renewal
// is refused (another controller took over) or when no renewal was acknowledged for a whole lease
// term (the database is unreachable or paused: by then a standby may lead). Terms default to
// Kubernetes' leader election (client-go leaderelection: lease 15 s, retry period 2 s; the renew
// deadline is ours: renew every 5 s). The lease runs on a pool of its own of one connection, so a
// renewal never queues behind the controller's queries.
import AegisStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Leader election timing.
public struct LeaderTerms: Sendable, Equatable {
    /// How long a granted or renewed lease lasts, by the database's clock (default 15 s).
    public var lease: Duration
    /// How often the leader renews (default 5 s; must be under a third of `lease`).
    public var renewEvery: Duration
    /// How often a standby tries to take an expired lease (default 2 s).
    public var retryEvery: Duration

    public init(lease: Duration = .seconds(15), renewEvery: Duration = .seconds(5), retryEvery: Duration = .seconds(2)) {
        self.lease = lease
        self.renewEvery = renewEvery
        self.retryEvery = retryEvery
    }

    /// - Throws: `StoreError(.invalidArgument)` naming the rule broken.
    public func validate() throws {
        guard lease >= .milliseconds(300) else { throw StoreError(.invalidArgument, "--leader-lease \(lease): at least 300ms") }
        guard renewEvery > .zero, renewEvery * 3 <= lease else {
            throw StoreError(.invalidArgument, "--leader-renew \(renewEvery): more than 0 and at most a third of --leader-lease \(lease)")
        }
        guard retryEvery > .zero, retryEvery <= lease else {
            throw StoreError(.invalidArgument, "leader retry period \(retryEvery): more than 0 and at most the lease \(lease)")
        }
    }
}

/// Where this controller stands.
public enum Leadership: Sendable, Equatable {
    /// Leading with this epoch (writes are fenced by it).
    case leading(epoch: Int64)
    /// Not leading; `leader` is the current holder when known, `reason` says why this one isn't.
    case standby(leader: String?, reason: String)

    public var isLeading: Bool { if case .leading = self { return true } else { return false } }
}

/// The leader row as read.
public struct LeaderRecord: Sendable, Equatable {
    public var holder: String
    public var epoch: Int64
    /// Milliseconds until the lease expires by the database's clock (negative: expired).
    public var remainingMs: Int64
}

/// Takes, renews and gives up the leader lease; tells `fence` and `onChange` each change. A
/// swift-service-lifecycle Service: on graceful shutdown a leader releases the lease (so a standby
/// takes over at once instead of after the term) and fences itself.
public final class LeaderLease: Service, Sendable {
    /// Who holds it: the node name and what makes this process unique (pid, start time).
    public let holder: String
    public let terms: LeaderTerms
    let fence: WriteFence
    let client: PostgresClient
    let logger: Logger
    let onChange: @Sendable (Leadership) -> Void
    private let state: Mutex<Leadership>
    /// When the election loop last went round (ContinuousClock since `born`), for liveness.
    private let lastRound = Atomic<Int64>(0)
    private let born = ContinuousClock.now
    /// Whether the lease was read at least once (a first standing is known).
    private let decided = Atomic<Bool>(false)

    /// - Parameters:
    ///   - configuration: the datastore's client configuration (a pool of one is made from it).
    ///   - holder: this controller's name in the leader row (unique per process).
    ///   - fence: the store's write fence, set to `.leader(epoch)` while leading, `.standby` otherwise.
    ///   - onChange: called on every change of leadership (not for each renewal).
    public init(
        configuration: PostgresClient.Configuration, holder: String, terms: LeaderTerms, fence: WriteFence,
        logger: Logger = Logger(label: "aegis.leader"), onChange: @escaping @Sendable (Leadership) -> Void = { _ in }
    ) {
        var one = configuration
        one.options.maximumConnections = 1
        one.options.minimumConnections = 0
        self.client = PostgresClient(configuration: one, backgroundLogger: logger)
        self.holder = holder
        self.terms = terms
        self.fence = fence
        self.logger = logger
        self.onChange = onChange
        self.state = Mutex(.standby(leader: nil, reason: "starting: the leader lease was not read yet"))
        fence.set(.standby)
    }

    /// The current standing.
    public var leadership: Leadership { state.withLock { $0 } }

    /// Whether the first attempt on the lease has ended (leading, or standing by for a reason).
    public var isDecided: Bool { decided.load(ordering: .relaxed) }

    /// How long ago the election loop last went round (a loop wedged for more than a lease term
    /// is a liveness failure: the service manager's watchdog should restart the process).
    public var sinceLastRound: Duration {
        let now = (ContinuousClock.now - born).milliseconds
        return .milliseconds(now - lastRound.load(ordering: .relaxed))
    }

    public func run() async throws {
        // The pool runs outside this task's graceful shutdown and cancellation (a detached task,
        // cancelled below), so that the lease can still be released after the loop has ended.
        let pool = Task.detached { [client] in await client.run() }
        await cancelWhenGracefulShutdown { await self.loop() }
        await Task { await self.release() }.value
        pool.cancel()
        await pool.value
    }

    /// Acquire / renew until cancelled (a graceful shutdown cancels it).
    private func loop() async {
        var lastAcknowledged = ContinuousClock.now
        while !Task.isCancelled {
            lastRound.store((ContinuousClock.now - born).milliseconds, ordering: .relaxed)
            switch leadership {
            case .standby:
                do {
                    let sentAt = ContinuousClock.now
                    if let epoch = try await bounded(terms.retryEvery, { try await self.tryAcquire() }) {
                        lastAcknowledged = sentAt
                        change(to: .leading(epoch: epoch))
                    } else if let record = try await bounded(terms.retryEvery, { try await self.current() }) {
                        if record.holder == holder && record.remainingMs > 0 {
                            // An acquisition whose answer was lost (it timed out here, then committed
                            // when the server answered): the lease is ours under that epoch.
                            lastAcknowledged = sentAt - .milliseconds(terms.lease.milliseconds - record.remainingMs)
                            change(to: .leading(epoch: record.epoch))
                        } else {
                            change(to: .standby(leader: record.holder, reason: Self.standbyReason(record)))
                        }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    change(
                        to: .standby(
                            leader: nil, reason: "the datastore is unreachable: \(StoreError.wrappingPostgres(error, "leader lease"))"))
                }
                try? await Task.sleep(for: terms.retryEvery)
            case .leading(let epoch):
                try? await Task.sleep(until: lastAcknowledged + terms.renewEvery)
                if Task.isCancelled { return }
                let sentAt = ContinuousClock.now
                do {
                    let budget = max(.milliseconds(100), lastAcknowledged + terms.lease - sentAt)
                    if try await bounded(budget, { try await self.renew(epoch: epoch) }) {
                        lastAcknowledged = sentAt
                    } else {
                        let record = try? await bounded(terms.retryEvery) { try await self.current() }
                        change(
                            to: .standby(
                                leader: record?.holder,
                                reason:
                                    "lost the leader lease (epoch \(epoch)) to \(record.map { "\($0.holder), epoch \($0.epoch)" } ?? "another controller")"
                            ))
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("leader lease renewal failed", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
                    if ContinuousClock.now - lastAcknowledged >= terms.lease {
                        change(
                            to: .standby(
                                leader: nil,
                                reason:
                                    "stepped down: no renewal of epoch \(epoch) was acknowledged for \(terms.lease) (the datastore is unreachable: \(StoreError.wrappingPostgres(error, "leader lease")))"
                            ))
                    } else {
                        // Retry soon: the lease is still ours until a whole term passed unacknowledged.
                        lastAcknowledged = max(lastAcknowledged, ContinuousClock.now - terms.renewEvery + .milliseconds(500))
                    }
                }
            }
        }
    }

    private func change(to new: Leadership) {
        decided.store(true, ordering: .relaxed)
        let old = state.withLock { s -> Leadership in
            defer { s = new }
            return s
        }
        switch new {
        case .leading(let epoch): fence.set(.leader(epoch: epoch))
        case .standby: fence.set(.standby)
        }
        guard old != new else { return }
        switch new {
        case .leading(let epoch): logger.notice("leading", metadata: ["holder": "\(holder)", "epoch": "\(epoch)"])
        case .standby(let leader, let reason):
            if old.isLeading && reason.hasPrefix(Self.stoppingReason) {
                logger.info("released the leadership", metadata: ["reason": "\(reason)"])
            } else if old.isLeading {
                logger.error("stepped down", metadata: ["reason": "\(reason)"])
            } else {
                logger.info("standby", metadata: ["leader": "\(leader ?? "unknown")", "reason": "\(reason)"])
            }
        }
        onChange(new)
    }

    static let stoppingReason = "stopping"

    static func standbyReason(_ record: LeaderRecord) -> String {
        if record.holder.isEmpty { return "no controller leads yet" }
        let seconds = Double(max(0, record.remainingMs)) / 1000
        return "\(record.holder) leads (epoch \(record.epoch)); its lease expires in \(seconds.formatted1()) s unless renewed"
    }

    // MARK: statements (the database's clock decides expiry: controllers' clocks never compare)

    /// Takes the lease if it has expired; returns the new epoch, nil when another controller holds it.
    func tryAcquire() async throws -> Int64? {
        let leaseMs = terms.lease.milliseconds
        let rows = try await client.query(
            """
            UPDATE aegis_leader SET holder = \(holder), epoch = epoch + 1,
                renewed_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                expires_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + \(leaseMs)
            WHERE id = 1 AND expires_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
            RETURNING epoch
            """, logger: logger)
        for try await epoch in rows.decode(Int64.self) { return epoch }
        return nil
    }

    /// Extends the lease of `epoch`; false when this controller no longer holds it.
    func renew(epoch: Int64) async throws -> Bool {
        let leaseMs = terms.lease.milliseconds
        let rows = try await client.query(
            """
            UPDATE aegis_leader SET renewed_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                expires_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + \(leaseMs)
            WHERE id = 1 AND holder = \(holder) AND epoch = \(epoch)
            RETURNING epoch
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// The leader row.
    func current() async throws -> LeaderRecord? {
        let rows = try await client.query(
            """
            SELECT holder, epoch, expires_ms - (extract(epoch FROM clock_timestamp()) * 1000)::bigint
            FROM aegis_leader WHERE id = 1
            """, logger: logger)
        for try await (holder, epoch, remaining) in rows.decode((String, Int64, Int64).self) {
            return LeaderRecord(holder: holder, epoch: epoch, remainingMs: remaining)
        }
        return nil
    }

    /// On shutdown: a leader ends its lease now (best effort, 2 s), so a standby need not wait out the term.
    private func release() async {
        guard case .leading(let epoch) = leadership else { return }
        change(to: .standby(leader: nil, reason: Self.stoppingReason + ": released the leader lease"))
        do {
            try await bounded(.seconds(2)) {
                try await self.client.query(
                    "UPDATE aegis_leader SET expires_ms = 0 WHERE id = 1 AND holder = \(self.holder) AND epoch = \(epoch)",
                    logger: self.logger)
            }
            logger.info("released the leader lease", metadata: ["epoch": "\(epoch)"])
        } catch {
            logger.warning("could not release the leader lease: a standby takes over when it expires", metadata: ["error": "\(error)"])
        }
    }
}

/// The time a database call may take; a call to a paused or unreachable PostgreSQL never returns
/// by itself. Throws `StoreError(.unreachable)` when `limit` passes first. The call's task is then
/// cancelled and left to end on its own (a query already sent to a stopped server ends only when
/// the server answers or the connection breaks), so the caller never waits for it.
@discardableResult
func bounded<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    // The first result wins; it waits here until the caller's continuation is stored.
    let outcome = Mutex<(result: Result<T, any Error>?, continuation: CheckedContinuation<T, any Error>?)>((nil, nil))
    let finish: @Sendable (Result<T, any Error>) -> Void = { result in
        let waiter = outcome.withLock { o -> CheckedContinuation<T, any Error>? in
            guard o.result == nil else { return nil }
            o.result = result
            defer { o.continuation = nil }
            return o.continuation
        }
        waiter?.resume(with: result)
    }
    let call = Task { finish(await Result(catching: body)) }
    let timer = Task {
        try? await Task.sleep(for: limit)
        finish(.failure(StoreError(.unreachable, "no answer from PostgreSQL within \(limit)")))
    }
    defer {
        call.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            let ready = outcome.withLock { o -> Result<T, any Error>? in
                if let result = o.result { return result }
                o.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    } onCancel: {
        finish(.failure(CancellationError()))
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

extension Double {
    func formatted1() -> String {
        let tenths = (self * 10).rounded()
        return "\(Int(tenths) / 10).\(abs(Int(tenths)) % 10)"
    }
}
