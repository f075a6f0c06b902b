// MultiNodeNotifyE2ETests.swift — a worker as a Type=notify unit sees it ($NOTIFY_SOCKET a real
// datagram socket): its start-up steps announced, READY=1 only once the controller's welcome is
// reconciled (the controller lists it Ready by then), and a STATUS that follows the session: the
// controller stopped (SIGSTOP) → "unreachable, reconnecting", continued → joined again.
import Foundation
import XCTest

extension MultiNodeE2ETests {
    func testAWorkerIsReadyOnlyOnceWelcomedAndItsStatusFollowsTheSession() throws {
        bed = try ClusterTestbed(["ctl", "w1"])
        controller = try NodeHarness(
            extraArgs: ["--role", "controller", "--listen", "0.0.0.0:7443"] + Self.fastController, netns: bed.ns("ctl"))
        try controller.start()
        let manager = try ServiceNotifyE2ETests.ManagerSocket()
        try startWorker("w1", extra: Self.fastWorker, environment: ["NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "2000000"])
        let startup = manager.receive(for: 60) { $0.contains("READY=1") }
        let ready = try XCTUnwrap(startup.last)
        XCTAssertTrue(ready.contains("READY=1"), "\(startup)\n\(workers["w1"]!.log())")
        XCTAssertEqual(try nodeStates()["w1"], "Ready", "welcomed before READY=1")
        XCTAssertTrue(ready.contains("STATUS=worker w1: joined wss://\(bed.address("ctl")):"), ready)
        XCTAssertTrue(ready.contains("agents running: 0"), ready)
        let steps = startup.dropLast().joined(separator: "\n")
        XCTAssertTrue(steps.contains("STATUS=starting: joining or loading the node identity, detecting capabilities"), steps)
        XCTAssertTrue(steps.contains("STATUS=starting: connecting to the controller, re-adopting agents"), steps)

        let pid = try XCTUnwrap(controller.process?.processIdentifier)
        kill(pid, SIGSTOP)
        let lost = manager.receive(for: 20) { $0.contains("unreachable, reconnecting") }
        kill(pid, SIGCONT)
        XCTAssertTrue(lost.last?.contains("STATUS=worker w1: controller wss://") ?? false, "\(lost)")
        XCTAssertTrue(lost.allSatisfy { $0.contains("WATCHDOG=1") }, "the worker itself stays alive: \(lost)")
        let back = manager.receive(for: 30) { $0.contains("STATUS=worker w1: joined") }
        XCTAssertTrue(back.last?.contains("STATUS=worker w1: joined") ?? false, "\(back)")
    }
}
