import AegisProtocol
@testable import AegisScheduler
import XCTest

final class ClusterSchedulerTests: XCTestCase {
    let exhaustive = SchedulerConfig(candidateLimit: .exhaustive)

    func gpuCluster() -> ClusterScheduler {
        let mixed = [
            gpu("nvidia", "NVIDIA A100-SXM4-80GB", "0000:3b:00.0"), gpu("nvidia", "NVIDIA A100-SXM4-80GB", "0000:3c:00.0"),
            gpu("nvidia", "NVIDIA L4", "0000:3d:00.0"), gpu("amd", "AMD Instinct MI250X", "0000:5e:00.0"),
        ]
        let a100s = [gpu("nvidia", "NVIDIA A100-SXM4-80GB", "0000:81:00.0"), gpu("nvidia", "NVIDIA A100-SXM4-80GB", "0000:82:00.0")]
        return ClusterScheduler(
            config: exhaustive,
            nodes: [
                node("g1", caps(cpu: 64000, memory: 256 * GiB, gpus: mixed)),
                node("g2", caps(cpu: 64000, memory: 256 * GiB, gpus: a100s)),
                node("c1", caps(cpu: 64000, memory: 256 * GiB)),
            ])
    }

    func testGPUAssignmentPicksMatchingFreeGPUsAndNeverDoubleAssigns() throws {
        let c = gpuCluster()
        let all = Dictionary(uniqueKeysWithValues: c.nodes.flatMap { n in n.capabilities.gpus.map { ($0.pciAddress, (n.name, $0)) } })
        var assigned: [String] = []
        var i = 0
        while true {
            let d = c.place(req("a100-\(i)", spec(gpu: GPURequirement(vendor: "nvidia", model: "a100"))))
            guard case .placed(let n, let gpus, _) = d else {
                XCTAssertEqual(
                    reason(d),
                    "no node fits: g1: needs 1 nvidia GPU matching \"a100\", has 0 free of 2; "
                        + "g2: needs 1 nvidia GPU matching \"a100\", has 0 free of 2; c1: needs 1 nvidia GPU matching \"a100\", has 0 free")
                break
            }
            XCTAssertEqual(gpus.count, 1)
            let (owner, device) = try XCTUnwrap(all[gpus[0]])
            XCTAssertEqual(owner, n, "GPU belongs to the chosen node")
            XCTAssertTrue(device.model.contains("A100"))
            assigned += gpus
            i += 1
        }
        XCTAssertEqual(assigned.count, 4, "all four A100s, no more")
        XCTAssertEqual(Set(assigned).count, assigned.count, "no GPU assigned twice")
        // The L4 and the AMD GPU are still free, and any-vendor requests get exactly those.
        let rest = c.place(req("any", spec(gpus: 2)))
        XCTAssertEqual(Set(rest.gpus), ["0000:3d:00.0", "0000:5e:00.0"])
        XCTAssertEqual(Set(c.node("g1")!.allocated.gpus).count, 4)
        XCTAssertFalse(c.place(req("one-more", spec(gpus: 1))).isPlaced)
    }

    func testReleaseFreesCPUMemoryAndGPUs() throws {
        let c = ClusterScheduler(
            config: exhaustive,
            nodes: [
                node(
                    "n1",
                    caps(
                        cpu: 2000, memory: 2 * GiB,
                        gpus: [gpu("nvidia", "NVIDIA L4", "0000:01:00.0")]))
            ])
        let d = c.place(req("w1", spec(cpu: 2000, memory: 2 * GiB, gpus: 1)))
        XCTAssertEqual(d.gpus, ["0000:01:00.0"])
        XCTAssertEqual(c.node("n1")?.allocated, Allocation(cpuMillis: 2000, memoryBytes: 2 * GiB, gpus: ["0000:01:00.0"], agents: 1))
        XCTAssertEqual(reason(c.place(req("w2", spec(cpu: 0, memory: 0, gpus: 1)))), "needs 1 GPU; node n1 has 0 free of 1")
        let r = try XCTUnwrap(c.release(workload: "w1"))
        XCTAssertEqual(r.node, "n1")
        XCTAssertEqual(c.node("n1")?.allocated, Allocation())
        XCTAssertNil(c.release(workload: "w1"), "second release is a no-op")
        XCTAssertEqual(c.place(req("w3", spec(cpu: 2000, memory: 2 * GiB, gpus: 1))).gpus, ["0000:01:00.0"])
    }

    func testPlacingIsIdempotentPerWorkload() {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1"), node("n2")])
        let first = c.place(req("w1", spec(cpu: 1000)))
        XCTAssertEqual(c.place(req("w1", spec(cpu: 1000))), first)
        XCTAssertEqual(c.reservationCount, 1)
        XCTAssertEqual(c.nodes.map(\.allocated.agents).reduce(0, +), 1)
    }

    func testPreviewReservesNothing() {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1", caps(cpu: 1000))])
        XCTAssertTrue(c.preview(req("w1", spec(cpu: 1000))).isPlaced)
        XCTAssertEqual(c.node("n1")?.allocated, Allocation())
        XCTAssertTrue(c.place(req("w1", spec(cpu: 1000))).isPlaced)
        XCTAssertEqual(reason(c.preview(req("w2", spec(cpu: 1000)))), "needs 1000m CPU; node n1 has 0m free")
    }

    /// Exhaustive cluster placement and the stateless scheduler agree decision for decision.
    func testMatchesStatelessSchedulerOnRandomWorkloads() {
        var rng = TestRNG(state: 42)
        let nodes = randomCluster(120, rng: &rng)
        for strategy in ScoringStrategy.allCases {
            let config = SchedulerConfig(strategy: strategy, candidateLimit: .exhaustive)
            let cluster = ClusterScheduler(config: config, nodes: nodes)
            let stateless = Scheduler(config: config)
            var placed = 0, checkedReasons = 0
            for i in 0..<400 {
                let r = req("w\(i)", randomSpec(&rng))
                let snapshot = cluster.nodes
                let expected = stateless.place(r, nodes: snapshot)
                XCTAssertEqual(cluster.place(r), expected, "workload \(i) \(strategy)")
                if expected.isPlaced {
                    placed += 1
                } else if let d = try? Demand(r.spec, defaults: config.defaults) {
                    // Every node's reason, not only the few a summary shows.
                    let fast = cluster.rejectionCodes(d, cluster.staticEntry(d)).map(\.code)
                    let slow = snapshot.map { n in
                        Feasibility.rejection(
                            d, caps: n.capabilities, state: n.state, cordoned: n.cordoned,
                            freeCPU: n.capabilities.cpuMillis - n.allocated.cpuMillis,
                            freeMemory: n.capabilities.memoryBytes - n.allocated.memoryBytes,
                            egressUsed: n.allocated.egressAgents ?? 0,
                            isTaken: { n.allocated.gpus.contains($0) })
                    }
                    XCTAssertEqual(fast, slow, "per-node reasons for workload \(i)")
                    checkedReasons += 1
                }
                if i % 7 == 0 { cluster.release(workload: "w\(i / 2)") }
            }
            XCTAssertGreaterThan(placed, 100, "the random workloads mostly fit")
            XCTAssertLessThan(placed, 400, "and some do not")
            XCTAssertGreaterThan(checkedReasons, 10)
        }
    }

    /// Sampled placements are always feasible, and sampling finds the one node that fits.
    func testSamplingGivesValidPlacements() throws {
        var rng = TestRNG(state: 7)
        let nodes = randomCluster(1000, rng: &rng)
        let config = SchedulerConfig(candidateLimit: .logarithmic(exhaustiveBelow: 100))
        XCTAssertEqual(config.candidateLimit.feasibleLimit(nodeCount: 1000), 10)
        XCTAssertNil(config.candidateLimit.feasibleLimit(nodeCount: 99))
        let cluster = ClusterScheduler(config: config, nodes: nodes)
        let checker = Scheduler(config: config)
        var placed = 0, visitedWhenPlaced = 0
        for i in 0..<600 {
            let r = req("w\(i)", randomSpec(&rng))
            let before = cluster.nodes
            let visitedBefore = cluster.stats.nodesVisited
            let d = cluster.place(r)
            if case .placed(let name, let gpus, _) = d {
                visitedWhenPlaced += cluster.stats.nodesVisited - visitedBefore
                let n = try XCTUnwrap(before.first { $0.name == name })
                XCTAssertNil(try checker.rejection(r, node: n), "sampled node \(name) must be feasible")
                XCTAssertTrue(Set(gpus).isDisjoint(with: n.allocated.gpus))
                placed += 1
            } else {
                // Sampling only gives up after visiting every node.
                XCTAssertFalse(checker.place(r, nodes: before).isPlaced, "exhaustive placed what sampling did not")
            }
        }
        XCTAssertGreaterThan(placed, 300)
        XCTAssertLessThan(visitedWhenPlaced / placed, 250, "sampling stops long before visiting all 1000 nodes")

        // Only one node has room: sampling keeps visiting until it finds it.
        let full = ClusterScheduler(
            config: config,
            nodes: (0..<1000).map {
                node(format0($0), caps(cpu: 1000), allocated: Allocation(cpuMillis: $0 == 321 ? 0 : 1000))
            })
        XCTAssertEqual(full.place(req("w", spec(cpu: 500))).node, "n0321")

        let needle = ClusterScheduler(
            config: config,
            nodes: (0..<1000).map {
                node(format0($0), caps(labels: ["zone": $0 == 777 ? "needle" : "hay"]))
            })
        XCTAssertEqual(needle.place(req("w", spec(labels: ["zone": "needle"]))).node, "n0777")
    }

    func testNodeUpdatesStateCordonAndRemoval() throws {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1", caps(cpu: 4000)), node("n2", caps(cpu: 8000))])
        XCTAssertEqual(c.place(req("w1", spec(cpu: 3000))).node, "n1")
        c.setCordoned(true, node: "n1")
        XCTAssertEqual(c.place(req("w2", spec(cpu: 500))).node, "n2")
        c.setState(.notReady, node: "n2")
        XCTAssertEqual(
            reason(c.place(req("w3", spec(cpu: 500)))),
            "no node fits: n1: is cordoned; n2: is not Ready (state NotReady)")
        // Re-detection keeps tracked allocation; new capabilities apply.
        c.upsert(node("n1", caps(cpu: 16000, labels: ["zone": "z"])))
        XCTAssertEqual(c.node("n1")?.allocated.cpuMillis, 3000)
        XCTAssertEqual(c.place(req("w4", spec(cpu: 12000, labels: ["zone": "z"]))).node, "n1")
        XCTAssertTrue(c.remove(node: "n1"))
        XCTAssertNil(c.reservation(for: "w1"), "reservations on a removed node are dropped")
        XCTAssertEqual(c.nodeCount, 1)
        XCTAssertNotNil(c.reservation(for: "w2"))
        c.setState(.ready, node: "n2")
        XCTAssertEqual(c.place(req("w5", spec(cpu: 500))).node, "n2")
    }

    func testRestoreRebuildsReservationsAndRefusesConflicts() throws {
        let c = gpuCluster()
        try c.restore(
            workload: "old",
            reservation: Reservation(
                node: "g2", cpuMillis: 1000, memoryBytes: GiB,
                gpus: ["0000:81:00.0"]))
        XCTAssertEqual(c.node("g2")?.allocated, Allocation(cpuMillis: 1000, memoryBytes: GiB, gpus: ["0000:81:00.0"], agents: 1))
        XCTAssertThrowsError(
            try c.restore(
                workload: "dup",
                reservation: Reservation(
                    node: "g2", cpuMillis: 0, memoryBytes: 0,
                    gpus: ["0000:81:00.0"]))
        ) {
            XCTAssertEqual("\($0)", "cannot restore reservation of workload dup: GPU 0000:81:00.0 on node g2 is already assigned")
        }
        XCTAssertThrowsError(try c.restore(workload: "x", reservation: Reservation(node: "nope", cpuMillis: 0, memoryBytes: 0))) {
            XCTAssertEqual("\($0)", "cannot restore reservation of workload x: node nope is unknown")
        }
        XCTAssertThrowsError(try c.restore(workload: "old", reservation: Reservation(node: "c1", cpuMillis: 0, memoryBytes: 0))) {
            XCTAssertEqual("\($0)", "cannot restore reservation of workload old: already holds a reservation on node g2")
        }
        XCTAssertEqual(c.release(workload: "old")?.gpus, ["0000:81:00.0"])
        XCTAssertEqual(c.node("g2")?.allocated, Allocation())
    }

    func testNoNodes() {
        XCTAssertEqual(reason(ClusterScheduler().place(req())), "no nodes registered")
        XCTAssertEqual(reason(Scheduler().place(req(), nodes: [])), "no nodes registered")
    }
}
