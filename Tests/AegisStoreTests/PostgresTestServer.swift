// PostgresTestServer.swift — a throwaway PostgreSQL cluster for this test process: initdb into a
// temporary directory owned by `postgres` (the binaries refuse to run as root: as root they run
// through runuser), started on 127.0.0.1 at a free port and on a unix socket in that directory,
// stopped and removed at process exit (atexit). Trust authentication, except for one role that
// must log in with a password (`passwordRole`), to exercise that path.
//
// Each test that opens a store gets a database of its own (`createDatabase()`), dropped in
// tearDown. PostgreSQL 15 from Debian (`apt-get install postgresql`) is expected in
// /usr/lib/postgresql/15/bin (AEGIS_PG_BIN overrides); without it the postgres pass fails with a
// message saying so.
import AegisStore
import AegisStorePostgres
import Foundation
import PostgresNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct PostgresTestServerError: Error, CustomStringConvertible {
    var description: String
}

final class PostgresTestServer: Sendable {
    /// The cluster of this process, started on first use; its failure is every later caller's too.
    static let shared: Result<PostgresTestServer, any Error> = Result { try PostgresTestServer() }

    /// The running server, or the error that kept it from starting.
    static func get() throws -> PostgresTestServer { try shared.get() }

    let binDirectory: String
    /// Holds `data/` (the cluster), `sock/` (the unix socket), `server.log`.
    let directory: String
    let port: Int
    var socketDirectory: String { directory + "/sock" }
    /// A role that needs `password` (scram-sha-256) on every connection.
    let passwordRole = "aegis_pw"
    let password: String
    private let databases = Mutex(0)

    /// What `stopAtExit` stops (set once the server runs).
    private static let running = Mutex<(bin: String, directory: String)?>(nil)

    private init() throws(PostgresTestServerError) {
        let bin = ProcessInfo.processInfo.environment["AEGIS_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
        for tool in ["initdb", "pg_ctl", "postgres"] where !FileManager.default.isExecutableFile(atPath: "\(bin)/\(tool)") {
            throw PostgresTestServerError(
                description:
                    "AEGIS_STORE_BACKEND=postgres needs PostgreSQL's server binaries, but \(bin)/\(tool) is missing: "
                    + "install Debian's postgresql (apt-get install postgresql) or point AEGIS_PG_BIN at a bin directory")
        }
        binDirectory = bin
        var template = Array("/tmp/aegis-pg-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw PostgresTestServerError(description: "mkdtemp for the PostgreSQL cluster failed: errno \(errno)")
        }
        directory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        password = bytes.map { String($0, radix: 16) }.joined() + "-Pw"
        port = try Self.freePort()
        do {
            try setUp()
        } catch {
            Self.stop(bin: bin, directory: directory)
            throw error
        }
    }

    private func setUp() throws(PostgresTestServerError) {
        mkdir(socketDirectory, 0o700)
        if geteuid() == 0 {
            guard let pw = getpwnam("postgres") else {
                throw PostgresTestServerError(description: "running as root, but there is no user postgres to run PostgreSQL as")
            }
            for path in [directory, socketDirectory] { chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        }
        try run(
            [
                "\(binDirectory)/initdb", "-D", "\(directory)/data", "-U", "postgres", "-E", "UTF8", "--locale=C", "-A", "trust",
                "--no-sync",
            ],
            "initdb")
        // The password role: a hex password needs no quoting.
        try run(
            ["\(binDirectory)/postgres", "--single", "-D", "\(directory)/data", "postgres"], "create the password role",
            input: "CREATE ROLE \(passwordRole) LOGIN CREATEDB PASSWORD '\(password)';\n")
        let hba = """
            local all \(passwordRole) scram-sha-256
            host  all \(passwordRole) 127.0.0.1/32 scram-sha-256
            local all all trust
            host  all all 127.0.0.1/32 trust

            """
        guard FileManager.default.createFile(atPath: "\(directory)/data/pg_hba.conf", contents: Data(hba.utf8)) else {
            throw PostgresTestServerError(description: "cannot write \(directory)/data/pg_hba.conf")
        }
        // Durability is not what these tests check: fsync off keeps the suite fast.
        let options = "-c listen_addresses=127.0.0.1 -p \(port) -k \(socketDirectory) -c max_connections=300 -c fsync=off"
        try run(
            [
                "\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60", "-o", options,
                "start",
            ],
            "pg_ctl start")
        Self.running.withLock { $0 = (binDirectory, directory) }
        atexit { PostgresTestServer.stopAtExit() }
        Self.startWatchdog(bin: binDirectory, directory: directory)
    }

    /// Stops the cluster and removes its directory (registered with atexit).
    static func stopAtExit() {
        guard let r = running.withLock({ $0 }) else { return }
        stop(bin: r.bin, directory: r.directory)
    }

    private static func stop(bin: String, directory: String) {
        if FileManager.default.fileExists(atPath: "\(directory)/data/postmaster.pid") {
            _ = try? runAsPostgres(["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"], input: nil)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - databases

    /// A new empty database (owned by `owner`), named for this process.
    func createDatabase(owner: String = "postgres") async throws -> String {
        let n = databases.withLock { n -> Int in
            n += 1
            return n
        }
        let name = "aegis_test_\(n)"
        try await admin("CREATE DATABASE \(name) OWNER \(owner)")
        return name
    }

    /// Drops a database, ending the sessions still connected to it.
    func dropDatabase(_ name: String) async throws {
        try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs `sql` (test-made text: identifiers cannot be bound) as the superuser in `database`.
    func admin(_ sql: String, database: String = "postgres") async throws {
        try await withClient(database: database) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// A pool to `database` as the superuser over the unix socket, running only during `body`.
    func withClient<T: Sendable>(
        database: String, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let config = PostgresClient.Configuration(
            unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: "postgres", password: nil, database: database)
        let client = PostgresClient(configuration: config)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        return try await body(client)
    }

    /// The datastore URL of `database` over the unix socket (trust), with extra parameters.
    func url(database: String, user: String = "postgres", parameters: String = "") -> String {
        "postgres://\(user)@:\(port)/\(database)?host=\(socketDirectory)\(parameters.isEmpty ? "" : "&" + parameters)"
    }

    /// The datastore URL of `database` over TCP on 127.0.0.1, TLS off (the server has none).
    func tcpURL(database: String, user: String, parameters: String = "") -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable\(parameters.isEmpty ? "" : "&" + parameters)"
    }

    /// A store on `database` (trust, unix socket).
    func openStore(database: String, parameters: String = "", fence: WriteFence = WriteFence()) async throws -> PostgresStateStore {
        let datastore = try PostgresDatastore(url: url(database: database, parameters: parameters), environment: [:])
        return try await PostgresStateStore(datastore: datastore, hasher: ToyHasher(), fence: fence)
    }

    // MARK: - processes

    private func run(_ argv: [String], _ step: String, input: String? = nil) throws(PostgresTestServerError) {
        do {
            try Self.runAsPostgres(argv, input: input)
        } catch {
            let log = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
            throw PostgresTestServerError(
                description: "PostgreSQL test server: \(step) failed: \(error)\(log.isEmpty ? "" : "\nserver.log:\n" + log)")
        }
    }

    /// Runs `argv` as user postgres (through runuser when root) in `/`, stdin from `input`, waits;
    /// throws with its output on failure. posix_spawn + waitpid: Foundation's Process can miss
    /// the exit of a child whose grandchild (the postmaster) lives on.
    @discardableResult
    private static func runAsPostgres(_ argv: [String], input: String?) throws -> String {
        let base = "/tmp/aegis-pg-io-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let inPath = base + ".in"
        let outPath = base + ".out"
        defer {
            unlink(inPath)
            unlink(outPath)
        }
        FileManager.default.createFile(atPath: inPath, contents: Data((input ?? "").utf8), attributes: [.posixPermissions: 0o644])
        let pid = try spawn(["/bin/sh", "-c", "cd / && exec \"$0\" \"$@\""] + asPostgres(argv), stdin: inPath, stdout: outPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw PostgresTestServerError(description: "\(argv.joined(separator: " ")) failed (wait status \(status)): \(output)")
        }
        return output
    }

    private static func asPostgres(_ argv: [String]) -> [String] {
        geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv : argv
    }

    /// Starts `argv` with stdin and stdout+stderr on these files; returns its pid.
    private static func spawn(_ argv: [String], stdin: String, stdout: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw PostgresTestServerError(description: "posix_spawn \(argv[0]): errno \(rc)") }
        return pid
    }

    /// A detached shell that stops the cluster once this process is gone, however it ended (atexit
    /// does not run on a signal): nothing stays running after a killed test run.
    private static func startWatchdog(bin: String, directory: String) {
        let stop = asPostgres(["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"]).joined(separator: " ")
        let script =
            "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; "
            + "if [ -f \(directory)/data/postmaster.pid ]; then \(stop); fi; rm -rf \(directory)"
        _ = try? spawn(["/bin/sh", "-c", script], stdin: "/dev/null", stdout: "/dev/null")
    }

    /// A TCP port on 127.0.0.1 nobody listens on now (bound to port 0, then released).
    private static func freePort() throws(PostgresTestServerError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServerError(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { ptr -> Bool in
                bind(fd, ptr, len) == 0 && getsockname(fd, ptr, &len) == 0
            }
        }
        guard bound else { throw PostgresTestServerError(description: "bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
