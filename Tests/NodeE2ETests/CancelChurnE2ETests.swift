// End-to-end: hundreds of concurrent submissions, a third of them cancelled at random moments
// (while pending, while being dispatched and created, while running), against a real node; once
// every workload is final no cgroup leaf and no sandbox state directory may be left.
import AegisProtocol
import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class CancelChurnE2ETests: SingleNodeTestCase {

    /// The node's API over a session that allows many connections at once.
    struct API: Sendable {
        let session: URLSession
        let port: Int
        let token: String

        func request(_ method: String, _ path: String, body: Data? = nil) -> (status: Int, body: Data) {
            CancelChurnE2ETests.request(session, port: port, token: token, method, path, body: body)
        }
    }

    static func request(
        _ session: URLSession, port: Int, token: String, _ method: String, _ path: String,
        body: Data? = nil
    ) -> (status: Int, body: Data) {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = method
        req.httpBody = body
        req.timeoutInterval = 60
        req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if body != nil { req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result = (0, Data())
        session.dataTask(with: req) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    /// Sandbox leaves left under the node's cgroup parent, and sandbox state directories.
    func leftovers() -> [String] {
        let fm = FileManager.default
        let parent = "/sys/fs/cgroup/unified/" + node.cgroupParent
        var out: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where !name.hasPrefix("cgroup.") {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: parent + "/" + name, isDirectory: &isDir), isDir.boolValue { out.append("cgroup " + name) }
        }
        for name in (try? fm.contentsOfDirectory(atPath: node.dataDir + "/sandboxes")) ?? [] where !name.hasPrefix(".") {
            out.append("state dir " + name)
        }
        return out.sorted()
    }

    func testConcurrentSubmissionsWithRandomCancelsLeaveNoSandboxBehind() throws {
        let total = 210
        let config = URLSessionConfiguration.ephemeral
        config.httpMaximumConnectionsPerHost = total
        let api = API(session: URLSession(configuration: config), port: node.port, token: node.adminToken())
        var generator = SystemRandomNumberGenerator()
        // Every third agent would run 30 s unless cancelled; the others end by themselves soon.
        let plans: [(cancelAfterMs: Int?, command: [String])] = (0..<total).map { i in
            i % 3 == 0
                ? (Int.random(in: 0...1500, using: &generator), ["sleep", "30"])
                : (nil, i % 2 == 0 ? ["true"] : ["sleep", "0.\(Int.random(in: 1...5, using: &generator))"])
        }
        let started = Date()
        let ids = Locked<[Int: String]>([:])
        @Sendable func submitAndMaybeCancel(_ i: Int) {
            let flags = RunFlags(name: "churn-\(i)", command: plans[i].command)
            let body = try! JSONEncoder().encode(SubmitRequest(run: flags, inputs: [:]))
            let r = api.request("POST", "/v1/workloads", body: body)
            guard r.status == 201, let w = try? JSONDecoder().decode(Workload.self, from: r.body) else {
                XCTFail("submission \(i): HTTP \(r.status) \(String(decoding: r.body, as: UTF8.self))")
                return
            }
            ids.withLock { $0[i] = w.id }
            if let ms = plans[i].cancelAfterMs {
                usleep(useconds_t(ms) * 1000)
                let c = api.request("POST", "/v1/workloads/\(w.id)/cancel")
                XCTAssertEqual(c.status, 200, "cancel \(w.id): \(String(decoding: c.body, as: UTF8.self))")
            }
        }
        // One thread per submission (concurrentPerform would run only as many as there are cores).
        let group = DispatchGroup()
        for i in 0..<total {
            group.enter()
            Thread {
                submitAndMaybeCancel(i); group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "submissions did not finish")
        let submitted = ids.withLock { $0 }
        XCTAssertEqual(submitted.count, total)

        // Every workload final, within the test's budget (a cancelled `sleep 30` must not run out).
        var active: [Workload] = []
        let deadline = Date().addingTimeInterval(75)
        repeat {
            let r = api.request("GET", "/v1/workloads?state=pending,scheduled,running")
            active = (try? JSONDecoder().decode(WorkloadList.self, from: r.body).items) ?? []
            if active.isEmpty { break }
            usleep(200_000)
        } while Date() < deadline
        XCTAssertEqual(active.map { "\($0.id) \($0.state.rawValue) \($0.reason ?? "")" }, [], node.nodeLog())

        let all = try JSONDecoder().decode(WorkloadList.self, from: api.request("GET", "/v1/workloads").body).items
        let byID = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var states: [WorkloadState: Int] = [:]
        for (i, id) in submitted {
            guard let w = byID[id] else { XCTFail("workload \(id) missing"); continue }
            states[w.state, default: 0] += 1
            if plans[i].cancelAfterMs != nil {
                XCTAssertEqual(w.state, .cancelled, "\(id) (sleep 30, cancelled): \(w.reason ?? "")")
            } else {
                XCTAssertEqual(w.state, .succeeded, "\(id) \(plans[i].command): \(w.reason ?? "")")
            }
        }

        // Release follows the final state at once; give it a moment, then nothing may be left.
        var left = leftovers()
        for _ in 0..<50 where !left.isEmpty {
            usleep(100_000)
            left = leftovers()
        }
        XCTAssertEqual(
            left, [],
            "leftovers after all \(total) workloads ended (a workload still scheduled above is one "
                + "whose sandbox create never returned)\n\(node.nodeLog())")
        let elapsed = Date().timeIntervalSince(started)
        print(
            "churn: \(total) workloads, states \(states.map { "\($0.key.rawValue) \($0.value)" }.sorted()), \(String(format: "%.1f", elapsed)) s"
        )
        XCTAssertLessThan(elapsed, 110)
    }
}

/// A lock around a value shared by concurrentPerform's iterations.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
