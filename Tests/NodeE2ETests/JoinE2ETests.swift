// End-to-end joining against a real `aegis up` node: join tokens through `aegis token`, joins
// through `aegis node join` (the worker side: CA pinning, key, CSR, verification) and raw HTTP
// with CSRs made by openssl; certificates checked with openssl.
import AegisProtocol
import Foundation
import XCTest

final class JoinE2ETests: XCTestCase {
    var node: NodeHarness!
    var work = ""

    override func setUpWithError() throws {
        guard access("/usr/bin/openssl", X_OK) == 0 else { throw XCTSkip("openssl missing") }
        node = try NodeHarness()
        try node.start()
        var template = Array("/tmp/aegis-join-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        work = String(cString: p)
    }

    override func tearDown() {
        node = nil
        if !work.isEmpty { try? FileManager.default.removeItem(atPath: work) }
    }

    var server: String { "http://127.0.0.1:\(node.port)" }

    /// `aegis token create …` → the token text.
    func createToken(_ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try node.cli(["token", "create"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let token = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(token.hasPrefix("AEG1") && !token.contains("\n"), "one token line expected: \(r.stdout)", file: file, line: line)
        return token
    }

    /// (fingerprint, id, secret) of `AEG1<fp>::<id>.<secret>`.
    func parts(_ token: String) -> (fingerprint: String, id: String, secret: String) {
        let body = token.dropFirst(4)
        let halves = body.components(separatedBy: "::")
        let cred = halves[1].split(separator: ".", maxSplits: 1).map(String.init)
        return (halves[0], cred[0], cred[1])
    }

    func join(_ token: String, name: String, dir: String, extra: [String] = []) throws -> CommandResult {
        try node.cli(["node", "join", "--server", server, "--token", token, "--name", name, "--dir", dir, "-o", "json"] + extra)
    }

    struct JoinOutput: Decodable {
        var node: String
        var role: String
        var certificate: String
        var certificateSHA256: String
        var serial: String
        var keySHA256: String
        var keyReused: Bool
        var caSHA256: String
    }

    func decodeJoin(_ r: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> JoinOutput {
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try JSONDecoder().decode(JoinOutput.self, from: Data(r.stdout.utf8))
    }

    func tokens() throws -> [JoinTokenInfo] {
        let r = try node.cli(["token", "ls", "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONDecoder().decode(JoinTokenList.self, from: Data(r.stdout.utf8)).items
    }

    /// SHA-256 of a PEM file's DER form as openssl computes it (x509 or public key).
    func opensslSHA256(_ args: [String]) throws -> String {
        let der = work + "/der-\(UUID().uuidString)"
        defer { unlink(der) }
        try sh(["openssl"] + args + ["-outform", "DER", "-out", der])
        return String(try sh(["sha256sum", der]).prefix(64))
    }

    /// A P-256 key (`<work>/<name>.key`) and CSR made by openssl; returns the CSR PEM.
    func opensslCSR(subject: String, name: String) throws -> String {
        try sh([
            "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
            "-keyout", "\(work)/\(name).key", "-out", "\(work)/\(name).csr",
        ])
        return try String(contentsOfFile: "\(work)/\(name).csr", encoding: .utf8)
    }

    func postJoin(_ request: JoinRequest) throws -> (status: Int, error: String) {
        let r = try node.http("POST", "/v1/cluster/join", token: nil, body: try JSONEncoder().encode(request))
        let message = (try? JSONDecoder().decode(ErrorBody.self, from: r.body))?.error ?? String(decoding: r.body, as: UTF8.self)
        return (r.status, message)
    }

    func testTokenFromAFileAndAWarningForOneOnTheCommandLine() throws {
        let token = try createToken(["--role", "worker"])
        let file = work + "/join.token"
        try (token + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try node.cli([
            "node", "join", "--server", server, "--token-file", file, "--name", "wf", "--dir", work + "/wf", "-o", "json",
        ])
        XCTAssertEqual(try decodeJoin(fromFile).node, "wf")
        XCTAssertFalse(fromFile.stderr.contains("warning"), fromFile.stderr)
        let onCommandLine = try join(token, name: "wc", dir: work + "/wc")
        XCTAssertEqual(onCommandLine.status, 0, onCommandLine.stderr)
        XCTAssertTrue(onCommandLine.stderr.contains("--token on the command line is readable by every local user"), onCommandLine.stderr)
        let missing = try node.cli(["node", "join", "--server", server, "--token-file", work + "/nope", "--name", "wm"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("--token-file \(work)/nope: No such file or directory"), missing.stderr)
    }

    func testJoinPinsTheCAAndTheKeyAndCountsUses() throws {
        // The CA is public, served without a token, and is the one in <data-dir>/pki.
        let caAnswer = try node.http("GET", "/v1/cluster/ca", token: nil)
        XCTAssertEqual(caAnswer.status, 200)
        let ca = try JSONDecoder().decode(ClusterCAInfo.self, from: caAnswer.body)
        let caFile = node.dataDir + "/pki/ca.crt"
        XCTAssertEqual(
            try String(contentsOfFile: caFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            ca.caPEM.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(ca.fingerprint, try opensslSHA256(["x509", "-in", caFile]))

        let token = try createToken(["--role", "worker", "--ttl", "2h", "--description", "e2e workers"])
        let (pin, id, secret) = parts(token)
        XCTAssertEqual(pin, ca.fingerprint, "the token pins this cluster's CA")

        let d1 = work + "/w1"
        let first = try decodeJoin(try join(token, name: "w1", dir: d1))
        XCTAssertEqual(first.node, "w1")
        XCTAssertEqual(first.role, "worker")
        XCTAssertFalse(first.keyReused)
        XCTAssertEqual(first.caSHA256, ca.fingerprint)
        // openssl agrees: the certificate chains to the saved CA, names the node and role, and the
        // fingerprints printed are those of the files.
        XCTAssertTrue(try sh(["openssl", "verify", "-CAfile", d1 + "/ca.crt", d1 + "/node.crt"]).contains("node.crt: OK"))
        let subject = try sh(["openssl", "x509", "-in", d1 + "/node.crt", "-noout", "-subject", "-nameopt", "sep_multiline"])
        XCTAssertTrue(subject.contains("CN=w1") && subject.contains("OU=worker"), subject)
        XCTAssertEqual(first.certificateSHA256, try opensslSHA256(["x509", "-in", d1 + "/node.crt"]))
        XCTAssertEqual(first.keySHA256, try opensslSHA256(["pkey", "-in", d1 + "/node.key", "-pubout"]))
        var st = stat()
        XCTAssertEqual(stat(d1 + "/node.key", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)

        var listed = try tokens()
        XCTAssertEqual(listed.map(\.id), [id])
        XCTAssertEqual(listed.first?.uses, 1)
        XCTAssertEqual(listed.first?.description, "e2e workers")
        let table = try node.cli(["token", "ls"])
        XCTAssertTrue(
            table.stdout.hasPrefix("ID ") && table.stdout.contains("EXPIRES") && table.stdout.contains("USES")
                && table.stdout.contains("REVOKED"), table.stdout)
        for output in [
            table.stdout, try node.cli(["token", "ls", "-o", "yaml"]).stdout, try node.cli(["token", "ls", "-o", "json"]).stdout,
        ] {
            XCTAssertTrue(output.contains(id), output)
            XCTAssertFalse(output.contains(secret), "a listing shows the secret: \(output)")
        }

        // Re-join with the same directory: same key, new certificate.
        let again = try decodeJoin(try join(token, name: "w1", dir: d1))
        XCTAssertTrue(again.keyReused)
        XCTAssertEqual(again.keySHA256, first.keySHA256)
        XCTAssertNotEqual(again.serial, first.serial)
        XCTAssertEqual(try tokens().first?.uses, 2)

        // Same name, another key (another directory): refused, naming the pinned key.
        let d2 = work + "/w1-other"
        let other = try join(token, name: "w1", dir: d2)
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("node w1 is already joined with another key (fingerprint \(first.keySHA256)"), other.stderr)
        // Over HTTP that is a 409; openssl's CSR for a third key gets the same answer.
        let csr = try opensslCSR(subject: "/CN=w1", name: "third")
        let conflict = try postJoin(JoinRequest(token: token, nodeName: "w1", csrPEM: csr))
        XCTAssertEqual(conflict.status, 409, conflict.error)
        XCTAssertEqual(try tokens().first?.uses, 2, "refused joins are not counted")

        // An openssl-made CSR without a CN for a new name is accepted; the answer verifies with openssl too.
        let w2CSR = try opensslCSR(subject: "/O=aegis-e2e", name: "w2")
        let w2 = try node.http(
            "POST", "/v1/cluster/join", token: nil,
            body: try JSONEncoder().encode(JoinRequest(token: token, nodeName: "w2", role: .worker, csrPEM: w2CSR)))
        XCTAssertEqual(w2.status, 200, String(decoding: w2.body, as: UTF8.self))
        let issued = try JSONDecoder().decode(JoinResponse.self, from: w2.body)
        try issued.certificatePEM.write(toFile: work + "/w2.crt", atomically: true, encoding: .utf8)
        XCTAssertTrue(try sh(["openssl", "verify", "-CAfile", caFile, work + "/w2.crt"]).contains("OK"))
        let w2Subject = try sh(["openssl", "x509", "-in", work + "/w2.crt", "-noout", "-subject", "-nameopt", "sep_multiline"])
        XCTAssertTrue(
            w2Subject.contains("CN=w2") && w2Subject.contains("OU=worker") && !w2Subject.contains("aegis-e2e"),
            "the CA decides the subject: \(w2Subject)")

        // The identities the controller pinned; forgetting w1 lets the other key join.
        let ids = try node.http("GET", "/v1/cluster/identities", token: node.adminToken())
        let identities = try JSONDecoder().decode(NodeIdentityList.self, from: ids.body).items
        XCTAssertEqual(identities.map(\.name), ["w1", "w2"])
        XCTAssertEqual(identities.first?.keyFingerprint, first.keySHA256)
        XCTAssertEqual(identities.first?.lastSerial, again.serial)
        XCTAssertEqual(
            identities.last?.keyFingerprint, try opensslSHA256(["pkey", "-in", work + "/w2.key", "-pubout"]),
            "w2 is pinned to the key of openssl's CSR")
        let forget = try node.cli(["node", "forget", "w1"])
        XCTAssertEqual(forget.status, 0, forget.stderr)
        let rejoined = try decodeJoin(try join(token, name: "w1", dir: d2))
        XCTAssertTrue(rejoined.keyReused, "the key made by the refused attempt is kept and used")
        XCTAssertNotEqual(rejoined.keySHA256, first.keySHA256)
        listed = try tokens()
        XCTAssertEqual(listed.first?.uses, 4)
    }

    func testRefusedJoinsNameTheReason() throws {
        let token = try createToken()
        let (pin, id, secret) = parts(token)
        let dir = work + "/n1"

        // Wrong secret.
        let wrongSecret = "AEG1\(pin)::\(id).\(secret == "0000000000000000" ? "1111111111111111" : "0000000000000000")"
        let bad = try join(wrongSecret, name: "n1", dir: dir)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("join token \(id): the secret does not match"), bad.stderr)
        XCTAssertFalse(bad.stderr.contains(secret), "the real secret must not be echoed")
        let csr = try opensslCSR(subject: "/CN=n1", name: "n1")
        let http401 = try postJoin(JoinRequest(token: wrongSecret, nodeName: "n1", csrPEM: csr))
        XCTAssertEqual(http401.status, 401, http401.error)
        XCTAssertTrue(http401.error.contains(id), http401.error)

        // A malformed token is refused by the worker before it contacts anyone.
        let malformed = try join("AEG1\(pin)::\(id)-\(secret)", name: "n1", dir: work + "/malformed")
        XCTAssertTrue(malformed.stderr.contains("invalid join token") && malformed.stderr.contains("\".\""), malformed.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/malformed"))

        // Unknown id.
        let unknown = try join("AEG1\(pin)::zz99zz.\(secret)", name: "n1", dir: dir)
        XCTAssertTrue(unknown.stderr.contains("join token zz99zz is unknown"), unknown.stderr)

        // CA mismatch: the worker refuses before sending anything, naming both fingerprints.
        let flipped = (pin.first == "0" ? "1" : "0") + pin.dropFirst()
        let mismatchDir = work + "/never"
        let mismatch = try join("AEG1\(flipped)::\(id).\(secret)", name: "n1", dir: mismatchDir)
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.stderr.contains("expected SHA-256 \(flipped)") && mismatch.stderr.contains("got \(pin)"), mismatch.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: mismatchDir), "no key is made for an untrusted controller")
        // The controller also refuses a token pinning another CA.
        let otherCA = try postJoin(JoinRequest(token: "AEG1\(flipped)::\(id).\(secret)", nodeName: "n1", csrPEM: csr))
        XCTAssertEqual(otherCA.status, 401)
        XCTAssertTrue(otherCA.error.contains(flipped) && otherCA.error.contains(pin), otherCA.error)

        // Role other than the token's.
        let role = try join(token, name: "n1", dir: dir, extra: ["--role", "controller"])
        XCTAssertTrue(role.stderr.contains("join token \(id) is for role worker, not controller"), role.stderr)
        XCTAssertEqual(try postJoin(JoinRequest(token: token, nodeName: "n1", role: .controller, csrPEM: csr)).status, 403)

        // Bad CSR, bad node name, CSR for another name: 400.
        XCTAssertEqual(
            try postJoin(
                JoinRequest(
                    token: token, nodeName: "n1", csrPEM: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
            ).status, 400)
        let badName = try postJoin(JoinRequest(token: token, nodeName: "N_1", csrPEM: csr))
        XCTAssertEqual(badName.status, 400, badName.error)
        XCTAssertTrue(badName.error.contains("N_1"), badName.error)
        let otherName = try postJoin(JoinRequest(token: token, nodeName: "n2", csrPEM: csr))
        XCTAssertEqual(otherName.status, 400)
        XCTAssertTrue(otherName.error.contains("\"n1\" does not match node name \"n2\""), otherName.error)

        // API tokens are not join tokens, and join tokens are not API tokens.
        let adminAsJoin = try join(node.adminToken(), name: "n1", dir: dir)
        XCTAssertTrue(adminAsJoin.stderr.contains("not a join token"), adminAsJoin.stderr)
        XCTAssertFalse(
            adminAsJoin.stderr.contains(String(node.adminToken().prefix(4))), "no part of the API token is echoed: \(adminAsJoin.stderr)")
        let adminOverHTTP = try postJoin(JoinRequest(token: node.adminToken(), nodeName: "n1", csrPEM: csr))
        XCTAssertEqual(adminOverHTTP.status, 401)
        XCTAssertTrue(adminOverHTTP.error.contains("not a join token"), adminOverHTTP.error)
        XCTAssertEqual(try node.http("GET", "/v1/tokens", token: token).status, 401)
        let tenant = try node.cli(["tenant", "create", "joiners"])
        let tenantToken = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try node.http("POST", "/v1/tokens", token: tenantToken, body: Data("{}".utf8)).status, 403)
        XCTAssertEqual(try node.http("GET", "/v1/tokens", token: tenantToken).status, 403)

        // Expired.
        let shortLived = try createToken(["--ttl", "1s"])
        usleep(1_300_000)
        let expired = try join(shortLived, name: "n1", dir: dir)
        XCTAssertEqual(expired.status, 1)
        XCTAssertTrue(expired.stderr.contains("join token \(parts(shortLived).id) expired at "), expired.stderr)

        // Revoked.
        let revoke = try node.cli(["token", "revoke", id])
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        let revoked = try join(token, name: "n1", dir: dir)
        XCTAssertTrue(revoked.stderr.contains("join token \(id) was revoked at "), revoked.stderr)
        XCTAssertEqual(try node.cli(["token", "revoke", "nope00"]).status, 1)

        // None of these joins counted, none pinned a name.
        let listed = try tokens()
        XCTAssertEqual(listed.map(\.uses), [0, 0])
        XCTAssertNotNil(listed.first { $0.id == id }?.revokedAtMs)
        let ids = try node.http("GET", "/v1/cluster/identities", token: node.adminToken())
        XCTAssertEqual(try JSONDecoder().decode(NodeIdentityList.self, from: ids.body).items, [])
    }
}
