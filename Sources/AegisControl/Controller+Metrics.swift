// Controller+Metrics.swift — what the controller records in its `ControllerMetrics` (nil: nothing):
// the recording helpers its paths call (pending workloads by reason class after a pass, the
// dispatch-to-start clock), the node series refreshed at scrape time, the exposition, and
// `MeteredStateStore`, which times every store write (insert, placement commit, workload update,
// node row) around the backend's own transaction. The other hooks are one line each where the
// thing happens: the scheduling pass (Controller+Scheduling.swift), placements and dispatches,
// lease renewals, transitions and rescheduling (Controller+Leases.swift).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisMetrics
import AegisProtocol
import AegisStore

extension Controller {
    /// Sets `aegis_pending_workloads` from a pass: the workloads read as pending minus those it
    /// placed, each by the class of its reason (the one this pass recorded, else the stored one;
    /// a workload in back-off keeps its stored back-off reason).
    func recordPending(_ pending: [Workload], placed: [Decision]) {
        guard let metrics else { return }
        let placedIDs = Set(placed.map(\.placed.id))
        let now = ControlStore.nowMs()
        var counts: [PendingReasonClass: Int] = [:]
        for w in pending where !placedIDs.contains(w.id) {
            let waiting = (w.nextAttemptAtMs ?? 0) > now
            let reason = (waiting ? w.reason : pendingReasons[w.id] ?? w.reason) ?? ""
            counts[PendingReasonClass(reason: reason), default: 0] += 1
        }
        metrics.setPendingWorkloads(counts)
    }

    /// A worker's report about the placement it holds: `started` observes the time since the
    /// dispatch; an end without a start forgets the dispatch.
    func recordDispatchOutcome(_ event: WorkerEvent) {
        guard let metrics else { return }
        if case .started = event {
            metrics.recordStarted(workload: event.workloadID, generation: event.generation)
        } else {
            metrics.forgetDispatch(workload: event.workloadID, generation: event.generation)
        }
    }

    /// Brings the node series up to date: every stored node with what the scheduler holds on it
    /// (its allocation and its condition, which also knows Disconnected and Stopping; the stored
    /// ones for a node it does not hold) and its last live report. A node no longer stored loses
    /// its series. On a store failure the series stay as they were. One read of the node rows
    /// (their JSON decoded only when it changed: `ControlStore`'s node cache), one scheduler
    /// lookup per node.
    public func refreshNodeMetrics() async {
        guard let metrics, let stored = try? await store.listNodes() else { return }
        let reports = live.withLock { $0 }
        metrics.setNodes(
            stored.map {
                var n = $0
                if let held = scheduler.node(n.name) {
                    n.allocated = held.allocated
                    n.state = held.state
                }
                n.live = reports[n.name]
                return n
            })
    }

    /// The exposition of the controller's series in the format `accept` asks for (see
    /// `ExpositionFormat.negotiate`), node series refreshed first; an empty one without metrics.
    public func metricsExposition(accept: String?) async -> Exposition {
        guard let metrics else { return Exposition(prometheusText: [], as: ExpositionFormat.negotiate(accept: accept)) }
        await refreshNodeMetrics()
        return metrics.render(accept: accept)
    }
}

/// A `ControlStateStore` that times its backend's writes into `aegis_store_write_duration_seconds`
/// (`op`: insert, placement, update, node) and forwards everything else as is. Each timing is the
/// backend call — one transaction — not the queueing in the controller's group commits.
final class MeteredStateStore: ControlStateStore {
    let base: any ControlStateStore
    let metrics: ControllerMetrics

    init(_ base: any ControlStateStore, metrics: ControllerMetrics) {
        self.base = base
        self.metrics = metrics
    }

    private func timed<T>(_ op: StoreWriteKind, _ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        defer {
            let d = (ContinuousClock.now - started).components
            metrics.recordStoreWrite(op, seconds: Double(d.seconds) + Double(d.attoseconds) / 1e18)
        }
        return try await body()
    }

    var backend: String { base.backend }
    var dataDirectory: String? { base.dataDirectory }
    func bootstrap(nowMs: Int64) async throws -> Bool { try await base.bootstrap(nowMs: nowMs) }
    func close() async throws { try await base.close() }

    // MARK: timed writes

    func upsertNode(_ node: NodeInfo, keepCordon: Bool, nowMs: Int64) async throws -> NodeInfo {
        try await timed(.node) { try await base.upsertNode(node, keepCordon: keepCordon, nowMs: nowMs) }
    }
    func setCordoned(name: String, _ cordoned: Bool) async throws {
        try await timed(.node) { try await base.setCordoned(name: name, cordoned) }
    }
    func setNodeState(name: String, _ state: NodeCondition, nowMs: Int64) async throws {
        try await timed(.node) { try await base.setNodeState(name: name, state, nowMs: nowMs) }
    }
    func deleteNode(name: String) async throws { try await timed(.node) { try await base.deleteNode(name: name) } }
    func insertWorkload(_ workload: Workload, event: AegisStore.WorkloadEvent?) async throws {
        try await timed(.insert) { try await base.insertWorkload(workload, event: event) }
    }
    func insertWorkloads(_ new: [NewWorkload]) async throws -> [StoreError?] {
        try await timed(.insert) { try await base.insertWorkloads(new) }
    }
    func update(
        id: String, event: AegisStore.WorkloadEvent?, _ mutate: @escaping @Sendable (inout Workload) throws -> Void
    ) async throws -> Workload {
        try await timed(.update) { try await base.update(id: id, event: event, mutate) }
    }
    func appendEvent(workloadID: String, _ event: AegisStore.WorkloadEvent) async throws {
        try await timed(.update) { try await base.appendEvent(workloadID: workloadID, event) }
    }
    func deleteWorkload(id: String) async throws { try await timed(.update) { try await base.deleteWorkload(id: id) } }
    func recordPlacements(_ placements: [Placement], nowMs: Int64) async throws -> [String] {
        try await timed(.placement) { try await base.recordPlacements(placements, nowMs: nowMs) }
    }

    // MARK: forwarded as is

    func insertWorkflow(_ record: WorkflowRecord) async throws { try await base.insertWorkflow(record) }
    func workflow(id: String, tenant: String?) async throws -> WorkflowRecord? { try await base.workflow(id: id, tenant: tenant) }
    func listWorkflows(tenant: String?, phases: Set<WorkflowPhase>?) async throws -> [WorkflowRecord] {
        try await base.listWorkflows(tenant: tenant, phases: phases)
    }
    func updateWorkflow(id: String, state: String, phase: WorkflowPhase, updatedAtMs: Int64, finishedAtMs: Int64?) async throws {
        try await base.updateWorkflow(id: id, state: state, phase: phase, updatedAtMs: updatedAtMs, finishedAtMs: finishedAtMs)
    }

    func createTenant(name: String, quota: Quota, nowMs: Int64) async throws -> Tenant {
        try await base.createTenant(name: name, quota: quota, nowMs: nowMs)
    }
    func tenant(name: String) async throws -> Tenant? { try await base.tenant(name: name) }
    func listTenants() async throws -> [Tenant] { try await base.listTenants() }
    func setQuota(tenant name: String, _ quota: Quota) async throws -> Tenant { try await base.setQuota(tenant: name, quota) }
    func deleteTenant(name: String) async throws { try await base.deleteTenant(name: name) }
    func createToken(kind: TokenKind, tenant: String?, nowMs: Int64) async throws -> (id: String, secret: String) {
        try await base.createToken(kind: kind, tenant: tenant, nowMs: nowMs)
    }
    func authenticate(token: String) async throws -> Principal? { try await base.authenticate(token: token) }
    func revokeToken(id: String) async throws { try await base.revokeToken(id: id) }
    func listTokens(kind: TokenKind?, tenant: String?, includeRevoked: Bool) async throws -> [TokenRecord] {
        try await base.listTokens(kind: kind, tenant: tenant, includeRevoked: includeRevoked)
    }
    func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String, nowMs: Int64
    ) async throws -> (record: JoinTokenRecord, secret: String) {
        try await base.createJoinToken(role: role, ttlSeconds: ttlSeconds, description: description, nowMs: nowMs)
    }
    func listJoinTokens() async throws -> [JoinTokenRecord] { try await base.listJoinTokens() }
    func joinToken(id: String) async throws -> JoinTokenRecord? { try await base.joinToken(id: id) }
    func revokeJoinToken(id: String, nowMs: Int64) async throws -> JoinTokenRecord {
        try await base.revokeJoinToken(id: id, nowMs: nowMs)
    }
    func validateJoinToken(id: String, secret: String, nowMs: Int64) async throws -> JoinTokenRecord {
        try await base.validateJoinToken(id: id, secret: secret, nowMs: nowMs)
    }
    func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole, serial: String,
        nowMs: Int64
    ) async throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord) {
        try await base.completeJoin(
            tokenID: tokenID, secret: secret, nodeName: nodeName, fingerprint: fingerprint, role: role, serial: serial,
            nowMs: nowMs)
    }
    func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String?, tokenID: String?, nowMs: Int64
    ) async throws -> NodeIdentityRecord {
        try await base.registerIdentity(name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: nowMs)
    }
    func recordRenewal(name: String, fingerprint: String, serial: String, nowMs: Int64) async throws -> NodeIdentityRecord {
        try await base.recordRenewal(name: name, fingerprint: fingerprint, serial: serial, nowMs: nowMs)
    }
    func identity(name: String) async throws -> NodeIdentityRecord? { try await base.identity(name: name) }
    func listIdentities() async throws -> [NodeIdentityRecord] { try await base.listIdentities() }
    func removeIdentity(name: String) async throws { try await base.removeIdentity(name: name) }
    func node(name: String) async throws -> NodeInfo? { try await base.node(name: name) }
    func listNodes() async throws -> [NodeInfo] { try await base.listNodes() }
    func workload(id: String, includeInputs: Bool) async throws -> Workload? {
        try await base.workload(id: id, includeInputs: includeInputs)
    }
    func workload(tenant: String, idempotencyKey: String) async throws -> Workload? {
        try await base.workload(tenant: tenant, idempotencyKey: idempotencyKey)
    }
    func listWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?, limit: Int?) async throws -> [Workload] {
        try await base.listWorkloads(tenant: tenant, states: states, node: node, limit: limit)
    }
    func countWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?) async throws -> Int {
        try await base.countWorkloads(tenant: tenant, states: states, node: node)
    }
    func events(workloadID: String) async throws -> [AegisStore.WorkloadEvent] { try await base.events(workloadID: workloadID) }
    func inputs(id: String) async throws -> [String: [UInt8]] { try await base.inputs(id: id) }
    func inputs(ids: [String]) async throws -> [String: [String: [UInt8]]] { try await base.inputs(ids: ids) }
}
