import AegisProtocol
import Foundation
@testable import AegisScheduler
import XCTest

/// Network mode egress: routing to nodes that offer it, reachability labels, and the per-node limit
/// of egress addresses, in both the stateless and the cluster scheduler.
final class EgressTests: XCTestCase {
    let exhaustive = SchedulerConfig(candidateLimit: .exhaustive)

    func egressNet(slots: Int = 5, subnet: String = "10.213.0.0/29", reach: [String] = []) -> NetworkCapability {
        NetworkCapability(egress: true, subnet: subnet, egressSlots: slots, reach: reach)
    }

    let bridgeFailed = NetworkCapability(egress: false, egressProblem: "bridge setup failed: RTM_NEWLINK: EPERM (1)")

    func testEgressAgentsGoOnlyToNodesWithEgress() {
        let nodes = [node("a-plain"), node("b-broken", caps(network: bridgeFailed)), node("c-egress", caps(network: egressNet()))]
        let egressSpec = spec(network: .egress)
        XCTAssertEqual(Scheduler(config: exhaustive).place(req("w", egressSpec), nodes: nodes).node, "c-egress")
        XCTAssertEqual(ClusterScheduler(config: exhaustive, nodes: nodes).place(req("w", egressSpec)).node, "c-egress")
        // Other network modes are not filtered on: equal nodes tie on the smaller name.
        XCTAssertEqual(Scheduler(config: exhaustive).place(req("w", spec(network: .none)), nodes: nodes).node, "a-plain")
    }

    func testNoEgressReasonNamesTheNodesProblem() throws {
        let s = Scheduler()
        XCTAssertEqual(
            reason(s.place(req("w", spec(network: .egress)), nodes: [node("n1", caps(network: bridgeFailed))])),
            "needs network egress; node n1 has no egress (bridge setup failed: RTM_NEWLINK: EPERM (1))")
        XCTAssertEqual(
            reason(s.place(req("w", spec(network: .egress)), nodes: [node("n1")])),
            "needs network egress; node n1 has no egress")
        let nodes = [node("n1", caps(network: bridgeFailed)), node("n2")]
        let expected =
            "no node fits: n1: needs network egress, has no egress (bridge setup failed: RTM_NEWLINK: EPERM (1)); "
            + "n2: needs network egress, has no egress"
        XCTAssertEqual(reason(s.place(req("w", spec(network: .egress)), nodes: nodes)), expected)
        XCTAssertEqual(reason(ClusterScheduler(config: exhaustive, nodes: nodes).place(req("w", spec(network: .egress)))), expected)
        let r = try XCTUnwrap(try s.rejection(req("w", spec(network: .egress)), node: nodes[0]))
        XCTAssertEqual(r.filter, .egress)
        // Egress is checked before the other static filters: it is what the operator must provide.
        XCTAssertEqual(
            reason(s.place(req("w", spec(labels: ["zone": "b"], network: .egress)), nodes: [node("n2")])),
            "needs network egress; node n2 has no egress")
    }

    func testReachLabelsMustAllBeAdvertised() {
        let nodes = [
            node("n1", caps(network: egressNet(reach: ["internet"]))),
            node("n2", caps(network: egressNet(reach: ["internet", "corp-vpn"]))),
            node("n3", caps(network: egressNet())),
        ]
        let s = Scheduler(config: exhaustive)
        let c = ClusterScheduler(config: exhaustive, nodes: nodes)
        let vpn = spec(network: .egress, reach: ["corp-vpn"])
        XCTAssertEqual(s.place(req("w", vpn), nodes: nodes).node, "n2")
        XCTAssertEqual(c.preview(req("w", vpn)).node, "n2")
        let both = spec(network: .egress, reach: ["internet", "corp-vpn", "internet"])
        XCTAssertEqual(s.place(req("w", both), nodes: nodes).node, "n2")
        XCTAssertEqual(c.preview(req("w", both)).node, "n2")
        XCTAssertEqual(reason(s.place(req("w", vpn), nodes: [nodes[0]])), "needs reach=corp-vpn; node n1 has reach internet")
        XCTAssertEqual(reason(s.place(req("w", vpn), nodes: [nodes[2]])), "needs reach=corp-vpn; node n3 has no reach labels")
        let lab = spec(network: .egress, reach: ["lab"])
        let expected =
            "no node fits: n1: needs reach=lab, has reach internet; n2: needs reach=lab, has reach corp-vpn, internet; "
            + "n3: needs reach=lab, has no reach labels"
        XCTAssertEqual(reason(s.place(req("w", lab), nodes: nodes)), expected)
        XCTAssertEqual(reason(c.place(req("w", lab))), expected)
    }

    func testExhaustedEgressAddressesAreAPendingReasonAndReleaseFreesOne() throws {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1", caps(cpu: 64000, network: egressNet(slots: 5)))])
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 0, "an egress node reports its egress agents")
        for i in 0..<5 { XCTAssertEqual(c.place(req("e\(i)", spec(network: .egress))).node, "n1") }
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 5)
        XCTAssertEqual(c.node("n1")?.allocated.agents, 5)
        let full = "needs an egress address; node n1 has all 5 addresses of subnet 10.213.0.0/29 in use"
        XCTAssertEqual(reason(c.place(req("e5", spec(network: .egress)))), full)
        XCTAssertEqual(c.stats.pending, 1)
        // Agents without egress do not need an address.
        XCTAssertTrue(c.place(req("plain", spec(network: .none))).isPlaced)
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 5)
        // The stateless scheduler says the same about the same node view.
        let view = try XCTUnwrap(c.node("n1"))
        XCTAssertEqual(reason(Scheduler().place(req("e5", spec(network: .egress)), nodes: [view])), full)
        XCTAssertEqual(try Scheduler().rejection(req("e5", spec(network: .egress)), node: view)?.filter, .egressAddress)

        XCTAssertEqual(c.release(workload: "plain")?.egress, false)
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 5, "releasing a non-egress agent frees no address")
        XCTAssertEqual(c.release(workload: "e2")?.egress, true)
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 4)
        XCTAssertEqual(c.place(req("e5", spec(network: .egress))).node, "n1")
        XCTAssertEqual(reason(c.place(req("e6", spec(network: .egress)))), full)
    }

    func testFullNodeSendsEgressAgentsToTheNextOne() {
        let c = ClusterScheduler(
            config: SchedulerConfig(strategy: .binpack, candidateLimit: .exhaustive),
            nodes: [
                node("n1", caps(network: egressNet(slots: 1))), node("n2", caps(network: egressNet(slots: 1))),
            ])
        let first = c.place(req("e1", spec(network: .egress))).node
        let second = c.place(req("e2", spec(network: .egress))).node
        XCTAssertEqual(Set([first, second].compactMap { $0 }), ["n1", "n2"], "bin-packing still cannot put two on one node")
        XCTAssertEqual(
            reason(c.place(req("e3", spec(network: .egress)))),
            "no node fits: n1: needs an egress address, has its one address of subnet 10.213.0.0/29 in use; "
                + "n2: needs an egress address, has its one address of subnet 10.213.0.0/29 in use")
    }

    func testRestoredEgressReservationsCountAndOldRecordsDecode() throws {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1", caps(network: egressNet(slots: 2)))])
        let sizing = Scheduler(config: exhaustive)
        let r = sizing.reservation(for: req("e1", spec(network: .egress)), node: "n1", gpus: [])
        XCTAssertTrue(r.egress)
        XCTAssertFalse(sizing.reservation(for: req("p", spec()), node: "n1", gpus: []).egress)
        try c.restore(workload: "e1", reservation: r)
        try c.restore(workload: "e2", reservation: r)
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 2)
        XCTAssertFalse(c.place(req("e3", spec(network: .egress))).isPlaced)
        c.release(workload: "e1")
        XCTAssertTrue(c.place(req("e3", spec(network: .egress))).isPlaced)

        let old = #"{"node":"n1","cpuMillis":100,"memoryBytes":134217728,"gpus":[],"score":0}"#
        let decoded = try JSONDecoder().decode(Reservation.self, from: Data(old.utf8))
        XCTAssertFalse(decoded.egress)
        let round = try JSONDecoder().decode(Reservation.self, from: JSONEncoder().encode(r))
        XCTAssertEqual(round, r)
    }

    func testRedetectedNodeKeepsItsEgressAgentsAndLosingEgressIsStatic() throws {
        let c = ClusterScheduler(config: exhaustive, nodes: [node("n1", caps(network: egressNet(slots: 3)))])
        XCTAssertTrue(c.place(req("e1", spec(network: .egress))).isPlaced)
        c.upsert(node("n1", caps(network: egressNet(slots: 1))))
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 1, "the count survives re-detection")
        XCTAssertEqual(
            reason(c.place(req("e2", spec(network: .egress)))),
            "needs an egress address; node n1 has its one address of subnet 10.213.0.0/29 in use")
        c.upsert(node("n1", caps(network: egressNet(slots: 0))))
        XCTAssertEqual(
            reason(c.place(req("e2", spec(network: .egress)))), "needs an egress address; node n1 has no egress addresses to give")
        try c.restore(workload: "e0", reservation: Reservation(node: "n1", cpuMillis: 0, memoryBytes: 0, egress: true))
        c.upsert(node("n1", caps(network: egressNet(slots: 1))))
        XCTAssertEqual(
            reason(c.place(req("e2", spec(network: .egress)))),
            "needs an egress address; node n1 has its one address of subnet 10.213.0.0/29 in use (2 egress agents)")
        c.release(workload: "e0")
        c.upsert(node("n1", caps(network: bridgeFailed)))
        XCTAssertEqual(
            reason(c.place(req("e2", spec(network: .egress)))),
            "needs network egress; node n1 has no egress (bridge setup failed: RTM_NEWLINK: EPERM (1))")
        XCTAssertEqual(c.node("n1")?.allocated.egressAgents, 1, "a node holding egress agents still reports them")
        c.release(workload: "e1")
        XCTAssertNil(c.node("n1")?.allocated.egressAgents, "nil on a node without egress and without egress agents")
    }

    /// Sampling over a large cluster finds the few egress nodes, and never overfills one.
    func testSamplingFindsRareEgressNodes() {
        var rng = TestRNG(state: 11)
        var nodes = randomCluster(500, rng: &rng).map { n -> NodeState in
            var n = n
            n.state = .ready
            n.capabilities.cpuMillis = 64000
            n.capabilities.memoryBytes = 256 * GiB
            return n
        }
        for i in [17, 230, 499] { nodes[i].capabilities.network = egressNet(slots: 4) }
        let c = ClusterScheduler(config: SchedulerConfig(candidateLimit: .logarithmic(exhaustiveBelow: 100)), nodes: nodes)
        var seen: [String: Int] = [:]
        for i in 0..<12 {
            guard let n = c.place(req("e\(i)", spec(runtimes: [], network: .egress))).node else {
                return XCTFail("egress agent \(i) not placed")
            }
            seen[n, default: 0] += 1
        }
        XCTAssertEqual(Set(seen.keys), Set([nodes[17].name, nodes[230].name, nodes[499].name]))
        XCTAssertEqual(seen.values.sorted(), [4, 4, 4])
        XCTAssertTrue(reason(c.place(req("e12", spec(runtimes: [], network: .egress)))).hasPrefix("no node fits (500 nodes): "))
    }

    /// The cluster scheduler and the stateless one agree, decision for decision and on every node's
    /// reason, over a cluster where some nodes offer egress (few addresses) and reach labels.
    func testMatchesStatelessSchedulerWithEgress() {
        var rng = TestRNG(state: 2024)
        let reachSets: [[String]] = [[], ["internet"], ["internet", "corp-vpn"], ["lab"]]
        let nodes = randomCluster(80, rng: &rng).map { n -> NodeState in
            var n = n
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: n.capabilities.network = nil
            case 1: n.capabilities.network = bridgeFailed
            default:
                n.capabilities.network = egressNet(
                    slots: Int.random(in: 0...3, using: &rng),
                    reach: reachSets.randomElement(using: &rng)!)
            }
            return n
        }
        let config = SchedulerConfig(candidateLimit: .exhaustive)
        let cluster = ClusterScheduler(config: config, nodes: nodes)
        let stateless = Scheduler(config: config)
        var placedEgress = 0, pendingEgress = 0
        for i in 0..<400 {
            var s = randomSpec(&rng)
            if Int.random(in: 0..<2, using: &rng) == 0 {
                s.network = .egress
                s.requires.reach = [nil, ["internet"], ["corp-vpn"], ["lab", "internet"]].randomElement(using: &rng)!
            }
            let r = req("w\(i)", s)
            let snapshot = cluster.nodes
            let expected = stateless.place(r, nodes: snapshot)
            XCTAssertEqual(cluster.place(r), expected, "workload \(i)")
            if s.network == .egress { if expected.isPlaced { placedEgress += 1 } else { pendingEgress += 1 } }
            if !expected.isPlaced, let d = try? Demand(r.spec, defaults: config.defaults) {
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
            }
            if i % 5 == 0 { cluster.release(workload: "w\(i / 2)") }
        }
        XCTAssertGreaterThan(placedEgress, 20)
        XCTAssertGreaterThan(pendingEgress, 20)
        // No node holds more egress agents than it has addresses.
        for n in cluster.nodes {
            XCTAssertLessThanOrEqual(n.allocated.egressAgents ?? 0, n.capabilities.network?.egressSlots ?? 0, n.name)
        }
    }
}
