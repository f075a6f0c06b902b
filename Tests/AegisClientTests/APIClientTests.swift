import AegisClient
import AegisProtocol
import AsyncHTTPClient
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// APIClient against a real HTTP/1.1 server on a unix socket (MiniServer): the requests it sends,
/// how it decodes answers, errors, SSE streaming and downloads.
final class APIClientTests: XCTestCase {
    private var dir: TempDir!
    private var server: MiniServer?

    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() {
        server?.stop()
        dir.remove()
    }

    private func sampleWorkload(state: WorkloadState = .pending, exitCode: Int32? = nil) -> Workload {
        Workload(
            id: "w-1", spec: WorkloadSpec(tenant: "acme", name: "demo", runtime: "python3", args: ["python3", "a.py"]),
            state: state, exitCode: exitCode, createdAtMs: 1_700_000_000_000)
    }

    private func json(_ v: some Encodable) -> String { String(decoding: try! JSONEncoder().encode(v), as: UTF8.self) }

    private func start(_ handler: @escaping @Sendable (MiniServer.Request) -> MiniServer.Response) throws -> APIClient {
        let sock = dir.path + "/aegis.sock"
        server = try MiniServer(socketPath: sock, handler: handler)
        return APIClient(settings: ConnectionSettings(endpoint: .unixSocket(path: sock), token: "tok", tenant: "acme"))
    }

    func testSubmitSendsJSONWithAuthAndTenant() async throws {
        let answer = json(sampleWorkload())
        let client = try start { _ in .json(answer, status: "201 Created") }
        let req = SubmitRequest(run: RunFlags(cpus: "0.5", command: ["python3", "a.py"]), inputs: ["a.py": "cHJpbnQoMSk="])
        let w = try await client.submit(req)
        XCTAssertEqual(w, sampleWorkload())
        let got = try XCTUnwrap(server?.requests.first)
        XCTAssertEqual(got.method, "POST")
        XCTAssertEqual(got.target, "/v1/workloads")
        XCTAssertEqual(got.headers["authorization"], "Bearer tok")
        XCTAssertEqual(got.headers["x-aegis-tenant"], "acme")
        XCTAssertEqual(got.headers["content-type"], "application/json")
        XCTAssertEqual(try JSONDecoder().decode(SubmitRequest.self, from: Data(got.body)), req)
    }

    func testErrorBodyIsThrown() async throws {
        let client = try start { r in
            r.target.hasPrefix("/v1/workloads/")
                ? .json(#"{"error":"no workload w-404","field":null}"#, status: "404 Not Found")
                : .json("upstream exploded\nsecond line", status: "502 Bad Gateway")
        }
        do {
            _ = try await client.workload(id: "w-404")
            XCTFail("expected an error")
        } catch let e as ErrorBody {
            XCTAssertEqual(e, ErrorBody(error: "no workload w-404"))
            XCTAssertEqual(cliMessage(for: e), "no workload w-404")
        }
        do {
            _ = try await client.nodes()
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(cliMessage(for: error), "GET /v1/nodes: HTTP 502 Bad Gateway: upstream exploded second line")
        }
        XCTAssertEqual(
            cliMessage(for: ErrorBody(error: "must be positive", field: "resources.memory")), "resources.memory: must be positive")
    }

    func testLogsStreamStopsAtExit() async throws {
        let final = json(sampleWorkload(state: .succeeded, exitCode: 0))
        // Events split across chunks at awkward places; an event after `exit` must not be delivered.
        let body =
            ": hello\n\n" + encodeSSE(event: "stdout", text: "line 1\nline 2\n") + encodeSSE(event: "stderr", text: "warn\n")
            + encodeSSE(event: "progress", text: "unknown type") + encodeSSE(event: "stdout", text: "no newline")
            + encodeSSE(event: "exit", text: final) + encodeSSE(event: "stdout", text: "after exit\n")
        let bytes = Array(body.utf8)
        let chunks = stride(from: 0, to: bytes.count, by: 7).map { Array(bytes[$0..<min($0 + 7, bytes.count)]) }
        let client = try start { _ in MiniServer.Response(contentType: "text/event-stream", chunks: chunks) }
        var got: [String] = []
        var exitWorkload: Workload?
        for try await (stream, text) in client.logs(id: "w 1", follow: true) {
            if stream == .exit { exitWorkload = try decodeExitWorkload(text) } else { got.append("\(stream.rawValue):\(text)") }
        }
        XCTAssertEqual(got, ["stdout:line 1\nline 2\n", "stderr:warn\n", "stdout:no newline"])
        XCTAssertEqual(exitWorkload.map(exitStatus), 0)
        XCTAssertEqual(server?.requests.first?.target, "/v1/workloads/w%201/logs?follow=true")
        XCTAssertEqual(server?.requests.first?.headers["accept"], "text/event-stream")
    }

    func testDownloadStreamsToFile() async throws {
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let client = try start { _ in
            MiniServer.Response(
                contentType: "application/octet-stream",
                chunks: [Array(payload[..<70_000]), Array(payload[70_000...])])
        }
        let out = dir.path + "/out.bin"
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let n = try await client.download(id: "w-1", path: "sub dir/result.bin", to: fd, what: out)
        close(fd)
        XCTAssertEqual(n, Int64(payload.count))
        XCTAssertEqual(try readLocalFile(out), payload)
        XCTAssertEqual(server?.requests.first?.target, "/v1/workloads/w-1/files/sub%20dir/result.bin")
    }

    func testStaleSocketIsReportedAsNoNode() async throws {
        let sock = dir.path + "/aegis.sock"
        let fd = try bindUnixSocket(sock, listen: nil)  // bound, never listening: connect gets ECONNREFUSED
        defer { close(fd) }
        // AsyncHTTPClient retries a refused connect until its connect timeout; keep that short here.
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(timeout: .init(connect: .milliseconds(300))))
        let client = APIClient(settings: ConnectionSettings(endpoint: .unixSocket(path: sock), token: "t"), httpClient: http)
        var message = ""
        do {
            _ = try await client.whoAmI()
        } catch {
            message = cliMessage(for: error)
        }
        try await http.shutdown()
        XCTAssertEqual(message, "no node running at \(sock) (the socket is stale; start one with `aegis up`)")
    }
}
