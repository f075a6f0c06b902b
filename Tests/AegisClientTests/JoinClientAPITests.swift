import AegisClient
import AegisProtocol
import Foundation
import XCTest

/// The join routes of APIClient against a real HTTP/1.1 server on a unix socket (MiniServer): a
/// joining client sends no Authorization header; admin calls do; the token table.
final class JoinClientAPITests: XCTestCase {
    private var dir: TempDir!
    private var server: MiniServer?

    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() {
        server?.stop()
        dir.remove()
    }

    private func json(_ v: some Encodable) -> String { String(decoding: try! JSONEncoder().encode(v), as: UTF8.self) }

    func testJoiningClientSendsNoBearerToken() async throws {
        let sock = dir.path + "/aegis.sock"
        let ca = ClusterCAInfo(
            caPEM: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", fingerprint: String(repeating: "a", count: 64))
        let issued = JoinResponse(certificatePEM: "cert", caPEM: ca.caPEM, nodeName: "w1", role: .worker, serial: "01", notAfterMs: 5)
        let caJSON = json(ca), issuedJSON = json(issued)
        server = try MiniServer(socketPath: sock) { r in r.target == "/v1/cluster/ca" ? .json(caJSON) : .json(issuedJSON) }
        let client = try APIClient.joining(server: "unix://" + sock)
        XCTAssertEqual(client.serverName, sock)
        let fetched = try await client.clusterCA()
        XCTAssertEqual(fetched, ca)
        let request = JoinRequest(token: "AEG1…", nodeName: "w1", role: .worker, csrPEM: "csr")
        let answer = try await client.join(request)
        XCTAssertEqual(answer, issued)
        let got = try XCTUnwrap(server?.requests)
        XCTAssertEqual(got.map(\.method), ["GET", "POST"])
        XCTAssertEqual(got.map(\.target), ["/v1/cluster/ca", "/v1/cluster/join"])
        XCTAssertEqual(got.map { $0.headers["authorization"] }, [nil, nil], "a joining node has no API token to send")
        XCTAssertEqual(try JSONDecoder().decode(JoinRequest.self, from: Data(got[1].body)), request)
        XCTAssertThrowsError(try APIClient.joining(server: "ftp://x")) { XCTAssertTrue("\($0)".contains("ftp://x"), "\($0)") }
    }

    func testTokenCallsAndRefusalsCarryTheServersMessage() async throws {
        let sock = dir.path + "/aegis.sock"
        let info = JoinTokenInfo(id: "abc123", role: .worker, description: "d", createdAtMs: 1, expiresAtMs: 2, revokedAtMs: 3, uses: 4)
        let infoJSON = json(info), listJSON = json(JoinTokenList(items: [info]))
        server = try MiniServer(socketPath: sock) { r in
            switch (r.method, r.target) {
            case ("DELETE", "/v1/tokens/abc123"): return .json(infoJSON)
            case ("GET", "/v1/tokens"): return .json(listJSON)
            default: return .json(#"{"error":"join token abc123 was revoked at 2026-01-01T00:00:00Z"}"#, status: "401 Unauthorized")
            }
        }
        let admin = APIClient(settings: ConnectionSettings(endpoint: .unixSocket(path: sock), token: "admintok"))
        let listed = try await admin.joinTokens()
        XCTAssertEqual(listed, [info])
        let revoked = try await admin.revokeJoinToken(id: "abc123")
        XCTAssertEqual(revoked, info)
        XCTAssertEqual(server?.requests.map { $0.headers["authorization"] }, ["Bearer admintok", "Bearer admintok"])
        do {
            _ = try await APIClient.joining(server: "unix://" + sock).join(JoinRequest(token: "t", nodeName: "w1", csrPEM: "c"))
            XCTFail("expected the server's refusal")
        } catch let e as ErrorBody {
            XCTAssertEqual(cliMessage(for: e), "join token abc123 was revoked at 2026-01-01T00:00:00Z")
        }
    }

    func testTokenTable() {
        let now: Int64 = 1_000_000_000
        let items = [
            JoinTokenInfo(
                id: "abc123", role: .worker, description: "", createdAtMs: now - 60_000, expiresAtMs: now + 2 * 3_600_000, uses: 3),
            JoinTokenInfo(
                id: "zz9zz9", role: .controller, description: "rack 4", createdAtMs: now - 90_000_000,
                expiresAtMs: now - 300_000, revokedAtMs: now - 120_000, uses: 0),
        ]
        let lines = joinTokenTable(items, nowMs: now).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[0].split(separator: " ").map(String.init), ["ID", "ROLE", "EXPIRES", "USES", "REVOKED", "DESCRIPTION"])
        XCTAssertEqual(
            lines[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init),
            ["abc123", "worker", "in", "2h", "3", "no", "-"])
        XCTAssertEqual(
            lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init),
            ["zz9zz9", "controller", "expired", "5m", "ago", "0", "2m", "ago", "rack", "4"])
    }
}
