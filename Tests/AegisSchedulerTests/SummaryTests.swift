import AegisProtocol
@testable import AegisScheduler
import XCTest

/// Pending reasons over many nodes: grouped, most common first, bounded in length.
final class SummaryTests: XCTestCase {
    func testSeveralNodesAreListedByName() {
        let nodes = [node("n1"), node("n2", state: .notReady)]
        XCTAssertEqual(
            reason(Scheduler().place(req("w", spec(gpu: GPURequirement(vendor: "nvidia", count: 2))), nodes: nodes)),
            "no node fits: n1: needs 2 nvidia GPUs, has 0 free; n2: is not Ready (state NotReady)")
    }

    func testManyNodesAreGroupedMostCommonFirst() {
        var nodes: [NodeState] = []
        for i in 0..<40 { nodes.append(node("cpu\(i)", caps(cpu: 1000))) }
        for i in 0..<10 { nodes.append(node("down\(i)", state: .down)) }
        for i in 0..<5 { nodes.append(node("old\(i)", caps(runtimes: [RuntimeInfo(name: "python3", version: "3.8.10", path: "/p")]))) }
        nodes.append(node("cordoned", cordoned: true))
        let r = reason(
            Scheduler().place(
                req("w", spec(cpu: 4000, runtimes: [RuntimeRequirement(name: "python3", version: ">=3.10")])),
                nodes: nodes))
        XCTAssertEqual(
            r,
            "no node fits (56 nodes): cpu0: needs 4000m CPU, has 1000m free (+39 like it); "
                + "down0: is not Ready (state Down) (+9 like it); old0: needs python3 >=3.10, has python3 3.8.10 (+4 like it); "
                + "… and 1 more")
        // The cluster scheduler gives the same summary.
        let c = ClusterScheduler(config: SchedulerConfig(candidateLimit: .logarithmic(exhaustiveBelow: 10)), nodes: nodes)
        XCTAssertEqual(reason(c.place(req("w", spec(cpu: 4000, runtimes: [RuntimeRequirement(name: "python3", version: ">=3.10")])))), r)
    }

    func testLengthIsCapped() {
        let long = String(repeating: "x", count: 300)
        let nodes = (0..<6).map { node("\(long)\($0)", caps(labels: ["k\($0)": "v"])) }
        let config = SchedulerConfig(maxListedReasons: 10, maxReasonLength: 400)
        let r = reason(Scheduler(config: config).place(req("w", spec(labels: ["zone": "a"])), nodes: nodes))
        XCTAssertLessThanOrEqual(r.count, 400 + 20)
        XCTAssertTrue(r.hasSuffix("… and 5 more"), r)
    }
}
