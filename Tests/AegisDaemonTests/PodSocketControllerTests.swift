// PodSocketControllerTests.swift — a controller on its pod socket only (`aegis controller
// --socket`), in process: /healthz and /readyz without a token; /metrics without a token only for
// a request that did not come through the gateway (no X-Aegis-Gateway-Forwarded-For); every other
// route still wants a token; a node session needs the certificate header the gateway sets, and a
// header that is no certificate of the cluster CA is refused by the controller's own checks (the
// socket is reachable by root and the pod only: there a genuine node certificate is trusted as the
// gateway's word); nothing else listens.
import AegisClient
import AegisDaemon
import AegisProtocol
import Foundation
import XCTest

final class PodSocketControllerTests: XCTestCase {
    var dir = ""
    var socket: String { dir + "/run/controller.sock" }

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-podsock-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dir = String(cString: p)
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testThePodSocketServesProbesMetricsForThePodAndTokensForEverythingElse() async throws {
        let node = try await InProcessNode.start(dataDir: dir + "/data", name: "ctl", role: .controller) { $0.socket = socket }
        defer { Task { try? await node.stop() } }
        XCTAssertEqual(try HealthProbe.get(socket: socket, path: "/healthz", timeout: .seconds(5)), .init(status: 200, body: "ok\n"))
        XCTAssertEqual(try HealthProbe.get(socket: socket, path: "/readyz", timeout: .seconds(5)).status, 200)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/data/pki/ca.crt"), "the CA exists before the gateway needs it")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/data/aegis.sock"), "the pod socket is the only listener")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/data/api.port"), "the pod socket is the only listener")

        let metrics = try raw("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(metrics.hasPrefix("HTTP/1.1 200"), metrics)
        XCTAssertTrue(metrics.contains("aegis_api_requests_total"), metrics)
        let forwarded = try raw("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Aegis-Gateway-Forwarded-For: 192.0.2.9\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(forwarded.hasPrefix("HTTP/1.1 401"), "through the gateway /metrics needs the admin token: \(forwarded)")
        let workloads = try raw("GET /v1/workloads HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(workloads.hasPrefix("HTTP/1.1 401"), "no token, even from inside the pod: \(workloads)")
        let admin = try await node.client().workloads()
        XCTAssertEqual(admin.count, 0, "the admin token works over the pod socket")

        // Sessions: without the gateway's certificate header, and with one that is no certificate.
        let upgrade =
            "GET /v1/cluster/session HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        let bare = try raw(upgrade + "\r\n", until: "certificate")
        XCTAssertTrue(bare.contains("101") && bare.contains("needs a client certificate"), bare)
        let forged = try raw(
            upgrade + "X-Aegis-Gateway-Client-Certificate: \(Data("not a certificate".utf8).base64EncodedString())\r\n\r\n",
            until: "refused")
        XCTAssertTrue(forged.contains("client certificate refused"), forged)
        try await node.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "the socket is removed on stop")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/data/aegis.pid"), "the pid file is removed on stop")
    }

    func testTheSocketFlagBelongsToAControllerWithoutListen() throws {
        var flags = NodeFlags()
        flags.dataDir = dir + "/data"
        flags.socket = socket
        XCTAssertThrowsError(try NodeConfiguration(flags)) { XCTAssertEqual(($0 as? NodeConfigurationError)?.flag, "--socket") }
        flags.role = .controller
        flags.listen = "127.0.0.1:0"
        XCTAssertThrowsError(try NodeConfiguration(flags)) { XCTAssertEqual(($0 as? NodeConfigurationError)?.flag, "--listen") }
        flags.listen = nil
        flags.socket = dir + "/missing/controller.sock"
        XCTAssertThrowsError(try NodeConfiguration(flags)) { e in
            XCTAssertTrue("\(e)".contains("does not exist"), "\(e)")
        }
        flags.socket = "relative.sock"
        XCTAssertThrowsError(try NodeConfiguration(flags)) { XCTAssertEqual(($0 as? NodeConfigurationError)?.flag, "--socket") }
        flags.socket = socket
        XCTAssertEqual(try NodeConfiguration(flags).podSocket, socket)
    }

    func testAHealthProbeNamesWhatFailed() {
        XCTAssertThrowsError(try HealthProbe.get(socket: dir + "/none.sock", path: "/healthz", timeout: .seconds(1))) { e in
            XCTAssertTrue("\(e)".contains("connect to \(dir)/none.sock: ENOENT"), "\(e)")
        }
        XCTAssertThrowsError(try HealthProbe.get(socket: socket, path: "healthz", timeout: .seconds(1))) { e in
            XCTAssertTrue("\(e)".contains("--path healthz"), "\(e)")
        }
    }

    /// Sends `request` on the pod socket and reads until the connection closes, `until` appears,
    /// or 5 s pass.
    func raw(_ request: String, until: String? = nil) throws -> String {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socket.utf8)) }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[..<n]
            let text = String(decoding: out, as: UTF8.self)
            if let until, text.contains(until) { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
