// End-to-end: request bodies are read up to their route's limit only; over it, a 413 with a JSON
// error naming the limit, over the unix socket and TCP, and the node's memory stays bounded.
import AegisProtocol
import Foundation
import XCTest

final class BodyLimitsE2ETests: SingleNodeTestCase {

    // MARK: request bodies

    func testManifestOverOneMiBIsRefusedWith413() throws {
        let manifest = "name: big\nruntime: command\ncommand: [/bin/true]\n# " + String(repeating: "x", count: 2 << 20) + "\n"
        let body = try JSONEncoder().encode(SubmitRequest(manifest: manifest, manifestFile: "agent.yaml"))
        let r = try node.http("POST", "/v1/workloads", token: node.adminToken(), body: body)
        XCTAssertEqual(r.status, 413)
        let e = try JSONDecoder().decode(ErrorBody.self, from: r.body)
        XCTAssertTrue(e.error.contains("1 MiB") && e.error.contains("manifest"), e.error)
    }

    /// Over the unix socket and TCP, declared (Content-Length) and streamed (chunked): a body over
    /// its route's limit gets a 413 with a JSON error naming the limit.
    func testOversizedBodiesGetAJSON413() throws {
        let targets: [(String, RawHTTPTarget)] = [("unix", .unix(path: node.dataDir + "/aegis.sock")), ("tcp", .tcp(port: node.port))]
        for (name, target) in targets {
            for declare in [true, false] {
                let sub = try RawHTTP.post(
                    target, path: "/v1/workloads", token: node.adminToken(), bodyBytes: 80 << 20, declareLength: declare)
                XCTAssertEqual(sub.status, 413, "\(name) declared=\(declare)")
                let e = try JSONDecoder().decode(ErrorBody.self, from: sub.body)
                XCTAssertTrue(e.error.contains("limit") && e.error.contains("MiB"), "\(name): \(e.error)")
                let tenant = try RawHTTP.post(
                    target, path: "/v1/tenants", token: node.adminToken(), bodyBytes: 3 << 20, declareLength: declare)
                XCTAssertEqual(tenant.status, 413, "\(name) declared=\(declare)")
                XCTAssertTrue(try JSONDecoder().decode(ErrorBody.self, from: tenant.body).error.contains("over the 1 MiB limit"))
            }
        }
        // The node still answers.
        XCTAssertEqual(try node.http("GET", "/v1/whoami", token: node.adminToken()).status, 200)
    }

    /// Six concurrent 60 MB streamed submissions: the node's peak RSS grows by about six route
    /// limits at most, not by the bodies' size.
    func testConcurrentOversizedBodiesKeepMemoryBounded() throws {
        let pid = try XCTUnwrap(node.process?.processIdentifier)
        let before = try vmHWMKiB(pid)
        let token = node.adminToken(), port = node.port
        let statuses = Mutex6()
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let r = try? RawHTTP.post(.tcp(port: port), path: "/v1/workloads", token: token, bodyBytes: 60_000_000, declareLength: false)
            statuses.set(i, r?.status ?? -1)
        }
        let after = try vmHWMKiB(pid)
        let limitKiB = ((1 << 20) + (16 << 20) / 3 * 4) / 1024
        print(
            "6 concurrent 60 MB bodies: VmHWM \(before) KiB → \(after) KiB (+\((after - before) / 1024) MiB; route limit \(limitKiB / 1024) MiB)"
        )
        XCTAssertEqual(statuses.all, Array(repeating: 413, count: 6))
        XCTAssertLessThan(after - before, 6 * limitKiB + 48 * 1024)
    }

    func vmHWMKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
}

/// Six statuses written from concurrent threads.
final class Mutex6: @unchecked Sendable {
    private let lock = NSLock()
    private var values = Array(repeating: 0, count: 6)
    func set(_ i: Int, _ v: Int) { lock.lock(); values[i] = v; lock.unlock() }
    var all: [Int] { lock.lock(); defer { lock.unlock() }; return values }
}
