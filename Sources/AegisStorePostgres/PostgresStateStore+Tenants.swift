// PostgresStateStore+Tenants.swift — tenants: name, quota, the uid their agents run as (from the
// `tenant_uid` counter, never reused), as AegisStore's Tenants.swift does it on SQLite.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO

extension PostgresStateStore {
    public func createTenant(name: String, quota: Quota, nowMs: Int64) async throws -> Tenant {
        try ControlStore.validateTenantName(name)
        let logger = self.logger
        return try await write("create tenant \(name)") { [self] connection in
            if try await Self.tenantExists(connection, name, logger) { throw StoreError(.alreadyExists, "tenant \(name) already exists") }
            return try await Self.insertTenant(connection, name: name, quota: quota, nowMs: nowMs, logger)
        }
    }

    public func tenant(name: String) async throws -> Tenant? {
        let logger = self.logger
        return try await read("read tenant \(name)") { [self] connection in
            try await Self.fetchTenant(connection, name, logger)
        }
    }

    public func listTenants() async throws -> [Tenant] {
        let logger = self.logger
        return try await read("list tenants") { [self] connection in
            let rows = try await connection.query("SELECT \(unescaped: Self.tenantColumns) FROM tenants ORDER BY name", logger: logger)
            var out: [Tenant] = []
            for try await row in rows { out.append(try Self.tenant(from: row)) }
            return out
        }
    }

    public func setQuota(tenant name: String, _ quota: Quota) async throws -> Tenant {
        let logger = self.logger
        return try await write("set quota of tenant \(name)") { [self] connection in
            let rows = try await connection.query(
                """
                UPDATE tenants SET quota_cpu_millis = \(quota.cpuMillis), quota_memory_bytes = \(quota.memoryBytes),
                    quota_gpus = \(quota.gpus.map(Int64.init)), quota_running_agents = \(quota.runningAgents.map(Int64.init))
                WHERE name = \(name)
                RETURNING \(unescaped: Self.tenantColumns)
                """, logger: logger)
            for try await row in rows { return try Self.tenant(from: row) }
            throw StoreError(.notFound, "tenant \(name) does not exist")
        }
    }

    public func deleteTenant(name: String) async throws {
        let logger = self.logger
        let finals = WorkloadState.allCases.filter(\.isFinal).map(\.rawValue)
        try await write("delete tenant \(name)") { [self] connection in
            guard try await Self.tenantExists(connection, name, logger) else {
                throw StoreError(.notFound, "tenant \(name) does not exist")
            }
            let active = try await Self.count(
                connection,
                "SELECT COUNT(*) FROM workloads WHERE tenant = \(name) AND NOT (state = ANY(\(finals)))", logger)
            if active > 0 {
                throw StoreError(.conflict, "tenant \(name) has \(active) active workload(s); cancel them before deleting the tenant")
            }
            try await connection.query("DELETE FROM tenants WHERE name = \(name)", logger: logger)
        }
    }

    // MARK: - internals

    static let tenantColumns = "name, uid, quota_cpu_millis, quota_memory_bytes, quota_gpus, quota_running_agents, created_ms"

    static func tenant(from row: PostgresRow) throws -> Tenant {
        let (name, uid, cpu, memory, gpus, running, created) = try row.decode(
            (String, Int64, Int64?, Int64?, Int64?, Int64?, Int64).self)
        return Tenant(
            name: name,
            quota: Quota(cpuMillis: cpu, memoryBytes: memory, gpus: gpus.map { Int($0) }, runningAgents: running.map { Int($0) }),
            uid: UInt32(truncatingIfNeeded: uid), createdAtMs: created)
    }

    static func fetchTenant(_ connection: PostgresConnection, _ name: String, _ logger: Logger) async throws -> Tenant? {
        let rows = try await connection.query(
            "SELECT \(unescaped: tenantColumns) FROM tenants WHERE name = \(name)", logger: logger)
        for try await row in rows { return try tenant(from: row) }
        return nil
    }

    static func tenantExists(_ connection: PostgresConnection, _ name: String, _ logger: Logger) async throws -> Bool {
        try await count(connection, "SELECT COUNT(*) FROM tenants WHERE name = \(name)", logger) > 0
    }

    /// The one integer a `SELECT COUNT(*) …` returns.
    static func count(_ connection: PostgresConnection, _ query: PostgresQuery, _ logger: Logger) async throws -> Int {
        for try await n in try await connection.query(query, logger: logger).decode(Int64.self) { return Int(n) }
        return 0
    }

    /// Inserts a tenant with the next uid: the counter is raised in the same statement that reads
    /// it, so concurrent creations never share a uid.
    static func insertTenant(
        _ connection: PostgresConnection, name: String, quota: Quota, nowMs: Int64, _ logger: Logger
    ) async throws -> Tenant {
        var next: Int64 = 1
        let rows = try await connection.query(
            """
            INSERT INTO counters (name, value) VALUES ('tenant_uid', 1)
            ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
            RETURNING value
            """, logger: logger)
        for try await value in rows.decode(Int64.self) { next = value }
        let n = next - 1
        let uid64 = Int64(ControlStore.tenantUIDBase) + n * Int64(ControlStore.tenantUIDStride)
        guard uid64 < Int64(UInt32.max) else {
            throw StoreError(.conflict, "tenant uid space exhausted (next uid \(uid64) does not fit in 32 bits)")
        }
        let t = Tenant(name: name, quota: quota, uid: UInt32(uid64), createdAtMs: nowMs)
        try await connection.query(
            """
            INSERT INTO tenants (name, uid, quota_cpu_millis, quota_memory_bytes, quota_gpus, quota_running_agents, created_ms)
            VALUES (\(name), \(uid64), \(quota.cpuMillis), \(quota.memoryBytes), \(quota.gpus.map(Int64.init)),
                    \(quota.runningAgents.map(Int64.init)), \(nowMs))
            """, logger: logger)
        return t
    }
}
