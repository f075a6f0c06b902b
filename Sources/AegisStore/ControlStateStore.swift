// ControlStateStore.swift — what the controller needs from its durable state, as an async protocol:
// tenants, API tokens, join tokens, node identities, nodes, workloads (+ inputs, events),
// placements and workflow runs. Backends: SQLite (`SQLiteStateStore`, one file, for single-controller clusters) and,
// in its own issue, PostgreSQL. Every backend passes Tests/AegisStoreTests (the conformance suite).
//
// Contract every backend keeps (the suite checks each point):
// - every method is one transaction: it applies entirely or not at all;
// - errors are `StoreError` with the kinds documented on each method, naming the object;
// - calls never run their I/O on the caller's executor (the controller actor stays free);
// - token and join-token secrets are stored only as `TokenHasher.hash(secret)`.
import AegisProtocol

public protocol ControlStateStore: AnyObject, Sendable {
    /// Backend name for logs and `aegis debug`: "sqlite", "postgres".
    var backend: String { get }
    /// Directory holding the store's files (the controller keeps `pki/` next to them); nil for a
    /// backend without local files.
    var dataDirectory: String? { get }

    /// First-start setup, idempotent: creates the `default` tenant if missing. Returns whether it did.
    func bootstrap(nowMs: Int64) async throws -> Bool
    /// Releases the backend's connections; later calls throw `.database`.
    func close() async throws

    // MARK: tenants
    /// - Throws: `.invalidArgument` (name), `.alreadyExists`.
    func createTenant(name: String, quota: Quota, nowMs: Int64) async throws -> Tenant
    func tenant(name: String) async throws -> Tenant?
    /// Every tenant, by name.
    func listTenants() async throws -> [Tenant]
    /// - Throws: `.notFound`.
    func setQuota(tenant name: String, _ quota: Quota) async throws -> Tenant
    /// - Throws: `.notFound`; `.conflict` while it has active workloads.
    func deleteTenant(name: String) async throws

    // MARK: API tokens
    /// A new token; only its hash is stored. - Throws: `.invalidArgument` (kind/tenant mismatch), `.notFound`.
    func createToken(kind: TokenKind, tenant: String?, nowMs: Int64) async throws -> (id: String, secret: String)
    /// The principal of a live token; nil for an unknown or revoked one.
    func authenticate(token: String) async throws -> Principal?
    /// - Throws: `.notFound`.
    func revokeToken(id: String) async throws
    func listTokens(kind: TokenKind?, tenant: String?, includeRevoked: Bool) async throws -> [TokenRecord]

    // MARK: join tokens
    /// - Throws: `.invalidArgument` (ttl outside 1 s … the bound, description too long).
    func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String, nowMs: Int64
    ) async throws -> (record: JoinTokenRecord, secret: String)
    func listJoinTokens() async throws -> [JoinTokenRecord]
    func joinToken(id: String) async throws -> JoinTokenRecord?
    /// - Throws: `.notFound`.
    func revokeJoinToken(id: String, nowMs: Int64) async throws -> JoinTokenRecord
    /// - Throws: `JoinTokenError` (unknown, wrong secret, expired, revoked, used).
    func validateJoinToken(id: String, secret: String, nowMs: Int64) async throws -> JoinTokenRecord
    /// Marks the token used and records the node's identity in one transaction.
    /// - Throws: `JoinTokenError`; `.alreadyExists` when the name is taken by another key.
    func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole, serial: String,
        nowMs: Int64
    ) async throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord)

    // MARK: node identities
    func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String?, tokenID: String?, nowMs: Int64
    ) async throws -> NodeIdentityRecord
    /// - Throws: `.notFound`.
    func recordRenewal(name: String, fingerprint: String, serial: String, nowMs: Int64) async throws -> NodeIdentityRecord
    func identity(name: String) async throws -> NodeIdentityRecord?
    func listIdentities() async throws -> [NodeIdentityRecord]
    /// - Throws: `.notFound`.
    func removeIdentity(name: String) async throws

    // MARK: nodes
    /// Inserts or replaces a node row; `keepCordon` keeps a stored cordon. Returns the stored row.
    func upsertNode(_ node: NodeInfo, keepCordon: Bool, nowMs: Int64) async throws -> NodeInfo
    func node(name: String) async throws -> NodeInfo?
    func listNodes() async throws -> [NodeInfo]
    /// - Throws: `.notFound`.
    func setCordoned(name: String, _ cordoned: Bool) async throws
    /// - Throws: `.notFound`.
    func setNodeState(name: String, _ state: NodeCondition, nowMs: Int64) async throws
    /// - Throws: `.notFound`.
    func deleteNode(name: String) async throws

    // MARK: workloads
    /// - Throws: `.notFound` (tenant), `.alreadyExists` (id).
    func insertWorkload(_ workload: Workload, event: WorkloadEvent?) async throws
    /// Stores new workloads in ONE transaction; one outcome per workload, in order: nil when
    /// stored, the `.notFound` (tenant) or `.alreadyExists` (id) that kept it out (the others are
    /// stored all the same). - Throws: `.encoding`, `.database` (then none is stored).
    func insertWorkloads(_ new: [NewWorkload]) async throws -> [StoreError?]
    func workload(id: String, includeInputs: Bool) async throws -> Workload?
    /// The workload of `tenant` submitted with this idempotency key (`NewWorkload.idempotencyKey`),
    /// without inputs; nil when none.
    func workload(tenant: String, idempotencyKey: String) async throws -> Workload?
    /// Oldest first; nil filters match everything; `limit` caps the count.
    func listWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?, limit: Int?) async throws -> [Workload]
    func countWorkloads(tenant: String?, states: Set<WorkloadState>?, node: String?) async throws -> Int
    /// Reads, mutates and writes one workload (and appends `event`) in one transaction; an error
    /// thrown by `mutate` aborts it and is rethrown as is. - Throws: `.notFound`.
    func update(
        id: String, event: WorkloadEvent?, _ mutate: @escaping @Sendable (inout Workload) throws -> Void
    ) async throws -> Workload
    /// - Throws: `.notFound`.
    func appendEvent(workloadID: String, _ event: WorkloadEvent) async throws
    func events(workloadID: String) async throws -> [WorkloadEvent]
    /// The workload's input files (name → bytes).
    func inputs(id: String) async throws -> [String: [UInt8]]
    /// The input files of several workloads in one read: id → (name → bytes), empty for none.
    func inputs(ids: [String]) async throws -> [String: [String: [UInt8]]]
    /// - Throws: `.notFound`.
    func deleteWorkload(id: String) async throws

    // MARK: workflows
    /// Stores a new workflow run. - Throws: `.notFound` (tenant), `.alreadyExists` (id).
    func insertWorkflow(_ record: WorkflowRecord) async throws
    /// The workflow `id`; nil when there is none, or when `tenant` is given and it is another's.
    func workflow(id: String, tenant: String?) async throws -> WorkflowRecord?
    /// Workflows, oldest first; nil filters match every tenant or phase.
    func listWorkflows(tenant: String?, phases: Set<WorkflowPhase>?) async throws -> [WorkflowRecord]
    /// Replaces a workflow's run state and phase. - Throws: `.notFound`.
    func updateWorkflow(id: String, state: String, phase: WorkflowPhase, updatedAtMs: Int64, finishedAtMs: Int64?) async throws

    // MARK: placements
    /// Applies scheduler decisions in ONE transaction (see `Placement` for the rule each must
    /// pass). Returns the ids refused.
    func recordPlacements(_ placements: [Placement], nowMs: Int64) async throws -> [String]
}

/// The defaults callers use (protocol requirements cannot have default arguments).
extension ControlStateStore {
    @discardableResult
    public func bootstrap() async throws -> Bool { try await bootstrap(nowMs: ControlStore.nowMs()) }
    public func createTenant(name: String, quota: Quota = Quota()) async throws -> Tenant {
        try await createTenant(name: name, quota: quota, nowMs: ControlStore.nowMs())
    }
    public func createToken(kind: TokenKind, tenant: String? = nil) async throws -> (id: String, secret: String) {
        try await createToken(kind: kind, tenant: tenant, nowMs: ControlStore.nowMs())
    }
    public func listTokens(kind: TokenKind? = nil, tenant: String? = nil) async throws -> [TokenRecord] {
        try await listTokens(kind: kind, tenant: tenant, includeRevoked: true)
    }
    public func createJoinToken(
        role: NodeRole, ttlSeconds: Int64, description: String = ""
    ) async throws -> (record: JoinTokenRecord, secret: String) {
        try await createJoinToken(role: role, ttlSeconds: ttlSeconds, description: description, nowMs: ControlStore.nowMs())
    }
    public func revokeJoinToken(id: String) async throws -> JoinTokenRecord {
        try await revokeJoinToken(id: id, nowMs: ControlStore.nowMs())
    }
    public func validateJoinToken(id: String, secret: String) async throws -> JoinTokenRecord {
        try await validateJoinToken(id: id, secret: secret, nowMs: ControlStore.nowMs())
    }
    public func completeJoin(
        tokenID: String, secret: String, nodeName: String, fingerprint: String, role: NodeRole, serial: String
    ) async throws -> (token: JoinTokenRecord, identity: NodeIdentityRecord) {
        try await completeJoin(
            tokenID: tokenID, secret: secret, nodeName: nodeName, fingerprint: fingerprint, role: role, serial: serial,
            nowMs: ControlStore.nowMs())
    }
    public func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String? = nil, tokenID: String? = nil
    ) async throws -> NodeIdentityRecord {
        try await registerIdentity(
            name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: tokenID, nowMs: ControlStore.nowMs())
    }
    public func recordRenewal(name: String, fingerprint: String, serial: String) async throws -> NodeIdentityRecord {
        try await recordRenewal(name: name, fingerprint: fingerprint, serial: serial, nowMs: ControlStore.nowMs())
    }
    @discardableResult
    public func upsertNode(_ node: NodeInfo, keepCordon: Bool = true) async throws -> NodeInfo {
        try await upsertNode(node, keepCordon: keepCordon, nowMs: ControlStore.nowMs())
    }
    public func setNodeState(name: String, _ state: NodeCondition) async throws {
        try await setNodeState(name: name, state, nowMs: ControlStore.nowMs())
    }
    public func insertWorkload(_ workload: Workload) async throws { try await insertWorkload(workload, event: nil) }
    public func workload(id: String) async throws -> Workload? { try await workload(id: id, includeInputs: false) }
    public func listWorkloads(
        tenant: String? = nil, states: Set<WorkloadState>? = nil, node: String? = nil
    ) async throws -> [Workload] {
        try await listWorkloads(tenant: tenant, states: states, node: node, limit: nil)
    }
    public func countWorkloads(tenant: String? = nil, states: Set<WorkloadState>? = nil) async throws -> Int {
        try await countWorkloads(tenant: tenant, states: states, node: nil)
    }
    @discardableResult
    public func update(id: String, _ mutate: @escaping @Sendable (inout Workload) throws -> Void) async throws -> Workload {
        try await update(id: id, event: nil, mutate)
    }
    public func createToken(kind: TokenKind, nowMs: Int64) async throws -> (id: String, secret: String) {
        try await createToken(kind: kind, tenant: nil, nowMs: nowMs)
    }
    public func listTokens(includeRevoked: Bool) async throws -> [TokenRecord] {
        try await listTokens(kind: nil, tenant: nil, includeRevoked: includeRevoked)
    }
    public func createJoinToken(role: NodeRole, ttlSeconds: Int64, nowMs: Int64) async throws -> (record: JoinTokenRecord, secret: String) {
        try await createJoinToken(role: role, ttlSeconds: ttlSeconds, description: "", nowMs: nowMs)
    }
    @discardableResult
    public func registerIdentity(
        name: String, fingerprint: String, role: NodeRole, serial: String? = nil, nowMs: Int64
    ) async throws -> NodeIdentityRecord {
        try await registerIdentity(name: name, fingerprint: fingerprint, role: role, serial: serial, tokenID: nil, nowMs: nowMs)
    }
    public func listWorkloads(limit: Int) async throws -> [Workload] {
        try await listWorkloads(tenant: nil, states: nil, node: nil, limit: limit)
    }
    public func countWorkloads(states: Set<WorkloadState>? = nil, node: String) async throws -> Int {
        try await countWorkloads(tenant: nil, states: states, node: node)
    }
    @discardableResult
    public func recordPlacements(_ placements: [Placement]) async throws -> [String] {
        try await recordPlacements(placements, nowMs: ControlStore.nowMs())
    }
}
