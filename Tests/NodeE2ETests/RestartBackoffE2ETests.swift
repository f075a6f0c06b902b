// End-to-end: restarts by policy back off (1 s, 2 s, 4 s… with `restartBackoff`), shown by
// describe and the API; a bad back-off is refused with field and line.
import AegisProtocol
import Foundation
import XCTest

final class RestartBackoffE2ETests: SingleNodeTestCase {

    // MARK: restart back-off

    /// An agent that always exits 1 under `restart: on-failure` is restarted after 1 s, 2 s, 4 s…
    /// (its configured back-off), not hundreds of times; describe and the API show the next attempt.
    func testFailingAgentIsRestartedWithGrowingBackoff() throws {
        let id = try node.submit(
            manifest: """
                name: crasher
                runtime: command
                command: [/bin/sh, -c, "exit 1"]
                restart: on-failure
                restartBackoff: {initial: 1s, max: 8s}
                """)
        Thread.sleep(forTimeInterval: 9.5)
        let d = try node.workloadDetail(id)
        _ = try node.cli(["kill", id])
        let starts = d.events.filter { $0.type == .started }.map(\.timeMs)
        let gaps = zip(starts, starts.dropFirst()).map { Double($1 - $0) / 1000 }
        print(
            "restart back-off: \(starts.count) starts in 9.5 s, gaps \(gaps.map { String(format: "%.2f", $0) }) s, restarts \(d.workload.restarts)"
        )
        XCTAssertTrue((4...5).contains(starts.count), "starts at 0, 1, 3, 7 s expected: \(gaps)")
        for (i, gap) in gaps.prefix(3).enumerated() {
            let expected = Double(1 << i)
            XCTAssertTrue(gap >= expected && gap < expected + 1.0, "gap \(i + 1) is \(gap) s, expected \(expected) s")
        }
        XCTAssertLessThanOrEqual(d.workload.restarts, 5)
    }

    func testDescribeShowsTheNextAttempt() throws {
        let id = try node.submit(
            manifest: """
                name: crasher
                runtime: command
                command: [/bin/sh, -c, "exit 3"]
                restart: on-failure
                restartBackoff: {initial: 30s, max: 1m}
                """)
        let w = try node.waitFor(id, timeout: 10) { $0.restarts >= 1 }
        XCTAssertEqual(w.state, .pending, w.reason ?? "")
        let next = try XCTUnwrap(w.nextAttemptAtMs, "no nextAttemptAtMs in the API JSON")
        XCTAssertEqual(Double(next - (w.finishedAtMs ?? 0)) / 1000, 30, accuracy: 0.5)
        XCTAssertTrue(w.reason?.contains("back-off 30s") == true, w.reason ?? "")
        let described = try node.cli(["describe", id])
        XCTAssertTrue(described.stdout.contains("Next attempt") && described.stdout.contains("restart back-off"), described.stdout)
        XCTAssertTrue(described.stdout.contains("Restart back-off"), described.stdout)
        // Still waiting 3 s later: the back-off holds.
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(try node.workloadDetail(id).workload.restarts, 1)
        _ = try node.cli(["kill", id])
    }

    func testBadRestartBackoffIsRefusedWithFieldAndLine() throws {
        let body = try JSONEncoder().encode(
            SubmitRequest(
                manifest: """
                    name: x
                    runtime: command
                    command: [/bin/true]
                    restartBackoff:
                      initial: 2h
                    """, manifestFile: "agent.yaml"))
        let r = try node.http("POST", "/v1/workloads", token: node.adminToken(), body: body)
        XCTAssertEqual(r.status, 400)
        let e = try JSONDecoder().decode(ErrorBody.self, from: r.body)
        XCTAssertEqual(e.field, "restartBackoff.initial")
        XCTAssertTrue(e.error.contains(":5:") && e.error.contains("between 1 s and 1 h"), e.error)
    }
}
