import AegisProtocol
@testable import AegisScheduler
import XCTest

final class ScoringTests: XCTestCase {
    /// A half-used node and an empty one: bin-pack fills the used one, spread picks the empty one.
    func testBinpackAndSpreadChooseDifferentNodes() {
        let nodes = [
            node("empty", caps(cpu: 8000, memory: 16 * GiB)),
            node("half", caps(cpu: 8000, memory: 16 * GiB), allocated: Allocation(cpuMillis: 4000, memoryBytes: 8 * GiB)),
        ]
        let r = req("w", spec(cpu: 1000, memory: GiB))
        let pack = Scheduler(config: SchedulerConfig(strategy: .binpack)).place(r, nodes: nodes)
        let spread = Scheduler(config: SchedulerConfig(strategy: .spread)).place(r, nodes: nodes)
        XCTAssertEqual(pack.node, "half")
        XCTAssertEqual(spread.node, "empty")
        // Scores are in 0…1.
        XCTAssertGreaterThan(scoreOf(pack), 0)
        XCTAssertLessThan(scoreOf(pack), 1)
        XCTAssertGreaterThan(scoreOf(spread), 0)
        XCTAssertLessThan(scoreOf(spread), 1)
    }

    func testBinpackScoreMatchesFormula() {
        // After placement: cpu 3/4 free, memory 1/2 free → (20 − 10^0.75 − 10^0.5) / 18.
        let n = node("n1", caps(cpu: 4000, memory: 8 * GiB))
        let d = Scheduler().place(req("w", spec(cpu: 1000, memory: 4 * GiB)), nodes: [n])
        let expected = (20 - pow10(0.75) - pow10(0.5)) / 18
        XCTAssertEqual(scoreOf(d), expected, accuracy: 1e-4)
        let full = Scheduler().place(req("w", spec(cpu: 4000, memory: 8 * GiB)), nodes: [n])
        XCTAssertEqual(scoreOf(full), 1, accuracy: 1e-9, "a node filled exactly scores 1")
    }

    func testGPUNodesArePenalisedForCPUWork() {
        let gpuNode = node(
            "g1", caps(cpu: 8000, memory: 16 * GiB, gpus: [gpu("nvidia", "NVIDIA L4", "0000:01:00.0")]),
            allocated: Allocation(cpuMillis: 6000, memoryBytes: 12 * GiB))
        let cpuNode = node("c1", caps(cpu: 8000, memory: 16 * GiB))
        let plain = req("w", spec(cpu: 500, memory: 512 * MiB))
        // Bin-pack alone would prefer the fuller GPU node; the penalty sends CPU work elsewhere.
        XCTAssertEqual(Scheduler(config: SchedulerConfig(gpuNodePenalty: 0)).place(plain, nodes: [gpuNode, cpuNode]).node, "g1")
        XCTAssertEqual(Scheduler().place(plain, nodes: [gpuNode, cpuNode]).node, "c1")
        // …but still uses it when nothing else fits, and GPU work is not penalised.
        XCTAssertEqual(Scheduler().place(plain, nodes: [gpuNode]).node, "g1")
        XCTAssertEqual(Scheduler().place(req("w", spec(gpus: 1)), nodes: [gpuNode, cpuNode]).node, "g1")
        // A GPU node whose GPUs are all assigned is not penalised.
        var busy = gpuNode
        busy.allocated.gpus = ["0000:01:00.0"]
        XCTAssertEqual(Scheduler().place(plain, nodes: [busy, cpuNode]).node, "g1")
    }

    func testTiesGoToTheSmallerNameWhateverTheOrder() {
        let a = node("a"), b = node("b"), c = node("c")
        for order in [[a, b, c], [c, b, a], [b, c, a]] {
            XCTAssertEqual(Scheduler().place(req(), nodes: order).node, "a")
            let cluster = ClusterScheduler(config: SchedulerConfig(candidateLimit: .exhaustive), nodes: order)
            XCTAssertEqual(cluster.place(req()).node, "a")
        }
    }

    func testPow10TableAccuracy() {
        Fit.pow10Table.withUnsafeBufferPointer { t in
            for i in 0...1000 {
                let f = Double(i) / 1000
                XCTAssertEqual(Fit.pow10(f, t) / pow10(f), 1, accuracy: 1e-5, "10^\(f)")
            }
        }
    }
}

/// 10^x by repeated square roots of 10 (independent of the table under test).
func pow10(_ x: Double) -> Double {
    var result = 1.0, root = 10.0, rest = x
    for _ in 0..<52 {
        if rest >= 1 { result *= root; rest -= 1 }
        rest *= 2
        root = root.squareRoot()
    }
    return result
}
