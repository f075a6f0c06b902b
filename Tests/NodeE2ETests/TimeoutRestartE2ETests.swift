// End-to-end: a timeout is a deadline kept with the placement; a node restarted (after SIGTERM or
// SIGKILL) once it passed stops the agent at once, with the timeout as the reason.
import AegisProtocol
import Foundation
import XCTest

final class TimeoutRestartE2ETests: SingleNodeTestCase {

    // MARK: timeouts across a node restart

    /// Without a restart: stopped at its deadline, which is written next to the placement.
    func testTimeoutStopsTheAgentAtItsDeadline() throws {
        let id = try node.submit(
            manifest: """
                name: sleeper
                runtime: command
                command: [sleep, "60"]
                timeout: 2s
                """)
        let running = try node.waitFor(id, timeout: 10) { $0.state == .running }
        XCTAssertEqual(running.state, .running)
        let stored = try XCTUnwrap(FileManager.default.contents(atPath: node.dataDir + "/workloads/\(id)/deadline.json"))
        let deadline = try XCTUnwrap(JSONSerialization.jsonObject(with: stored) as? [String: Any])
        XCTAssertEqual(deadline["generation"] as? Int, 1)
        XCTAssertEqual(deadline["timeoutSeconds"] as? Int, 2)
        let w = try node.waitFor(id, timeout: 10) { $0.state.isFinal }
        XCTAssertEqual(w.reason, "timeout of 2s reached")
        let ran = Double((w.finishedAtMs ?? 0) - (w.startedAtMs ?? 0)) / 1000
        XCTAssertTrue(ran >= 1.5 && ran < 4, "ran \(ran) s with a 2 s timeout")
    }

    func testTimeoutIsEnforcedAfterANodeRestart() throws { try timeoutAcrossRestart(signal: SIGTERM) }

    func testTimeoutIsEnforcedAfterANodeIsKilled() throws { try timeoutAcrossRestart(signal: SIGKILL) }

    /// `timeout: 6s`, the node stopped after ~1 s and started again after the deadline passed: the
    /// agent is stopped at once with the timeout as its reason.
    func timeoutAcrossRestart(signal: Int32) throws {
        let id = try node.submit(
            manifest: """
                name: sleeper
                runtime: command
                command: [sleep, "60"]
                timeout: 6s
                """)
        let running = try node.waitFor(id, timeout: 10) { $0.state == .running }
        XCTAssertEqual(running.state, .running)
        let started = Date()
        Thread.sleep(forTimeInterval: 1)
        if signal == SIGKILL, let p = node.process {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        } else {
            node.stop()
        }
        Thread.sleep(forTimeInterval: max(0, 7.5 - Date().timeIntervalSince(started)))
        try node.start()
        let restarted = Date()
        let w = try node.waitFor(id, timeout: 15) { $0.state.isFinal }
        let took = Date().timeIntervalSince(restarted)
        print(
            "timeout after restart (signal \(signal)): ended \(String(format: "%.1f", took)) s after the node came back: \(w.reason ?? "")")
        XCTAssertEqual(w.state, .failed, w.reason ?? "")
        XCTAssertEqual(w.reason, "timeout of 6s reached")
        XCTAssertLessThan(took, 4, "a passed deadline stops the agent at once (SIGTERM, sleep dies)")
    }
}
