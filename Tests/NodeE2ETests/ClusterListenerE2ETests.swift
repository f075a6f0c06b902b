// ClusterListenerE2ETests.swift — `aegis up --listen`: the API over TLS with a server certificate
// from the cluster CA; optional client certificates must chain to that CA. Driven with curl and
// openssl as a client on another machine would.
import Foundation
import XCTest

final class ClusterListenerE2ETests: XCTestCase {
    func testTLSListenerServesTheAPIWithTheClusterCA() throws {
        guard access("/usr/bin/curl", X_OK) == 0, access("/usr/bin/openssl", X_OK) == 0 else { throw XCTSkip("curl and openssl needed") }
        let node = try NodeHarness(extraArgs: ["--listen", "127.0.0.1:0"])
        try node.start()
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            port = ((try? String(contentsOfFile: node.dataDir + "/cluster.port", encoding: .utf8)) ?? "").trimmingCharacters(
                in: .whitespacesAndNewlines)
            if port.isEmpty { usleep(50_000) }
        }
        XCTAssertFalse(port.isEmpty, node.nodeLog())
        let ca = node.dataDir + "/pki/ca.crt"
        let url = "https://127.0.0.1:\(port)/v1/whoami"

        let ok = try sh(["curl", "-sS", "--cacert", ca, "-H", "Authorization: Bearer \(node.adminToken())", url])
        XCTAssertTrue(ok.contains("\"kind\":\"admin\""), ok)
        let noAuth = try sh(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, url])
        XCTAssertEqual(noAuth, "401", "tokens are still required over TLS")
        let untrusted = try sh(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url], allowFailure: true)
        XCTAssertEqual(untrusted, "000", "without the cluster CA the server certificate is not trusted")
        let viaName = try sh([
            "curl", "-sS", "--cacert", ca, "--resolve", "localhost:\(port):127.0.0.1",
            "-H", "Authorization: Bearer \(node.adminToken())", "https://localhost:\(port)/v1/whoami",
        ])
        XCTAssertTrue(viaName.contains("admin"), "the certificate names localhost too: \(viaName)")

        // A client certificate from another CA is refused at the handshake.
        let dir = node.dataDir + "/foreign"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try sh([
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=intruder", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
        ])
        let foreign = try sh(
            [
                "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, "--cert", dir + "/cert.pem",
                "--key", dir + "/key.pem", url,
            ], allowFailure: true)
        XCTAssertEqual(foreign, "000", "the handshake itself must fail for a certificate of another CA")
        node.stop()
    }
}
