import AegisProtocol
import Crypto
import Foundation
import Glibc
import X509
import XCTest
@testable import AegisPKI

/// Cross-checks the PEM files with the openssl(1) command line (Debian's OpenSSL 3).
final class OpenSSLInteropTests: XCTestCase {
    var openssl = ""

    override func setUpWithError() throws {
        let candidates: [String] = ["/usr/bin/openssl", "/usr/local/bin/openssl"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("openssl binary not installed")
        }
        openssl = found
    }

    @discardableResult
    func openSSL(
        _ arguments: [String], expectSuccess: Bool = true, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> (status: Int32, output: String, stdout: Data) {
        let result = try runProgram(openssl, arguments)
        let text = String(decoding: result.stdout, as: UTF8.self) + result.stderr
        if expectSuccess {
            XCTAssertEqual(result.status, 0, "openssl \(arguments.joined(separator: " ")): \(text)", file: file, line: line)
        } else {
            XCTAssertNotEqual(result.status, 0, "openssl \(arguments.joined(separator: " ")) should fail: \(text)", file: file, line: line)
        }
        return (result.status, text, result.stdout)
    }

    func testFilesParseAndVerifyWithOpenSSL() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let pki = temp.file("pki")
        let nodeDirectory = temp.file("node")
        let ca = try ClusterCA.loadOrCreate(directory: pki, commonName: "interop-ca")
        guard case .needsCertificate(let key, let csrPEM) = try NodeIdentity.loadOrCreate(directory: nodeDirectory, nodeName: "worker-1")
        else {
            return XCTFail("new node")
        }
        try writeFile(temp.file("node.csr"), csrPEM)
        let certificate = try ca.sign(csrPEM: csrPEM, nodeName: "worker-1", role: .worker, ipAddresses: ["10.0.0.5"])
        try key.identity(certificate: certificate).save(directory: nodeDirectory)
        let caFile = pki + "/ca.crt"
        let nodeFile = nodeDirectory + "/node.crt"

        let caText = try openSSL(["x509", "-noout", "-text", "-in", caFile]).output
        XCTAssertTrue(caText.contains("CA:TRUE, pathlen:0"), caText)
        XCTAssertTrue(caText.contains("Certificate Sign, CRL Sign"), caText)
        XCTAssertTrue(caText.contains("Subject: CN = interop-ca"), caText)
        XCTAssertTrue(caText.contains("prime256v1"), caText)

        let nodeText = try openSSL(["x509", "-noout", "-text", "-in", nodeFile]).output
        XCTAssertTrue(nodeText.contains("Subject: CN = worker-1, OU = worker"), nodeText)
        XCTAssertTrue(nodeText.contains("TLS Web Client Authentication"), nodeText)
        XCTAssertFalse(nodeText.contains("TLS Web Server Authentication"), nodeText)
        XCTAssertTrue(nodeText.contains("DNS:worker-1, IP Address:10.0.0.5"), nodeText)
        XCTAssertTrue(nodeText.contains("CA:FALSE"), nodeText)

        let verify = try openSSL(["verify", "-purpose", "sslclient", "-CAfile", caFile, nodeFile]).output
        XCTAssertTrue(verify.contains("\(nodeFile): OK"), verify)
        XCTAssertTrue(try openSSL(["req", "-in", temp.file("node.csr"), "-noout", "-verify"]).output.contains("verify OK"))

        // The private keys are readable by openssl and match their certificates.
        for (keyFile, certificateFile) in [(pki + "/ca.key", caFile), (nodeDirectory + "/node.key", nodeFile)] {
            let fromKey = try openSSL(["pkey", "-in", keyFile, "-pubout"]).stdout
            let fromCertificate = try openSSL(["x509", "-in", certificateFile, "-noout", "-pubkey"]).stdout
            XCTAssertEqual(fromKey, fromCertificate, keyFile)
        }

        // Fingerprints agree with openssl's view of the same bytes.
        let caDER = try openSSL(["x509", "-in", caFile, "-outform", "DER"]).stdout
        XCTAssertEqual(sha256Hex(caDER), ca.fingerprint)
        let spki = try openSSL(["pkey", "-in", nodeDirectory + "/node.key", "-pubout", "-outform", "DER"]).stdout
        XCTAssertEqual(sha256Hex(spki), key.publicKeyFingerprint)

        // A different CA's certificate does not verify the node.
        let otherDirectory = temp.file("other")
        _ = try ClusterCA.loadOrCreate(directory: otherDirectory, commonName: "interop-ca")
        try openSSL(["verify", "-CAfile", otherDirectory + "/ca.crt", nodeFile], expectSuccess: false)
    }

    func testServerCertificateVerifiesForTLSServerUse() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let ca = try ClusterCA.loadOrCreate(directory: temp.path)
        let server = try ca.issueServerCertificate(hosts: ["controller.example", "127.0.0.1", "::1"])
        try writeFile(temp.file("server.crt"), server.certificatePEM)
        let text = try openSSL(["x509", "-noout", "-text", "-in", temp.file("server.crt")]).output
        XCTAssertTrue(text.contains("DNS:controller.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), text)
        XCTAssertTrue(text.contains("TLS Web Server Authentication"), text)
        try openSSL(["verify", "-purpose", "sslserver", "-CAfile", temp.file("ca.crt"), temp.file("server.crt")])
        try openSSL([
            "verify", "-purpose", "sslserver", "-verify_hostname", "controller.example",
            "-CAfile", temp.file("ca.crt"), temp.file("server.crt"),
        ])
        try openSSL([
            "verify", "-purpose", "sslserver", "-verify_ip", "127.0.0.1",
            "-CAfile", temp.file("ca.crt"), temp.file("server.crt"),
        ])
        try openSSL(
            [
                "verify", "-purpose", "sslserver", "-verify_hostname", "elsewhere.example",
                "-CAfile", temp.file("ca.crt"), temp.file("server.crt"),
            ], expectSuccess: false)
    }

    func testCSRMadeByOpenSSLIsSignedAndVerifies() throws {
        let temp = try TempDirectory()
        defer { temp.remove() }
        let ca = try ClusterCA.loadOrCreate(directory: temp.path)
        try openSSL([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=ext-node", "-keyout", temp.file("ext.key"), "-out", temp.file("ext.csr"),
        ])
        let certificate = try ca.sign(csrPEM: try readFile(temp.file("ext.csr")), nodeName: "ext-node", role: .hybrid)
        let verified = try ca.verifier.verifyNodeCertificate(certificate)
        XCTAssertEqual(verified.nodeName, "ext-node")
        XCTAssertEqual(verified.role, .hybrid)

        // The openssl key pairs with the certificate through NodeKey.
        let key = try NodeKey(nodeName: "ext-node", privateKeyPEM: try readFile(temp.file("ext.key")))
        XCTAssertEqual(try key.identity(certificate: certificate).role, .hybrid)

        try writeFile(temp.file("ext.crt"), try certificate.serializeAsPEM().pemString)
        try openSSL(["verify", "-purpose", "sslclient", "-CAfile", temp.file("ca.crt"), temp.file("ext.crt")])

        // An RSA CSR is refused (the cluster is P-256 only).
        try openSSL([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rsa-node",
            "-keyout", temp.file("rsa.key"), "-out", temp.file("rsa.csr"),
        ])
        assertPKIError(.unsupportedKeyAlgorithm) {
            try ca.sign(csrPEM: try readFile(temp.file("rsa.csr")), nodeName: "rsa-node", role: .worker)
        }
    }
}
