// SQLiteStateStore.swift — the SQLite backend of `ControlStateStore`. Each call runs one
// `ControlStore` transaction on the store's own dispatch queue (a dedicated executor), never on the
// caller's: the controller actor goes on serving while SQLite reads or commits. GRDB's pool keeps
// its rules (WAL readers in parallel, one writer at a time).
import AegisProtocol
import Dispatch

public final class SQLiteStateStore: ControlStateStore {
    /// The synchronous SQLite store the calls run on (diagnostics, PRAGMAs, tests).
    public let database: ControlStore
    public let backend = "sqlite"
    public var dataDirectory: String? {
        guard let slash = database.path.lastIndex(of: "/") else { return "." }
        let dir = String(database.path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
    /// Concurrent: reads run in parallel, GRDB serialises the writes.
    private let queue = DispatchQueue(label: "aegis.store.sqlite", qos: .userInitiated, attributes: .concurrent)

    public init(_ database: ControlStore) {
        self.database = database
    }

    /// Opens (creating if missing) `<dataDirectory>/aegis.db`; see `ControlStore.init(path:hasher:)`.
    public convenience init(dataDirectory: String, hasher: any TokenHasher) throws {
        self.init(try ControlStore(dataDirectory: dataDirectory, hasher: hasher))
    }

    /// Runs `body` on the store queue and resumes the caller with its result.
    private func run<T: Sendable>(_ body: @escaping @Sendable (ControlStore) throws -> T) async throws -> T {
        let database = self.database
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(database) }) }
        }
    }

    public func bootstrap(nowMs: Int64) async throws -> Bool { try await run { try $0.bootstrap(nowMs: nowMs) } }
    public func close() async throws { try await run { try $0.close() } }

    // MARK: tenants
    public func createTenant(name: String, quota: Quota, nowMs: Int64) async throws -> Tenant {
        try await run { try $0.createTenant(name: name, quota: quota, nowMs: nowMs) }
    }
    public func tenant(name: String) async throws -> Tenant? { try await run { try $0.tenant(name: name) } }
    public func listTenants() async throws -> [Tenant] { try await run { try $0.listTenants() } }
    public func setQuota(tenant name: String, _ quota: Quota) async throws -> Tenant {
        try await run { try $0.setQuota(tenant: name, quota) }
    }
    public func deleteTenant(name: String) async throws { try await run { try $0.deleteTenant(name: name) } }

    // MARK: API tokens
    public func createToken(kind: TokenKind, tenant: String?, nowMs: Int64) async throws -> (id: String, secret: String) {
        let made = try await run { db -> Pair<String, String> in
            let t = try db.createToken(kind: kind, tenant: tenant, nowMs: nowMs)
            return Pair(t.id, t.secret)
        }
        return (made.first, made.second)
    }
    public func authenticate(token: String) async throws -> Principal? { try await run { try $0.authenticate(token: token) } }
    public func revokeToken(id: String) async throws { try await run { try $0.revokeToken(id: id) } }
    public func listTokens(kind: TokenKind?, tenant: String?, includeRevoked: Bool) async throws -> [TokenRecord] {
        try await run { try $0.listTokens(kind: kind, tenant: tenant, includeRevoked: includeRevoked) }
    }

    // MARK: join tokens
    public func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String, nowMs: Int64
    ) async throws -> (record: JoinTokenRecord, secret: String) {
        let made = try await run { db -> Pair<JoinTokenRecord, String> in
            let t = try db.createJoinToken(role: role, ttlSeconds: ttlSeconds, description: description, nowMs: nowMs)
            return Pair(t.record, t.secret)
        }
        return (made.first, made.second)
    }
    public func listJoinTokens() async throws -> [JoinTokenRecord] { try await run { try $0.listJoinTokens() } }
    public func joinToken(id: String) async throws -> JoinTokenRecord? { try await run { try $0.joinToken(id: id) } }
    public func revokeJoinToken(id: String, nowMs: Int64) async throws -> JoinTokenRecord {
        try await run { try $0.revokeJoinToken(id: id, nowMs: nowMs) }
    }
    public func validateJoinToken(id: String, secret: String, nowMs: Int64) async throws -> JoinTokenRecord {
        try await run { try $0.validateJoinToken(id: id, secret: secret, nowMs: nowMs) }
    }
    public func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole, serial: String,
        nowMs: Int64
    ) async throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord) {
        let done = try await run { db -> Pair<JoinTokenRecord, NodeIdentityRecord> in
            let r = try db.completeJoin(
                tokenID: tokenID, secret: secret, nodeName: nodeName, fingerprint: fingerprint, role: role,
                serial: serial, nowMs: nowMs)
            return Pair(r.token, r.identity)
        }
        return (done.first, done.second)
    }

    // MARK: node identities
    public func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String?, tokenID: String?, nowMs: Int64
    ) async throws -> NodeIdentityRecord {
        try await run {
            try $0.registerIdentity(
                name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: nowMs)
        }
    }
    public func recordRenewal(name: String, fingerprint: String, serial: String, nowMs: Int64) async throws -> NodeIdentityRecord {
        try await run { try $0.recordRenewal(name: name, fingerprint: fingerprint, serial: serial, nowMs: nowMs) }
    }
    public func identity(name: String) async throws -> NodeIdentityRecord? { try await run { try $0.identity(name: name) } }
    public func listIdentities() async throws -> [NodeIdentityRecord] { try await run { try $0.listIdentities() } }
    public func removeIdentity(name: String) async throws { try await run { try $0.removeIdentity(name: name) } }

    // MARK: nodes
    public func upsertNode(_ node: NodeInfo, keepCordon: Bool, nowMs: Int64) async throws -> NodeInfo {
        try await run { try $0.upsertNode(node, keepCordon: keepCordon, nowMs: nowMs) }
    }
    public func node(name: String) async throws -> NodeInfo? { try await run { try $0.node(name: name) } }
    public func listNodes() async throws -> [NodeInfo] { try await run { try $0.listNodes() } }
    public func setCordoned(name: String, _ cordoned: Bool) async throws {
        try await run { try $0.setCordoned(name: name, cordoned) }
    }
    public func setNodeState(name: String, _ state: NodeCondition, nowMs: Int64) async throws {
        try await run { try $0.setNodeState(name: name, state, nowMs: nowMs) }
    }
    public func deleteNode(name: String) async throws { try await run { try $0.deleteNode(name: name) } }

    // MARK: workloads
    public func insertWorkload(_ workload: Workload, event: WorkloadEvent?) async throws {
        try await run { try $0.insertWorkload(workload, event: event) }
    }
    public func insertWorkloads(_ new: [NewWorkload]) async throws -> [StoreError?] {
        try await run { try $0.insertWorkloads(new) }
    }
    public func workload(tenant: String, idempotencyKey: String) async throws -> Workload? {
        try await run { try $0.workload(tenant: tenant, idempotencyKey: idempotencyKey) }
    }
    public func workload(id: String, includeInputs: Bool) async throws -> Workload? {
        try await run { try $0.workload(id: id, includeInputs: includeInputs) }
    }
    public func listWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?, limit: Int?) async throws -> [Workload] {
        try await run { try $0.listWorkloads(tenant: tenant, states: states, node: node, limit: limit) }
    }
    public func countWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?) async throws -> Int {
        try await run { try $0.countWorkloads(tenant: tenant, states: states, node: node) }
    }
    public func update(
        id: String, event: WorkloadEvent?, _ mutate: @escaping @Sendable (inout Workload) throws -> Void
    ) async throws -> Workload {
        try await run { try $0.update(id: id, event: event, mutate) }
    }
    public func appendEvent(workloadID: String, _ event: WorkloadEvent) async throws {
        try await run { try $0.appendEvent(workloadID: workloadID, event) }
    }
    public func events(workloadID: String) async throws -> [WorkloadEvent] { try await run { try $0.events(workloadID: workloadID) } }
    public func inputs(id: String) async throws -> [String: [UInt8]] { try await run { try $0.inputs(id: id) } }
    public func inputs(ids: [String]) async throws -> [String: [String: [UInt8]]] {
        try await run { try $0.inputs(ids: ids) }
    }
    public func deleteWorkload(id: String) async throws { try await run { try $0.deleteWorkload(id: id) } }

    // MARK: workflows
    public func insertWorkflow(_ record: WorkflowRecord) async throws { try await run { try $0.insertWorkflow(record) } }
    public func workflow(id: String, tenant: String?) async throws -> WorkflowRecord? {
        try await run { try $0.workflow(id: id, tenant: tenant) }
    }
    public func listWorkflows(tenant: String?, phases: Set<WorkflowPhase>?) async throws -> [WorkflowRecord] {
        try await run { try $0.listWorkflows(tenant: tenant, phases: phases) }
    }
    public func updateWorkflow(id: String, state: String, phase: WorkflowPhase, updatedAtMs: Int64, finishedAtMs: Int64?) async throws {
        try await run { try $0.updateWorkflow(id: id, state: state, phase: phase, updatedAtMs: updatedAtMs, finishedAtMs: finishedAtMs) }
    }

    // MARK: placements
    public func recordPlacements(_ placements: [Placement], nowMs: Int64) async throws -> [String] {
        try await run { try $0.recordPlacements(placements, nowMs: nowMs) }
    }
}

/// Two Sendable values (a tuple of them is not `Sendable`-checked through a generic).
private struct Pair<A: Sendable, B: Sendable>: Sendable {
    let first: A
    let second: B
    init(_ first: A, _ second: B) {
        self.first = first
        self.second = second
    }
}
