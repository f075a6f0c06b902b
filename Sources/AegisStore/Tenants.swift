// Tenants.swift — tenant records: name, quota, the unprivileged uid their agents run as.
import GRDB
import AegisProtocol

extension ControlStore {
    /// Checks a tenant name: `[a-z0-9][a-z0-9-]{0,62}` (1–63 characters, a DNS-label-like name so it
    /// can appear in cgroup paths, hostnames and URLs).
    /// - Throws: `StoreError(.invalidArgument)` naming the offending character or length.
    public static func validateTenantName(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw StoreError(.invalidArgument, "tenant name is empty; expected [a-z0-9][a-z0-9-]{0,62}") }
        guard bytes.count <= 63 else {
            throw StoreError(.invalidArgument, "tenant name \"\(name)\" is \(bytes.count) characters; at most 63 allowed")
        }
        for (i, b) in bytes.enumerated() {
            let alnum = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
            if alnum || (b == 0x2d && i > 0) { continue }
            let what = i == 0 && b == 0x2d ? "may not start with '-'" : "has invalid character at offset \(i)"
            throw StoreError(.invalidArgument, "tenant name \"\(name)\" \(what); expected [a-z0-9][a-z0-9-]{0,62}")
        }
    }

    /// Creates a tenant with the next uid (`tenantUIDBase + n·tenantUIDStride`).
    /// - Throws: `.invalidArgument` (bad name), `.alreadyExists`, `.database`.
    @discardableResult
    public func createTenant(name: String, quota: Quota = Quota(), nowMs: Int64 = ControlStore.nowMs()) throws -> Tenant {
        try Self.validateTenantName(name)
        return try write("create tenant \(name)") { db in
            if try Self.tenantExists(db, name) { throw StoreError(.alreadyExists, "tenant \(name) already exists") }
            return try Self.insertTenant(db, name: name, quota: quota, nowMs: nowMs)
        }
    }

    /// The tenant named `name`, or nil.
    public func tenant(name: String) throws -> Tenant? {
        try read("read tenant \(name)") { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.tenantColumns) FROM tenants WHERE name = ?"), arguments: [name]).map(
                Self.tenant(from:))
        }
    }

    /// All tenants, ordered by name.
    public func listTenants() throws -> [Tenant] {
        try read("list tenants") { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.tenantColumns) FROM tenants ORDER BY name")).map(Self.tenant(from:))
        }
    }

    /// Replaces a tenant's quota. - Returns: the updated tenant. - Throws: `.notFound`.
    @discardableResult
    public func setQuota(tenant name: String, _ quota: Quota) throws -> Tenant {
        try write("set quota of tenant \(name)") { db in
            try db.execute(
                sql: """
                    UPDATE tenants SET quota_cpu_millis = ?, quota_memory_bytes = ?, quota_gpus = ?, quota_running_agents = ?
                    WHERE name = ?
                    """, arguments: [quota.cpuMillis, quota.memoryBytes, quota.gpus, quota.runningAgents, name])
            guard db.changesCount == 1,
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT \(Self.tenantColumns) FROM tenants WHERE name = ?"), arguments: [name])
            else { throw StoreError(.notFound, "tenant \(name) does not exist") }
            return Self.tenant(from: row)
        }
    }

    /// Deletes a tenant with its tokens and its finished workloads (and their inputs and events).
    /// Its uid is not reused.
    /// - Throws: `.notFound`; `.conflict` while any of its workloads is pending, scheduled or running.
    public func deleteTenant(name: String) throws {
        try write("delete tenant \(name)") { db in
            guard try Self.tenantExists(db, name) else { throw StoreError(.notFound, "tenant \(name) does not exist") }
            let finals = WorkloadState.allCases.filter(\.isFinal).map(\.rawValue)
            let active =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM workloads WHERE tenant = ? AND state NOT IN (\(finals.map { _ in "?" }.joined(separator: ",")))
                        """, arguments: StatementArguments([name] + finals)) ?? 0
            if active > 0 {
                throw StoreError(.conflict, "tenant \(name) has \(active) active workload(s); cancel them before deleting the tenant")
            }
            try db.cachedStatement(sql: "DELETE FROM tenants WHERE name = ?").execute(arguments: [name])
        }
    }

    // MARK: - internals

    static let tenantColumns = "name, uid, quota_cpu_millis, quota_memory_bytes, quota_gpus, quota_running_agents, created_ms"

    static func tenant(from row: Row) -> Tenant {
        Tenant(
            name: row["name"],
            quota: Quota(
                cpuMillis: row["quota_cpu_millis"], memoryBytes: row["quota_memory_bytes"],
                gpus: row["quota_gpus"], runningAgents: row["quota_running_agents"]),
            uid: row["uid"], createdAtMs: row["created_ms"])
    }

    static func tenantExists(_ db: Database, _ name: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM tenants WHERE name = ?)"), arguments: [name]) ?? false
    }

    static func insertTenant(_ db: Database, name: String, quota: Quota, nowMs: Int64) throws -> Tenant {
        let n = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = 'tenant_uid'")) ?? 0
        let uid64 = Int64(tenantUIDBase) + n * Int64(tenantUIDStride)
        guard uid64 < Int64(UInt32.max) else {
            throw StoreError(.conflict, "tenant uid space exhausted (next uid \(uid64) does not fit in 32 bits)")
        }
        try db.execute(
            sql: "INSERT INTO counters(name, value) VALUES ('tenant_uid', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            arguments: [n + 1])
        let t = Tenant(name: name, quota: quota, uid: UInt32(uid64), createdAtMs: nowMs)
        try db.execute(
            sql: """
                INSERT INTO tenants(name, uid, quota_cpu_millis, quota_memory_bytes, quota_gpus, quota_running_agents, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [t.name, t.uid, quota.cpuMillis, quota.memoryBytes, quota.gpus, quota.runningAgents, nowMs])
        return t
    }
}
