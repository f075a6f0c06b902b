// Controller.swift — the controller: authentication, tenants, submission, queries and
// cancellation. Scheduling and worker events are in Controller+Lifecycle.swift.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisManifest
import AegisMetrics
import AegisProtocol
import AegisScheduler
import AegisStore
import AegisSystem
import Crypto
import Logging
import Synchronization

/// Token hashes for the store: lowercase hex SHA-256 (tokens are 256-bit random, so no salt or
/// slow hash is needed to resist guessing).
public struct SHA256TokenHasher: TokenHasher {
    public init() {}
    public func hash(_ token: String) -> String {
        Hex.lowercase(SHA256.hash(data: Array(token.utf8)))
    }
}

/// A submission's answer: the workload as it stands (without input files) and its spec's JSON as
/// stored, encoded once for the row and the answer.
public struct SubmittedWorkload: Sendable {
    public var workload: Workload
    public var specJSON: String
    /// A retried submission (same Idempotency-Key, same spec): the workload is the first one's.
    public var replayed = false
}

/// The controller of a cluster (in a hybrid node: of the local node only).
public actor Controller {
    public let store: any ControlStateStore
    let scheduler: ClusterScheduler
    let logger: Logger
    /// Workers by node name.
    var workers: [String: any WorkerLink] = [:]
    /// Input size cap per submission, bytes.
    public nonisolated let maxInputBytes: Int
    /// The scheduling loop: whether a pass runs, and who waits for the next (Controller+Scheduling.swift).
    var scheduling = SchedulingLoopState()
    /// Last pending reason per workload (to log a changed reason once, not on every pass).
    var pendingReasons: [String: String] = [:]
    /// Waiters for a workload's state changes (log followers want to know when it ends).
    var watchers: [String: [AsyncStream<Workload>.Continuation]] = [:]
    /// Subscribers of every workload change (`workloadChanges`), by token.
    var subscribers: [Int: AsyncStream<Workload>.Continuation] = [:]
    var nextSubscriber = 0
    /// Agents a drain is stopping: workload id → the node being drained (Controller+Nodes.swift).
    var drains: [String: String] = [:]
    /// Directory of the cluster CA (`ca.crt`, `ca.key`); see Controller+Join.swift.
    public let pkiDirectory: String
    /// The cluster CA and join machinery, loaded (or created) on first use.
    var authority: ClusterAuthority?
    /// Lifetime of node certificates this controller issues, seconds (nil: 90 days).
    public var nodeCertificateValidity: Double?
    /// Leases of remote nodes (Controller+Leases.swift). The local worker of a hybrid node holds none.
    public nonisolated let leases: LeaseTracker
    /// What each remote node's last renewal reported (in memory only: a renewal never writes the store).
    nonisolated let live = Mutex<[String: LiveCapacity]>([:])
    /// Group commit of scheduling decisions: one store transaction per scheduling pass.
    let placementWriter: PlacementWriter
    /// Group commit of submissions: concurrent submits share one store transaction.
    let submissionWriter: GroupCommit<NewWorkload, StoreError?>
    /// Callers resolved from a token (SHA-256) and act-as tenant, until a Unix ms (`authenticate`).
    var authenticated: [String: (caller: Caller, untilMs: Int64)] = [:]
    /// Submissions waiting for their first scheduling pass, with their latest stored state.
    var submitting: [String: Workload] = [:]
    /// Placements committed by the running pass whose start has not been sent to their worker yet:
    /// workload id → placed generation. Any stored change of the workload other than that
    /// placement takes it off (`notify`), and the pass starts only what is still here.
    var starting: [String: Int64] = [:]
    /// Reservations released since start (`releaseReservation`): a reader of the active workloads
    /// that saw this change while it read knows its list may hold workloads that ended meanwhile.
    var releases: UInt64 = 0
    /// The controller's Prometheus series (Controller+Metrics.swift); nil: none recorded.
    public nonisolated let metrics: ControllerMetrics?

    /// - Parameter pkiDirectory: where the cluster CA lives; default `pki/` next to the store's
    ///   database file (`<dataDir>/pki`, see `AegisPaths.pkiDir`).
    /// - Parameter metrics: where to record the controller's series (nil: nowhere).
    public init(
        store: any ControlStateStore, schedulerConfig: SchedulerConfig = SchedulerConfig(), logger: Logger,
        maxInputBytes: Int = 16 << 20, pkiDirectory: String? = nil, leases: LeaseTracker? = nil,
        nodeCertificateValidity: Double? = nil, metrics: ControllerMetrics? = nil
    ) {
        // With metrics, every store write is timed (MeteredStateStore, Controller+Metrics.swift).
        let store: any ControlStateStore = metrics.map { MeteredStateStore(store, metrics: $0) } ?? store
        self.metrics = metrics
        self.nodeCertificateValidity = nodeCertificateValidity
        // The default LeaseConfig is valid by construction (5 s < 20 s < 40 s).
        self.leases = leases ?? (try! LeaseTracker())
        self.store = store
        self.scheduler = ClusterScheduler(config: schedulerConfig)
        self.logger = logger
        self.maxInputBytes = maxInputBytes
        self.pkiDirectory = pkiDirectory ?? Controller.defaultPKIDirectory(dataDirectory: store.dataDirectory)
        self.placementWriter = PlacementWriter(store: store)
        self.submissionWriter = GroupCommit("submissions") { try await store.insertWorkloads($0) }
    }

    // MARK: auth

    /// How long a resolved caller is reused without asking the store again (ms). No API revokes an
    /// API token or deletes a tenant today; when one does, it must drop `authenticated` too (and
    /// other controllers see the change within this bound).
    public static let authenticationCacheMs: Int64 = 5_000

    /// Resolves a bearer token (and an admin's `X-Aegis-Tenant`) to a caller. A resolved caller is
    /// kept for `authenticationCacheMs`, keyed by the token's SHA-256 (never the token); a refusal
    /// is never kept, so a new token or tenant works at once.
    public func authenticate(token: String?, actAs: String?) async throws(ControllerError) -> Caller {
        guard let token, !token.isEmpty else { throw .unauthenticated }
        let key = SHA256TokenHasher().hash(token) + "\u{0}" + (actAs ?? "")
        let now = ControlStore.nowMs()
        if let hit = authenticated[key], hit.untilMs > now { return hit.caller }
        let caller = try await resolve(token: token, actAs: actAs)
        if authenticated.count >= 10_000 { authenticated = authenticated.filter { $0.value.untilMs > now } }
        if authenticated.count < 10_000 { authenticated[key] = (caller, now + Self.authenticationCacheMs) }
        return caller
    }

    private func resolve(token: String, actAs: String?) async throws(ControllerError) -> Caller {
        let principal: Principal?
        do { principal = try await store.authenticate(token: token) } catch { throw .internalError("token lookup", underlying: error) }
        switch principal {
        case nil: throw .unauthenticated
        case .admin?:
            let tenant = actAs ?? ControlStore.defaultTenant
            guard (try? await store.tenant(name: tenant)) != nil else { throw .notFound("tenant \"\(tenant)\" does not exist") }
            return Caller(isAdmin: true, tenant: tenant)
        case .tenant(let name, _)?:
            if let actAs, actAs != name { throw .forbidden("a tenant token acts only for its own tenant (\(name))") }
            return Caller(isAdmin: false, tenant: name)
        }
    }

    // MARK: tenants

    /// `POST /v1/tenants`. - Throws: 403 for non-admins, 400 for a bad name or a quota value
    /// outside `Bounds` (field `quota.cpuMillis`, …), 409 for an existing tenant.
    public func createTenant(_ req: CreateTenantRequest, caller: Caller) async throws(ControllerError) -> CreateTenantResponse {
        guard caller.isAdmin else { throw .forbidden("tenants are admin-only") }
        do { try req.quota?.checkBounds() } catch { throw .invalid(error.description, field: error.field, underlying: error) }
        do {
            let tenant = try await store.createTenant(name: req.name, quota: req.quota ?? Quota())
            let token = try await store.createToken(kind: .tenant, tenant: tenant.name)
            logger.info("tenant created", metadata: ["tenant": "\(tenant.name)", "uid": "\(tenant.uid)"])
            return CreateTenantResponse(tenant: tenant, token: token.secret)
        } catch let e as StoreError {
            throw e.kind == .alreadyExists ? .conflict(e.description, underlying: e) : .invalid(e.description, field: "name", underlying: e)
        } catch {
            throw .internalError(underlying: error)
        }
    }

    public func tenants(caller: Caller) async throws(ControllerError) -> [Tenant] {
        guard caller.isAdmin else { throw .forbidden("tenants are admin-only") }
        do { return try await store.listTenants() } catch { throw .internalError(underlying: error) }
    }

    // MARK: workloads

    /// Validates and stores a submission, then schedules. Returns the workload as it stands
    /// (without its input files).
    public func submit(_ req: SubmitRequest, caller: Caller) async throws(ControllerError) -> Workload {
        try await submitEncoded(req, caller: caller).workload
    }

    /// `submit`, also returning the spec's JSON as stored (the API writes it into the answer
    /// instead of encoding the spec a second time).
    /// - Parameter idempotencyKey: the request's `Idempotency-Key`: a submission retried with the
    ///   same key (after a lost answer, a failover) returns the first one's workload instead of
    ///   making another; the same key with another spec is refused (409).
    public func submitEncoded(
        _ req: SubmitRequest, caller: Caller, idempotencyKey: String? = nil
    ) async throws(ControllerError) -> SubmittedWorkload {
        if let idempotencyKey { try Self.checkIdempotencyKey(idempotencyKey) }
        var inputs: [String: [UInt8]] = [:]
        var total = 0
        for (path, b64) in req.inputs {
            guard let data = Data(base64Encoded: b64) else { throw .invalid("inputs[\(path)]: not valid base64", field: "inputs") }
            total += data.count
            inputs[path] = Array(data)
        }
        guard total <= maxInputBytes else {
            throw .invalid("files.inputs: \(total) bytes uploaded, more than the \(maxInputBytes)-byte cap", field: "files.inputs")
        }
        let spec: WorkloadSpec
        do {
            if req.manifest != nil && req.run != nil {
                throw ControllerError.invalid(
                    "a submission takes a manifest or run flags, not both (the flags would be ignored)", field: "run")
            }
            if let manifest = req.manifest {
                spec = try ManifestParser.parse(
                    manifest, file: req.manifestFile ?? "manifest", inputs: inputs,
                    defaultTenant: caller.tenant, maxInputBytes: maxInputBytes)
            } else if let run = req.run {
                spec = try run.spec(inputs: inputs, defaultTenant: caller.tenant, maxInputBytes: maxInputBytes)
            } else {
                throw ControllerError.invalid("a submission needs a manifest or run flags")
            }
        } catch let e as ControllerError {
            throw e
        } catch let e as ManifestError {
            throw .invalid(e.description, field: e.path, underlying: e)
        } catch {
            throw .invalid("\(error)", underlying: error)
        }
        return try await submitSpec(spec, caller: caller, idempotencyKey: idempotencyKey)
    }

    /// Stores and schedules a spec built by the caller (a workflow step's, templates resolved),
    /// with the checks of every submission: bounds, the caller's tenant, host network for admins
    /// only, the input cap, and the Idempotency-Key rule of `submitEncoded`.
    public func submitSpec(
        _ spec: WorkloadSpec, caller: Caller, idempotencyKey: String? = nil
    ) async throws(ControllerError) -> SubmittedWorkload {
        if let idempotencyKey { try Self.checkIdempotencyKey(idempotencyKey) }
        let total = spec.inputs.values.reduce(0) { $0 + $1.count }
        guard total <= maxInputBytes else {
            throw .invalid("files.inputs: \(total) bytes of input files, more than the \(maxInputBytes)-byte cap", field: "files.inputs")
        }
        // The parsers bound every number; this holds whatever built the spec.
        do { try spec.checkBounds() } catch { throw .invalid(error.description, field: error.field, underlying: error) }
        guard spec.tenant == caller.tenant else {
            throw .forbidden("manifest tenant \"\(spec.tenant)\" does not match the caller's tenant \"\(caller.tenant)\"")
        }
        // network egress is a tenant's to choose: its policy (public destinations plus the manifest's
        // allowlist, never loopback, link-local or the node itself) is enforced on the node.
        if spec.network == .host && !caller.isAdmin {
            throw .forbidden("network: host is admin-only (it exposes the host's loopback services)")
        }
        let specJSON: String
        do { specJSON = try ControlStore.storedSpecJSON(spec) } catch {
            throw .invalid("spec: cannot encode JSON: \(error)", underlying: error)
        }
        if let idempotencyKey, let first = try await replay(idempotencyKey, tenant: spec.tenant, specJSON: specJSON) { return first }
        let now = ControlStore.nowMs()
        let workload = Workload(id: ControlStore.newWorkloadID(nowMs: now), spec: spec, createdAtMs: now)
        // Every stored change of it from now on reaches `notify`, which keeps the latest here, so
        // the answer needs no read of the store. Set before the insert: a pass running meanwhile
        // may place it before this task resumes.
        submitting[workload.id] = workload
        do {
            // Concurrent submissions share one transaction (group commit).
            let event = WorkloadEvent(.submitted, "submitted by \(caller.isAdmin ? "admin" : "tenant \(caller.tenant)")", timeMs: now)
            let new = NewWorkload(workload, event: event, specJSON: specJSON, idempotencyKey: idempotencyKey)
            if let refused = try await submissionWriter.commit([new]).first ?? nil {
                throw refused
            }
        } catch {
            submitting[workload.id] = nil
            // Another submission with the same key committed first: answer with its workload.
            if let idempotencyKey, let e = error as? StoreError, e.kind == .alreadyExists,
                let first = try await replay(idempotencyKey, tenant: spec.tenant, specJSON: specJSON)
            {
                return first
            }
            throw .internalError("store", underlying: error)
        }
        logger.info("workload submitted", metadata: ["workload": "\(workload.id)", "tenant": "\(spec.tenant)", "name": "\(spec.name)"])
        await schedule()
        var answer = submitting.removeValue(forKey: workload.id) ?? workload
        answer.spec.inputs = [:]
        return SubmittedWorkload(workload: answer, specJSON: specJSON)
    }

    /// The caller's workloads (another tenant's never appear).
    public func list(caller: Caller, states: Set<WorkloadState>? = nil) async throws(ControllerError) -> [Workload] {
        do { return try await store.listWorkloads(tenant: caller.tenant, states: states) } catch { throw .internalError(underlying: error) }
    }

    /// One workload of the caller's tenant; 404 otherwise (also for another tenant's).
    public func workload(id: String, caller: Caller) async throws(ControllerError) -> Workload {
        let w: Workload?
        do { w = try await store.workload(id: id) } catch { throw .internalError(underlying: error) }
        guard let w, w.spec.tenant == caller.tenant else { throw .notFound("workload \(id) not found") }
        return w
    }

    public func detail(id: String, caller: Caller) async throws(ControllerError) -> WorkloadDetail {
        let w = try await workload(id: id, caller: caller)
        let events = ((try? await store.events(workloadID: id)) ?? []).map {
            AegisProtocol.WorkloadEvent(timeMs: $0.timeMs, type: WorkloadEventType(stored: $0.type), message: $0.message)
        }
        let outputs = await w.node.flatMap { workers[$0] }?.outputs(id: id, outputDir: w.spec.outputDir) ?? []
        return WorkloadDetail(workload: w, events: events, outputs: outputs)
    }

    /// Cancels: a pending workload ends at once; a running one gets SIGTERM (then SIGKILL) and
    /// ends when its exit is reported.
    public func cancel(id: String, caller: Caller) async throws(ControllerError) -> Workload {
        let w = try await workload(id: id, caller: caller)
        if w.state.isFinal { return w }
        do {
            if w.state == .pending {
                // Only while still pending at this generation: a pass may place it meanwhile.
                let generation = w.generation
                let done = try await store.update(id: id, event: .init(.cancelled, "cancelled while pending")) {
                    guard $0.state == .pending, $0.generation == generation else { throw WorkloadChangedSincePass() }
                    $0.state = .cancelled
                    $0.finishedAtMs = ControlStore.nowMs()
                    $0.reason = "cancelled"
                }
                pendingReasons[id] = nil
                notify(done)
                return done
            }
        } catch is WorkloadChangedSincePass {
            return try await cancel(id: id, caller: caller)  // placed meanwhile: stopped as placed
        } catch {
            throw .internalError(underlying: error)
        }
        if starting[id] == w.generation {
            // Placed by the running pass but not sent to its worker: it never starts.
            starting[id] = nil
            do {
                let done = try await store.update(id: id, event: .init(.cancelled, "cancelled before it started")) {
                    try Self.expectUnchanged($0, since: w)
                    $0.state = .cancelled
                    $0.finishedAtMs = ControlStore.nowMs()
                    $0.reason = "cancelled"
                }
                releaseReservation(id)
                notify(done)
                return done
            } catch is WorkloadChangedSincePass {
                return try await cancel(id: id, caller: caller)  // changed meanwhile: cancelled as it is now
            } catch {
                throw .internalError(underlying: error)
            }
        }
        do { try await store.appendEvent(workloadID: id, .init(.cancelling, "stop requested")) } catch {
            throw .internalError(underlying: error)
        }
        if let node = w.node, let link = workers[node] { await link.cancel(id: id, generation: w.generation) }
        return (try? await store.workload(id: id)) ?? w
    }

    /// Up to `maxBytes` of the workload's log history from `offset` (bytes), from the worker that
    /// ran it; nil while it has no node or the node can't be asked.
    /// - Parameter w: a workload the caller may see (from `workload(id:caller:)`): a log follower
    ///   reads it once per poll anyway, so this does not read it again.
    public func readLog(of w: Workload, stream: LogStream, offset: Int64, maxBytes: Int = 1 << 20) async -> LogChunk? {
        guard let link = w.node.flatMap({ workers[$0] }) else { return nil }
        return await link.readLog(id: w.id, stream: stream, offset: offset, maxBytes: maxBytes)
    }

    /// - Parameter limit: bytes; a larger file is refused (`.invalid`) before it is read whole.
    public func output(
        id: String, path: String, caller: Caller, limit: Int = RemoteWorkerLink.maxOutputBytes
    ) async throws(ControllerError) -> [UInt8] {
        let w = try await workload(id: id, caller: caller)
        guard let node = w.node else { throw .notFound("workload \(id) has no outputs") }
        guard let link = workers[node] else { throw .unavailable("node \(node), which holds the outputs of \(id), is not connected") }
        do { return try await link.readOutput(id: id, outputDir: w.spec.outputDir, path: path, limit: limit) } catch let e
            as OutputTooLarge
        {
            throw .invalid(e.description, underlying: e)
        } catch {
            throw .notFound("\(error)", underlying: error)
        }
    }

    /// Every stored change of any workload from now on (submitted, placed, started, ended …), in
    /// the order the controller made them, until the stream's consumer ends it (dropped at the next
    /// change after that). For engines that drive workloads through this API (the workflow
    /// engine); buffered without bound.
    public func workloadChanges() -> AsyncStream<Workload> {
        let (stream, continuation) = AsyncStream<Workload>.makeStream()
        subscribers[nextSubscriber] = continuation
        nextSubscriber += 1
        return stream
    }

    /// A stream of the workload's states, ending after its final state.
    public func watch(id: String) async -> AsyncStream<Workload> {
        let (stream, continuation) = AsyncStream<Workload>.makeStream()
        if let w = try? await store.workload(id: id) {
            continuation.yield(w)
            if w.state.isFinal { continuation.finish(); return stream }
        }
        watchers[id, default: []].append(continuation)
        return stream
    }

    func notify(_ w: Workload) {
        for (token, c) in subscribers {
            if case .terminated = c.yield(w) { subscribers[token] = nil }  // its consumer is gone
        }
        if submitting[w.id] != nil { submitting[w.id] = w }
        if let g = starting[w.id], !(w.state == .scheduled && w.generation == g) { starting[w.id] = nil }
        guard let list = watchers[w.id] else { return }
        for c in list {
            c.yield(w)
            if w.state.isFinal { c.finish() }
        }
        if w.state.isFinal { watchers[w.id] = nil }
    }

    // MARK: nodes

    public func nodes(caller: Caller) async throws(ControllerError) -> [NodeInfo] {
        guard caller.isAdmin else { throw .forbidden("nodes are admin-only") }
        do { return try await store.listNodes().map { withAllocation($0) } } catch { throw .internalError(underlying: error) }
    }

    public func node(name: String, caller: Caller) async throws(ControllerError) -> NodeInfo {
        guard caller.isAdmin else { throw .forbidden("nodes are admin-only") }
        guard let n = try? await store.node(name: name) else { throw .notFound("node \(name) not found") }
        return withAllocation(n)
    }

    /// The node with what the scheduler holds on it: cpu, memory, GPUs, agents, egress agents.
    func withAllocation(_ n: NodeInfo) -> NodeInfo {
        var n = n
        if let state = scheduler.node(n.name) { n.allocated = state.allocated }
        n.live = live.withLock { $0[n.name] }
        return n
    }
}
