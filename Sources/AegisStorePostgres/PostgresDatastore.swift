// PostgresDatastore.swift — where the controller's PostgreSQL datastore is and how to reach it,
// from a libpq-style URL (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING):
//
//   postgres://USER@HOST:PORT/DBNAME?sslmode=verify-full&sslrootcert=/etc/aegis/pg-ca.pem
//   postgresql://aegis@/aegis?host=/var/run/postgresql          (unix socket directory)
//
// Parameters: sslmode (disable, allow, prefer, require, verify-ca, verify-full — as libpq),
// sslrootcert (PEM file of the CA that signed the server's certificate), host (a unix socket
// directory when it starts with '/', else a host name), pool_max (connections, default 16),
// connect_timeout (seconds, default 10), application_name. The password is never part of the
// URL (it would show in `ps` and in logs): it comes from a file or from PGPASSWORD.
import AegisStore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// A parsed datastore URL plus its password. `description` is the URL without the password.
public struct PostgresDatastore: Sendable, Equatable, CustomStringConvertible {
    /// libpq's sslmode. Over a unix socket TLS is never used (as libpq).
    public enum SSLMode: String, Sendable, CaseIterable {
        /// No TLS.
        case disable
        /// libpq tries without TLS first; postgres-nio cannot fall back, so this behaves as `prefer`
        /// (TLS when the server offers it, unverified): it reaches the same servers.
        case allow
        /// TLS when the server offers it, certificate not verified (libpq's default).
        case prefer
        /// TLS or fail; the certificate is verified against `sslrootcert` (as verify-ca) when one
        /// is given, not verified otherwise.
        case require
        /// TLS, certificate chain verified against `sslrootcert`; host name not checked.
        case verifyCA = "verify-ca"
        /// TLS, certificate chain verified against `sslrootcert` and issued for the host name.
        case verifyFull = "verify-full"
    }

    /// Role to log in as (default: the OS user, as libpq).
    public var user: String
    /// TCP host name or address; nil when `socketDirectory` is used.
    public var host: String?
    /// Directory holding the server's unix socket `.s.PGSQL.<port>`; nil for TCP.
    public var socketDirectory: String?
    /// TCP port, or the number in the socket's name (default 5432).
    public var port: Int
    /// Database name (default: the user name, as libpq).
    public var database: String
    public var sslMode: SSLMode
    /// PEM file with the CA certificate(s) the server's certificate must chain to.
    public var sslRootCert: String?
    /// Most connections the pool opens at once (default 16).
    public var poolMax: Int
    /// Seconds to wait for a connection to be established (default 10).
    public var connectTimeoutSeconds: Int
    /// `application_name` shown in pg_stat_activity (default "aegis").
    public var applicationName: String
    /// From the password file or PGPASSWORD; never printed.
    var password: String?

    /// Default pool bound (connections).
    public static let defaultPoolMax = 16

    /// Parses `url` and takes the password from `passwordFile` (its contents, one trailing newline
    /// dropped) or else from `environment["PGPASSWORD"]`.
    /// - Throws: `StoreError(.invalidArgument)` naming the part of the URL that is wrong, or the
    ///   password file that cannot be read.
    public init(
        url: String, passwordFile: String? = nil, environment: [String: String] = PostgresDatastore.processEnvironment()
    )
        throws
    {
        var rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            let scheme = url.firstIndex(of: ":").map { String(url[..<$0]) } ?? url
            throw Self.bad("scheme \"\(scheme)\": the URL must start with postgres:// or postgresql://")
        }
        if rest.contains("#") { throw Self.bad("fragment: a datastore URL has no #fragment") }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var authority = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }
        var user: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if userInfo.contains(":") {
                throw Self.bad("put the password in PGPASSWORD or --datastore-password-file, not the URL: it would show in ps and logs")
            }
            user = try Self.percentDecoded(userInfo, "user")
        }
        var host: String?
        var port = 5432
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw Self.bad("host \"\(hostPort)\": IPv6 address without ']'") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Self.bad("host \"\(hostPort)\": expected :PORT after ']'") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else if !hostPort.isEmpty {
            host = String(hostPort)
        }
        if let h = host, h.contains(",") { throw Self.bad("host \"\(h)\": several hosts are not supported; name one") }
        if host?.isEmpty == true { host = nil }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw Self.bad("port \"\(portText)\": expected a number from 1 to 65535")
            }
            port = p
        }
        if path.contains("/") { throw Self.bad("database \"\(path)\": a database name has no '/'") }
        let database = try Self.percentDecoded(path, "database")

        var sslMode = SSLMode.prefer
        var sslRootCert: String?
        var socketDirectory: String?
        var poolMax = Self.defaultPoolMax
        var connectTimeout = 10
        var applicationName = "aegis"
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: "=") else { throw Self.bad("parameter \"\(pair)\": expected NAME=VALUE") }
            let name = String(pair[..<eq])
            let value = try Self.percentDecoded(pair[pair.index(after: eq)...], "parameter \(name)")
            switch name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw Self.bad(
                        "sslmode \"\(value)\": expected one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert":
                guard value.hasPrefix("/") else { throw Self.bad("sslrootcert \"\(value)\": expected an absolute path") }
                sslRootCert = value
            case "host":
                if value.hasPrefix("/") {
                    socketDirectory = value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
                } else if value.isEmpty {
                    throw Self.bad("host parameter is empty")
                } else {
                    host = value
                }
            case "pool_max":
                guard let n = Int(value), (1...1000).contains(n) else {
                    throw Self.bad("pool_max \"\(value)\": expected a number of connections from 1 to 1000")
                }
                poolMax = n
            case "connect_timeout":
                guard let n = Int(value), (1...3600).contains(n) else {
                    throw Self.bad("connect_timeout \"\(value)\": expected seconds from 1 to 3600")
                }
                connectTimeout = n
            case "application_name":
                applicationName = value
            case "password":
                throw Self.bad("put the password in PGPASSWORD or --datastore-password-file, not the URL: it would show in ps and logs")
            default:
                throw Self.bad(
                    "parameter \"\(name)\" is not supported (known: sslmode, sslrootcert, host, pool_max, connect_timeout, application_name)"
                )
            }
        }
        if host == nil && socketDirectory == nil { socketDirectory = "/var/run/postgresql" }
        if socketDirectory != nil { host = nil }
        if sslMode == .verifyCA || sslMode == .verifyFull, sslRootCert == nil {
            throw Self.bad(
                "sslmode=\(sslMode.rawValue) needs sslrootcert=PATH (the PEM file of the CA that signed the server's certificate)")
        }
        let resolvedUser = user.flatMap { $0.isEmpty ? nil : $0 } ?? Self.osUser()
        guard let resolvedUser else { throw Self.bad("user: the URL names none and the OS user is unknown (postgres://USER@HOST/DB)") }

        self.user = resolvedUser
        self.host = host
        self.socketDirectory = socketDirectory
        self.port = port
        self.database = database.isEmpty ? resolvedUser : database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
        self.poolMax = poolMax
        self.connectTimeoutSeconds = connectTimeout
        self.applicationName = applicationName
        if let passwordFile {
            self.password = try Self.readPassword(passwordFile)
        } else {
            self.password = environment["PGPASSWORD"]
        }
    }

    /// Whether a password will be sent (from the file or PGPASSWORD).
    public var hasPassword: Bool { password != nil }

    /// The URL again, with every default spelled out and never the password.
    public var description: String {
        var s = "postgres://\(user)@"
        if let host { s += host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        s += "/\(database)?"
        if let socketDirectory { s += "host=\(socketDirectory)&port=\(port)&" }
        s += "sslmode=\(sslMode.rawValue)"
        if let sslRootCert { s += "&sslrootcert=\(sslRootCert)" }
        s += "&pool_max=\(poolMax)&connect_timeout=\(connectTimeoutSeconds)"
        return s
    }

    /// The pool's configuration: endpoint, TLS as `sslMode`, at most `poolMax` connections,
    /// `connectTimeoutSeconds`.
    /// - Throws: `StoreError(.invalidArgument)` when `sslrootcert` cannot be read as PEM certificates.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let socketDirectory {
            config = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            config = .init(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: try tls())
        }
        config.options.maximumConnections = poolMax
        config.options.minimumConnections = 0
        config.options.connectTimeout = .seconds(Int64(connectTimeoutSeconds))
        config.options.additionalStartupParameters = [("application_name", applicationName)]
        return config
    }

    /// postgres-nio's TLS mode for `sslMode`.
    func tls() throws -> PostgresClient.Configuration.TLS {
        guard let (tls, required) = try tlsConfiguration() else { return .disable }
        return required ? .require(tls) : .prefer(tls)
    }

    /// The TLS configuration for `sslMode` and whether TLS is required; nil for `disable`.
    func tlsConfiguration() throws -> (TLSConfiguration, required: Bool)? {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let sslRootCert {
            do { _ = try NIOSSLCertificate.fromPEMFile(sslRootCert) } catch {
                throw StoreError(.invalidArgument, "datastore URL: sslrootcert \(sslRootCert) cannot be read as PEM certificates: \(error)")
            }
            tls.trustRoots = .file(sslRootCert)
        }
        switch sslMode {
        case .disable: return nil
        case .allow, .prefer:
            tls.certificateVerification = .none
            return (tls, false)
        case .require:
            tls.certificateVerification = sslRootCert == nil ? .none : .noHostnameVerification
            return (tls, true)
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return (tls, true)
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            return (tls, true)
        }
    }

    /// One connection's configuration (the probe), equal to what the pool opens.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var config: PostgresConnection.Configuration
        if let socketDirectory {
            config = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            var tls = PostgresConnection.Configuration.TLS.disable
            if let (tlsConfiguration, required) = try tlsConfiguration() {
                let context: NIOSSLContext
                do { context = try NIOSSLContext(configuration: tlsConfiguration) } catch {
                    throw StoreError(.invalidArgument, "datastore URL: TLS for sslmode=\(sslMode.rawValue): \(error)")
                }
                tls = required ? .require(context) : .prefer(context)
            }
            config = .init(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: tls)
        }
        config.options.connectTimeout = .seconds(Int64(connectTimeoutSeconds))
        config.options.additionalStartupParameters = [("application_name", applicationName)]
        return config
    }

    /// Opens one connection and closes it again, so that a datastore that cannot be used fails
    /// at once with its cause (refused, TLS, wrong password, no such database) rather than after
    /// the pool's retries.
    /// - Throws: `StoreError(.database)` naming this datastore (never its password) and the cause.
    public func probe(logger: Logger) async throws {
        let what = "connecting to \(self)"
        let config = try connectionConfiguration()
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: config, id: 0, logger: logger
            ).get()
        } catch let e as PSQLError where e.code == .authMechanismRequiresPassword {
            throw StoreError(
                .database, "\(what): the server asks for a password: set PGPASSWORD or pass --datastore-password-file")
        } catch {
            throw StoreError.wrappingPostgres(error, what)
        }
        try? await connection.close()
    }

    public static func == (a: PostgresDatastore, b: PostgresDatastore) -> Bool {
        a.description == b.description && a.password == b.password && a.applicationName == b.applicationName
    }

    /// The process environment (getenv is enough: only PGPASSWORD is read).
    public static func processEnvironment() -> [String: String] {
        guard let value = getenv("PGPASSWORD") else { return [:] }
        return ["PGPASSWORD": String(cString: value)]
    }

    // MARK: - helpers

    static func bad(_ message: String) -> StoreError { StoreError(.invalidArgument, "datastore URL: \(message)") }

    static func percentDecoded(_ text: Substring, _ part: String) throws -> String {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i != utf8.endIndex {
            let b = utf8[i]
            if b == UInt8(ascii: "%") {
                let h = utf8.index(after: i)
                guard h != utf8.endIndex, utf8.index(after: h) != utf8.endIndex,
                    let hi = hexValue(utf8[h]), let lo = hexValue(utf8[utf8.index(after: h)])
                else { throw bad("\(part) \"\(text)\": '%' must be followed by two hex digits") }
                bytes.append(hi << 4 | lo)
                i = utf8.index(h, offsetBy: 2)
            } else {
                bytes.append(b)
                i = utf8.index(after: i)
            }
        }
        guard let s = String(validating: bytes, as: UTF8.self) else { throw bad("\(part) \"\(text)\" is not UTF-8 once decoded") }
        return s
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The file's contents without one trailing newline (CRLF too).
    static func readPassword(_ path: String) throws -> String {
        guard let file = fopen(path, "re") else {
            let e = errno
            throw StoreError(.invalidArgument, "datastore password file \(path): \(String(cString: strerror(e)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { bytes += buffer[0..<n] }
            if n < buffer.count { break }
            if bytes.count > 1 << 16 { throw StoreError(.invalidArgument, "datastore password file \(path) is over 64 KiB") }
        }
        if ferror(file) != 0 { throw StoreError(.invalidArgument, "datastore password file \(path): read error") }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw StoreError(.invalidArgument, "datastore password file \(path) is empty") }
        guard let password = String(validating: bytes, as: UTF8.self) else {
            throw StoreError(.invalidArgument, "datastore password file \(path) is not UTF-8 text")
        }
        return password
    }

    /// The effective user's login name (libpq's default user), nil when unknown.
    static func osUser() -> String? {
        guard let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name else { return nil }
        return String(cString: name)
    }
}
