// PostgresStateStore.swift — the PostgreSQL backend of `ControlStateStore`: one PostgresClient
// (postgres-nio's bounded connection pool) run by a task the store owns and ends in `close()`.
// Every read runs on a pooled connection; every write is one transaction that first passes the
// `WriteFence` (the leader epoch check). Migrations: PostgresSchema.swift.
import AegisProtocol
import AegisStore
import Logging
import PostgresNIO
import Synchronization

public final class PostgresStateStore: ControlStateStore {
    public let backend = "postgres"
    /// PostgreSQL keeps no file of the controller's: there is no data directory to report.
    public var dataDirectory: String? { nil }

    /// The pool every query runs on (also used by LeaderLease and the migration tool).
    public let client: PostgresClient
    /// The leader epoch every write checks (`.unfenced` until a LeaderLease takes it over).
    public let fence: WriteFence
    let hasher: any TokenHasher
    let logger: Logger
    /// Decoded specs by the stored text they came from (a re-read row skips its JSON decode).
    let specs = SpecCache()
    /// The task running `client.run()`; cancelled by `close()`.
    private let runner: Mutex<Task<Void, Never>?>

    /// Starts the pool and applies migrations.
    /// - Parameters:
    ///   - configuration: where and how to connect (`PostgresDatastore.clientConfiguration()`).
    ///   - hasher: token hash used by createToken/authenticate (SHA-256 in production).
    ///   - fence: the write fence (default: unfenced, for one controller without election).
    /// - Throws: `StoreError(.database)` naming the step when PostgreSQL cannot be reached or a
    ///   migration fails; `StoreError(.schemaTooNew)` when the database has migrations this build
    ///   does not know.
    public init(
        configuration: PostgresClient.Configuration, hasher: any TokenHasher, fence: WriteFence = WriteFence(),
        logger: Logger = Logger(label: "aegis.store.postgres")
    ) async throws {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.hasher = hasher
        self.fence = fence
        self.logger = logger
        // Started immediately: run() is active before the first lease (no "run() hasn't been called" warning).
        self.runner = Mutex(Task.immediate { await client.run() })
        do {
            try await PostgresSchema.migrate(client: client, logger: logger)
        } catch {
            runner.withLock { $0?.cancel() }
            throw StoreError.wrappingPostgres(error, "opening the PostgreSQL datastore")
        }
    }

    /// Probes the datastore with one connection (a failure names its cause at once: refused,
    /// TLS, wrong password, no such database), then starts the pool and applies migrations.
    /// - Throws: as `PostgresDatastore.probe(logger:)` and `init(configuration:hasher:fence:logger:)`.
    public convenience init(
        datastore: PostgresDatastore, hasher: any TokenHasher, fence: WriteFence = WriteFence(),
        logger: Logger = Logger(label: "aegis.store.postgres")
    ) async throws {
        try await datastore.probe(logger: logger)
        try await self.init(configuration: datastore.clientConfiguration(), hasher: hasher, fence: fence, logger: logger)
    }

    public func close() async throws {
        let task = runner.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        task?.cancel()
        await task?.value
    }

    /// How long one call may wait for PostgreSQL before it fails as `.unreachable` (a paused or
    /// partitioned server never answers by itself). The call's query is abandoned, not undone: a
    /// write already sent may still commit when the server answers (under the same fence).
    public static let defaultOperationTimeout: Duration = .seconds(10)
    var operationTimeout: Duration { Self.defaultOperationTimeout }

    /// Runs `body` on a pooled connection (no transaction: one statement, or reads that tolerate
    /// seeing commits between them). Errors become StoreError naming `what`; a `JoinTokenError`
    /// or a `CallerError` passes through as the error it carries.
    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await bounded(operationTimeout) { try await client.withConnection { try await body($0) } }
        } catch {
            throw Self.outcome(of: error, what)
        }
    }

    /// Runs `body` in one transaction that first passes the write fence; rolled back when `body`
    /// or the fence throws. Every state-changing method of this store goes through here.
    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let (fence, logger, client) = (self.fence, self.logger, self.client)
        do {
            return try await bounded(operationTimeout) {
                try await client.withTransaction(logger: logger) { connection in
                    try await fence.check(on: connection, logger: logger, what: what)
                    return try await body(connection)
                }
            }
        } catch {
            throw Self.outcome(of: error, what)
        }
    }

    /// The error a method throws for `error`: the caller's own errors (a join token refusal, what
    /// `update`'s closure threw) unwrapped, everything else a StoreError naming `what`.
    static func outcome(of error: any Error, _ what: String) -> any Error {
        var inner = error
        if let t = error as? PostgresTransactionError, let closure = t.closureError { inner = closure }
        if let e = inner as? JoinTokenError { return e }
        if let e = inner as? CallerError { return e.error }
        return StoreError.wrappingPostgres(inner, what)
    }

    // MARK: bootstrap

    /// pg_advisory_xact_lock key of `bootstrap`: "aegisb" in ASCII.
    static let bootstrapLockKey: Int64 = 0x6165_6769_7362

    public func bootstrap(nowMs: Int64) async throws -> Bool {
        try await write("bootstrap") { [self] connection in
            // Controllers starting together: one creates the tenant, the others then see it.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.bootstrapLockKey))", logger: logger)
            if try await Self.tenantExists(connection, ControlStore.defaultTenant, logger) { return false }
            _ = try await Self.insertTenant(connection, name: ControlStore.defaultTenant, quota: Quota(), nowMs: nowMs, logger)
            return true
        }
    }
}

/// An error of the caller's own code run inside a transaction (`update`'s closure): the store
/// rethrows `error` as is, not as a database failure.
struct CallerError: Error {
    let error: any Error
}

extension StoreError {
    /// Wraps a postgres-nio error (or anything else) with the operation; keeps a StoreError as is.
    /// PostgreSQL's SQLSTATE and message are named when the server sent them.
    static func wrappingPostgres(_ error: any Error, _ what: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? PostgresTransactionError {
            if let inner = e.closureError ?? e.beginError ?? e.commitError { return wrappingPostgres(inner, what) }
        }
        if let e = error as? PSQLError {
            if let fields = e.serverInfo, let code = fields[.sqlState] {
                let message = fields[.message] ?? "no message"
                let kind: StoreError.Kind = code == "23505" ? .alreadyExists : .database
                return StoreError(kind, "\(what): PostgreSQL error \(code): \(message)")
            }
            let cause = e.underlying.map { ": \($0)" } ?? ""
            return StoreError(.unreachable, "\(what): PostgreSQL connection: \(e.code.description)\(cause)")
        }
        return StoreError(.database, "\(what): \(error)")
    }
}
