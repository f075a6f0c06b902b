import AegisClient
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ConnectionTests: XCTestCase {
    private let noEnv: (String) -> String? = { _ in nil }

    func testMissingSocket() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        XCTAssertThrowsError(try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: nil, tenant: nil, environment: noEnv)) {
            e in
            XCTAssertEqual("\(e)", "no node running at \(dir.path)/aegis.sock (start one with `aegis up`)")
        }
        // A regular file where the socket should be is named as such.
        try dir.write("aegis.sock", "")
        XCTAssertThrowsError(try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: "t", tenant: nil, environment: noEnv)) {
            e in
            XCTAssertEqual("\(e)", "\(dir.path)/aegis.sock exists but is not a unix socket")
        }
    }

    func testLocalSocketAndAdminToken() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let sock = dir.path + "/aegis.sock"
        var fd = try bindUnixSocket(sock, listen: nil)
        defer { close(fd) }
        // Bound but not listening (what a dead node leaves behind): refused at once.
        XCTAssertEqual(probeUnixSocket(sock), ECONNREFUSED)
        XCTAssertThrowsError(try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: "t", tenant: nil, environment: noEnv)) {
            e in
            XCTAssertEqual("\(e)", "no node running at \(sock) (the socket is stale; start one with `aegis up`)")
        }
        close(fd)
        unlink(sock)
        fd = try bindUnixSocket(sock, listen: 1)
        // Nobody accepts, so the backlog fills up: the probe must neither block nor call that dead.
        XCTAssertEqual((0..<8).map { _ in probeUnixSocket(sock) }, Array(repeating: 0, count: 8))
        XCTAssertEqual(probeUnixSocket(dir.path + "/missing.sock"), ENOENT)
        // Socket present but no token file: the error names the file, errno and the alternatives.
        XCTAssertThrowsError(try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: nil, tenant: nil, environment: noEnv)) {
            e in
            XCTAssertTrue("\(e)".contains("\(dir.path)/admin.token") && "\(e)".contains("ENOENT (2)") && "\(e)".contains("--token"), "\(e)")
        }
        try dir.write("admin.token", "  s3cret-admin\n")
        let s = try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: nil, tenant: nil, environment: noEnv)
        XCTAssertEqual(s, ConnectionSettings(endpoint: .unixSocket(path: dir.path + "/aegis.sock"), token: "s3cret-admin"))
        // The data dir, token and tenant can come from the environment; flags win over it.
        let env: (String) -> String? = { ["AEGIS_DATA_DIR": dir.path, "AEGIS_TOKEN": "env-token", "AEGIS_TENANT": "acme"][$0] }
        let e = try ConnectionSettings.resolve(dataDir: nil, server: nil, token: nil, tenant: nil, environment: env)
        XCTAssertEqual(e, ConnectionSettings(endpoint: .unixSocket(path: dir.path + "/aegis.sock"), token: "env-token", tenant: "acme"))
        let f = try ConnectionSettings.resolve(dataDir: nil, server: nil, token: "flag", tenant: "other", environment: env)
        XCTAssertEqual(f.token, "flag")
        XCTAssertEqual(f.tenant, "other")
        // An empty token file is refused.
        try dir.write("admin.token", "\n")
        XCTAssertThrowsError(try ConnectionSettings.resolve(dataDir: dir.path, server: nil, token: nil, tenant: nil, environment: noEnv))
    }

    func testServerURLs() throws {
        XCTAssertEqual(try ConnectionSettings.parseServer("http://127.0.0.1:7070/"), .server(baseURL: "http://127.0.0.1:7070"))
        XCTAssertEqual(try ConnectionSettings.parseServer("https://aegis.example:443"), .server(baseURL: "https://aegis.example:443"))
        XCTAssertEqual(
            try ConnectionSettings.parseServer("unix:///var/lib/aegis/aegis.sock"), .unixSocket(path: "/var/lib/aegis/aegis.sock"))
        for bad in ["127.0.0.1:7070", "ftp://x", "http://", "unix://relative.sock"] {
            XCTAssertThrowsError(try ConnectionSettings.parseServer(bad), bad)
        }
        // With --server, no socket is needed; the token still is.
        let s = try ConnectionSettings.resolve(
            dataDir: "/nonexistent", server: "http://127.0.0.1:1", token: "t", tenant: nil, environment: noEnv)
        XCTAssertEqual(s.endpoint.url(for: "/v1/whoami"), "http://127.0.0.1:1/v1/whoami")
    }

    func testSocketURLEncoding() {
        XCTAssertEqual(
            APIEndpoint.unixSocket(path: "/var/lib/aegis/aegis.sock").url(for: "/v1/workloads"),
            "http+unix://%2Fvar%2Flib%2Faegis%2Faegis.sock/v1/workloads")
        XCTAssertEqual(percentEncode("a b/ü?", keeping: "/"), "a%20b/%C3%BC%3F")
    }
}
