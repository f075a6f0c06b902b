// Connection.swift — where the CLI sends its requests and with which credentials: the local node's
// unix socket plus its admin token (the default), or `--server URL` with `--token`.
import AegisProtocol
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// Where the API is.
public enum APIEndpoint: Sendable, Equatable {
    /// The node's unix socket (`<dataDir>/aegis.sock`), reached as `http+unix://<encoded path>/…`.
    case unixSocket(path: String)
    /// An `http://` or `https://` base URL without a trailing slash ("http://127.0.0.1:7070").
    case server(baseURL: String)

    /// The full request URL for `pathAndQuery` ("/v1/workloads?state=running").
    public func url(for pathAndQuery: String) -> String {
        switch self {
        case .unixSocket(let path): return "http+unix://" + percentEncode(path, keeping: "") + pathAndQuery
        case .server(let base): return base + pathAndQuery
        }
    }

    /// For messages: the socket path or the base URL.
    public var displayName: String {
        switch self {
        case .unixSocket(let path): return path
        case .server(let base): return base
        }
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set (ALPHA / DIGIT / "-" / "." / "_" /
/// "~") and outside `keeping` (e.g. "/" for a path whose segments are encoded separately).
public func percentEncode(_ text: String, keeping: String = "") -> String {
    let keep = Set(keeping.utf8)
    var out = ""
    for b in text.utf8 {
        let unreserved =
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        if unreserved || keep.contains(b) {
            out.unicodeScalars.append(Unicode.Scalar(b))
        } else {
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
        }
    }
    return out
}

/// The resolved connection: endpoint, bearer token, and the tenant to act for (admin only).
public struct ConnectionSettings: Sendable, Equatable {
    public var endpoint: APIEndpoint
    public var token: String
    /// Sent as `X-Aegis-Tenant` when set.
    public var tenant: String?

    public init(endpoint: APIEndpoint, token: String, tenant: String? = nil) {
        self.endpoint = endpoint
        self.token = token
        self.tenant = tenant
    }

    /// Resolves the CLI's connection options. Precedence: flag, then environment (AEGIS_SERVER,
    /// AEGIS_TOKEN, AEGIS_TENANT, AEGIS_DATA_DIR), then the local node's data dir (its unix socket
    /// and admin.token — see `AegisPaths`).
    ///
    /// - `server` may be `http://…`, `https://…` or `unix:///path/to/aegis.sock`.
    /// - Without a server, the socket `<dataDir>/aegis.sock` must exist, be a socket, and accept a
    ///   connection (a socket file left by a dead node refuses at once with ECONNREFUSED, where
    ///   AsyncHTTPClient would keep retrying until its connect timeout).
    /// - Without a token, `<dataDir>/admin.token` is read (leading/trailing whitespace trimmed).
    /// - Throws: `ClientError` naming the missing socket ("no node running at … (start one with
    ///   `aegis up`)"), a bad server URL, or the unreadable token file with its errno.
    public static func resolve(
        dataDir: String?, server: String?, token: String?, tenant: String?,
        environment: (String) -> String? = processEnvironment
    ) throws -> ConnectionSettings {
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        let dir = nonEmpty(dataDir) ?? nonEmpty(environment("AEGIS_DATA_DIR")) ?? AegisPaths.defaultDataDir()
        let paths = AegisPaths(dataDir: dir)
        let serverText = nonEmpty(server) ?? nonEmpty(environment("AEGIS_SERVER"))
        let endpoint: APIEndpoint
        if let s = serverText {
            endpoint = try parseServer(s)
        } else {
            endpoint = .unixSocket(path: paths.socket)
        }
        if case .unixSocket(let sock) = endpoint {
            switch localFileKind(sock) {
            case .socket:
                if probeUnixSocket(sock) == ECONNREFUSED {
                    throw ClientError("no node running at \(sock) (the socket is stale; start one with `aegis up`)")
                }
            case .missing: throw ClientError("no node running at \(sock) (start one with `aegis up`)")
            default: throw ClientError("\(sock) exists but is not a unix socket")
            }
        }
        let resolvedToken: String
        if let t = nonEmpty(token) ?? nonEmpty(environment("AEGIS_TOKEN")) {
            resolvedToken = t
        } else {
            resolvedToken = try readTokenFile(paths.adminToken)
        }
        let tenantName = nonEmpty(tenant) ?? nonEmpty(environment("AEGIS_TENANT"))
        return ConnectionSettings(endpoint: endpoint, token: resolvedToken, tenant: tenantName)
    }

    /// Parses `--server`: "http://host:port[/]", "https://…", or "unix:///path/aegis.sock".
    /// - Throws: `ClientError` for any other scheme or an empty host/path.
    public static func parseServer(_ text: String) throws -> APIEndpoint {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw ClientError("--server \(text): a unix socket URL needs an absolute path (unix:///path/aegis.sock)")
            }
            return .unixSocket(path: path)
        }
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
            throw ClientError("--server \(text): expected http://HOST:PORT, https://HOST:PORT or unix:///PATH")
        }
        var base = text
        while base.hasSuffix("/") { base.removeLast() }
        let afterScheme = base.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard afterScheme.count >= 3, !afterScheme[2].isEmpty else { throw ClientError("--server \(text): missing host") }
        return .server(baseURL: base)
    }

    /// Reads a token file and trims whitespace.
    /// - Throws: `ClientError` naming the file, the errno, and the alternatives (--token, AEGIS_TOKEN).
    public static func readTokenFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw ClientError(
                "cannot read the admin token \(path): \(Errno(e).explained); pass --token or set AEGIS_TOKEN"
                    + (e == EACCES ? " (or run as the node's user)" : ""))
        }
        close(fd)
        let bytes = try readLocalFile(path, limit: 64 << 10)
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { throw ClientError("the admin token file \(path) is empty; pass --token or set AEGIS_TOKEN") }
        return token
    }
}

/// Connects to a unix socket once, without blocking, and closes the connection. Returns 0 when
/// something listens (the connect succeeded, or failed with EAGAIN because the backlog is full —
/// unix(7)), else the connect errno (ECONNREFUSED: nobody listens; ENOENT: no such file).
public func probeUnixSocket(_ path: String) -> Int32 {
    // Non-blocking: a listener whose backlog is full (busy, or not accepting) answers EAGAIN at
    // once instead of blocking the CLI; it is alive, so that counts as success.
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return ENAMETOOLONG }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    while true {
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc == 0 || errno == EAGAIN || errno == EINPROGRESS { return 0 }
        if errno != EINTR { return errno }
    }
}

/// getenv(3) as a Swift function (the default environment for `ConnectionSettings.resolve`).
public func processEnvironment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
