// RegistryFixture.swift — a real registry for the image tests: Debian's docker-registry on
// 127.0.0.1 with a free port and its own storage, in one of four flavours (plain HTTP; TLS with a
// CA made here by openssl; token auth with a tiny token server; htpasswd Basic auth with blobs
// redirected to a separate storage server). Images are built by Fixtures/make-image.py and pushed
// with skopeo. `stop()` kills and reaps every process it started and removes the directory.
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class RegistryFixture {
    enum Flavour { case plain, tls, token, basicWithRedirect }

    static let registryBinary = "/usr/bin/docker-registry"
    static let username = "alice"
    static let password = "correct horse:battery"

    let flavour: Flavour
    /// Scratch directory: configs, keys, storage, logs, layouts.
    let directory: String
    /// "127.0.0.1:<port>" of the registry.
    let host: String
    /// The CA the TLS flavour's server certificate chains to.
    var caFile: String { "\(directory)/certs/ca.crt" }
    /// "127.0.0.1:<port>" of the token server (token flavour) or blob storage (redirect flavour).
    private(set) var helperHost: String?
    private var processes: [Process] = []

    /// Starts a registry; throws XCTSkip when docker-registry or skopeo is not installed.
    static func start(_ flavour: Flavour) throws -> RegistryFixture {
        guard FileManager.default.isExecutableFile(atPath: registryBinary) else {
            throw XCTSkip("\(registryBinary) is not installed (Debian package docker-registry; scripts/install-deps.sh installs it)")
        }
        guard findInPath("skopeo") != nil else { throw XCTSkip("skopeo is not installed (scripts/install-deps.sh installs it)") }
        let fixture = try RegistryFixture(flavour: flavour)
        do { try fixture.launch() } catch {
            fixture.stop()
            throw error
        }
        return fixture
    }

    private init(flavour: Flavour) throws {
        self.flavour = flavour
        var template = Array("/tmp/aegis-registry-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RegistryFixtureError("mkdtemp: errno \(errno)") }
        directory = String(cString: made)
        host = "127.0.0.1:\(try Self.freePort())"
    }

    /// Kills (SIGTERM, then SIGKILL after 5 s) and reaps every process, then removes the directory.
    func stop() {
        for process in processes.reversed() where process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        processes.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Pids of the processes started (for the no-leftover check).
    var processIdentifiers: [Int32] { processes.map(\.processIdentifier) }

    // MARK: images

    /// Builds an OCI layout with make-image.py; returns the manifest digest it prints.
    @discardableResult
    func makeImage(layout: String, tag: String, _ arguments: [String] = []) throws -> String {
        let layer: [LayerEntrySpec] = [
            ["path": "etc", "type": "dir"], ["path": "etc/hello", "type": "file", "content": "hello from \(tag)\n"],
        ]
        return try ImageFixtures.makeImage(at: layout, tag: tag, layers: [layer], extra: arguments)
    }

    /// A tar holding one file of `size` random bytes (a layer gzip cannot shrink).
    func makeRandomTar(size: Int) throws -> String {
        let path = "\(directory)/random.tar"
        let script =
            "import io,os,sys,tarfile\nt=tarfile.open(sys.argv[1],'w')\ni=tarfile.TarInfo('random.bin')\n"
            + "d=os.urandom(int(sys.argv[2]))\ni.size=len(d)\nt.addfile(i,io.BytesIO(d))\nt.close()"
        try run("python3", ["-c", script, path, String(size)])
        return path
    }

    /// skopeo copy oci:LAYOUT:TAG docker://host/REPOSITORY, with the flavour's TLS and credentials.
    func push(layout: String, tag: String, to repository: String, _ extra: [String] = []) throws {
        var arguments = ["copy", "--quiet", "--retry-times", "0"] + extra
        switch flavour {
        case .plain: arguments.append("--dest-tls-verify=false")
        case .tls: arguments += ["--dest-cert-dir", "\(directory)/certs"]
        case .token, .basicWithRedirect: arguments += ["--dest-tls-verify=false", "--dest-creds", "\(Self.username):\(Self.password)"]
        }
        try run("skopeo", arguments + ["oci:\(layout):\(tag)", "docker://\(host)/\(repository)"])
    }

    /// The manifest bytes as the registry serves them (plain flavour).
    func inspectRaw(_ repository: String) throws -> [UInt8] {
        try run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(host)/\(repository)"])
    }

    /// A docker-style auth file for this registry: `"auth"` (base64) or `"username"`/`"password"`.
    func writeAuthFile(password: String = RegistryFixture.password, fieldsStyle: Bool = false) throws -> String {
        let entry: [String: String] =
            fieldsStyle
            ? ["username": Self.username, "password": password]
            : ["auth": Data("\(Self.username):\(password)".utf8).base64EncodedString()]
        let path = "\(directory)/auth-\(UInt32.random(in: 0...UInt32.max)).json"
        try JSONSerialization.data(withJSONObject: ["auths": [host: entry]]).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A log the fixture's processes write ("registry.log", "token.log", "storage.log").
    func log(_ name: String) -> String { (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? "" }

    // MARK: launching

    private func launch() throws {
        var extraConfig = ""
        switch flavour {
        case .plain: break
        case .tls: extraConfig = try makeServerCertificate()
        case .token: extraConfig = try startTokenServer()
        case .basicWithRedirect: extraConfig = try startStorageServer() + makeHtpasswd()
        }
        let config = """
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: \(directory)/storage
            http:
              addr: \(host)
              secret: aegis-registry-test
            \(extraConfig)
            """
        try config.write(toFile: "\(directory)/config.yml", atomically: true, encoding: .utf8)
        try spawn(Self.registryBinary, ["serve", "\(directory)/config.yml"], log: "registry.log")
        try waitForListener(host, log: "registry.log")
    }

    /// A CA and a server certificate for 127.0.0.1 (openssl CLI); the registry's `http.tls`.
    private func makeServerCertificate() throws -> String {
        let certs = "\(directory)/certs"
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(
            "openssl",
            ["req", "-x509"] + ec + [
                "-keyout", "\(directory)/ca.key", "-out", caFile, "-days", "2", "-subj", "/CN=AEGIS test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        try run(
            "openssl", ["req"] + ec + ["-keyout", "\(directory)/server.key", "-out", "\(directory)/server.csr", "-subj", "/CN=127.0.0.1"])
        let extensions = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        try extensions.write(toFile: "\(directory)/server.ext", atomically: true, encoding: .utf8)
        try run(
            "openssl",
            [
                "x509", "-req", "-in", "\(directory)/server.csr", "-CA", caFile, "-CAkey", "\(directory)/ca.key",
                "-CAcreateserial", "-out", "\(directory)/server.crt", "-days", "2", "-extfile", "\(directory)/server.ext",
            ])
        return "  tls:\n    certificate: \(directory)/server.crt\n    key: \(directory)/server.key\n"
    }

    /// A token server (docker's token spec, RS256 JWTs with an x5c header) on loopback.
    private func startTokenServer() throws -> String {
        try run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/token.key",
                "-out", "\(directory)/token.crt", "-days", "2", "-subj", "/CN=AEGIS test token signer",
            ])
        try Self.tokenServerScript.write(toFile: "\(directory)/token-server.py", atomically: true, encoding: .utf8)
        let tokenHost = "127.0.0.1:\(try Self.freePort())"
        helperHost = tokenHost
        let users = String(decoding: try JSONSerialization.data(withJSONObject: [Self.username: Self.password]), as: UTF8.self)
        try spawn(
            "/usr/bin/env",
            [
                "python3", "\(directory)/token-server.py", "\(directory)/token.key", "\(directory)/token.crt",
                "aegis-test-issuer", tokenHost, users,
            ], log: "token.log")
        try waitForListener(tokenHost, log: "token.log")
        return """
            auth:
              token:
                realm: http://\(tokenHost)/token
                service: aegis-test-registry
                issuer: aegis-test-issuer
                rootcertbundle: \(directory)/token.crt

            """
    }

    /// Blob storage the registry redirects blob GETs to (docker-registry's `redirect` storage
    /// middleware): serves the storage directory, refuses any request carrying Authorization.
    private func startStorageServer() throws -> String {
        try FileManager.default.createDirectory(atPath: "\(directory)/storage", withIntermediateDirectories: true)
        try Self.storageServerScript.write(toFile: "\(directory)/storage-server.py", atomically: true, encoding: .utf8)
        let storageHost = "127.0.0.1:\(try Self.freePort())"
        helperHost = storageHost
        try spawn("/usr/bin/env", ["python3", "\(directory)/storage-server.py", "\(directory)/storage", storageHost], log: "storage.log")
        try waitForListener(storageHost, log: "storage.log")
        return """
            middleware:
              storage:
                - name: redirect
                  options:
                    baseurl: http://\(storageHost)/

            """
    }

    /// An htpasswd file with a bcrypt hash made by libcrypt through perl (no extra package).
    private func makeHtpasswd() throws -> String {
        let alphabet = Array("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let salt = String((0..<22).map { _ in alphabet.randomElement()! })
        let hash = try run("perl", ["-e", "print crypt($ARGV[0], $ARGV[1])", Self.password, "$2b$05$\(salt)"])
        guard hash.starts(with: Array("$2b$".utf8)) else { throw RegistryFixtureError("perl crypt() made no bcrypt hash") }
        try (Self.username + ":" + String(decoding: hash, as: UTF8.self) + "\n").write(
            toFile: "\(directory)/htpasswd", atomically: true, encoding: .utf8)
        return "auth:\n  htpasswd:\n    realm: aegis-test\n    path: \(directory)/htpasswd\n"
    }

    // MARK: processes

    private func spawn(_ executable: String, _ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: "\(directory)/\(log)", contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/\(log)"))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()  // the child has its own descriptor
        processes.append(process)
    }

    /// Waits up to 10 s for a TCP listener on `hostPort`; fails early when the process exited.
    private func waitForListener(_ hostPort: String, log: String) throws {
        guard let port = hostPort.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw RegistryFixtureError("bad host \(hostPort)")
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.canConnect(port: port) { return }
            if let process = processes.last, !process.isRunning { break }
            usleep(50_000)
        }
        throw RegistryFixtureError("nothing listens on \(hostPort); \(log):\n\(self.log(log))")
    }

    /// Runs a program found in PATH in the fixture's directory; its stdout (ImageFixtures.runBytes).
    @discardableResult
    func run(_ program: String, _ arguments: [String]) throws -> [UInt8] {
        try ImageFixtures.runBytes([program] + arguments, cwd: directory)
    }

    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RegistryFixtureError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw RegistryFixtureError("bind 127.0.0.1:0: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func canConnect(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func findInPath(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension RegistryFixture {
    /// token-server.py KEY CERT ISSUER HOST:PORT USERS_JSON — docker's token spec: GET /token with
    /// optional Basic credentials → {"token": RS256 JWT (x5c = CERT), "expires_in": 300}; wrong
    /// credentials → 401; anonymous → a token with no access. Logs one line per token to stderr.
    static let tokenServerScript = #"""
        import base64, json, os, signal, subprocess, sys, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        key, cert, issuer, address, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
        der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout

        def b64url(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        def sign(claims):
            header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signed.encode(),
                                       capture_output=True, check=True).stdout
            return signed + "." + b64url(signature)

        class Handler(BaseHTTPRequestHandler):
            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                user, auth = None, self.headers.get("Authorization", "")
                if auth:
                    name, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
                    if not auth.startswith("Basic ") or users.get(name) != password:
                        sys.stderr.write("token: refused %s\n" % name)
                        return self.reply(401, {"details": "incorrect username or password"})
                    user = name
                access = []
                for scope in query.get("scope", []) if user else []:
                    kind, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                claims = {"iss": issuer, "sub": user or "", "aud": query.get("service", [""])[0], "exp": now + 300,
                          "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
                sys.stderr.write("token: issued for %s\n" % (user or "anonymous"))
                self.reply(200, {"token": sign(claims), "expires_in": 300})

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])  # XCTest spawns with it blocked
        host, port = address.rsplit(":", 1)
        ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
        """#

    /// storage-server.py ROOT HOST:PORT — serves files under ROOT; GET bodies without
    /// Content-Length (HTTP/1.0, ended by closing); any request with Authorization → 400.
    static let storageServerScript = #"""
        import os, shutil, signal, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        root, address = os.path.realpath(sys.argv[1]), sys.argv[2]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def target(self):
                if self.headers.get("Authorization"):
                    self.send_error(400, "Authorization reached the storage server")
                    return None
                path = os.path.realpath(os.path.join(root, self.path.split("?")[0].lstrip("/")))
                if not path.startswith(root + "/") or not os.path.isfile(path):
                    self.send_error(404)
                    return None
                return path

            def do_HEAD(self):
                path = self.target()
                if path:
                    self.send_response(200)
                    self.send_header("Content-Length", str(os.path.getsize(path)))
                    self.end_headers()

            def do_GET(self):
                path = self.target()
                if path:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    with open(path, "rb") as f:
                        shutil.copyfileobj(f, self.wfile)

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])  # XCTest spawns with it blocked
        host, port = address.rsplit(":", 1)
        ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
        """#
}

struct RegistryFixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
