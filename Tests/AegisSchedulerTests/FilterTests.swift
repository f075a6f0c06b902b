import AegisProtocol
@testable import AegisScheduler
import XCTest

/// Each feasibility filter: it rejects what it should, with the reason text users see, and lets the
/// boundary case through.
final class FilterTests: XCTestCase {
    let s = Scheduler()

    func testNotReadyAndCordoned() {
        XCTAssertEqual(
            reason(s.place(req(), nodes: [node("n1", state: .notReady)])),
            "node n1 is not Ready (state NotReady)")
        XCTAssertEqual(reason(s.place(req(), nodes: [node("n1", cordoned: true)])), "node n1 is cordoned")
        XCTAssertEqual(s.place(req(), nodes: [node("n1", state: .down), node("n2")]).node, "n2")
    }

    func testCPUReasonAndBoundary() {
        let n = node("n1", caps(cpu: 2000), allocated: Allocation(cpuMillis: 500))
        XCTAssertEqual(reason(s.place(req("w", spec(cpu: 4000)), nodes: [n])), "needs 4000m CPU; node n1 has 1500m free")
        XCTAssertEqual(s.place(req("w", spec(cpu: 1500)), nodes: [n]).node, "n1", "exactly the free CPU fits")
        XCTAssertNotNil(try s.rejection(req("w", spec(cpu: 1501)), node: n))
    }

    func testUnspecifiedCPUAndMemoryReserveConfigurableDefaults() throws {
        let n = node("n1", caps(cpu: 1000, memory: GiB), allocated: Allocation(cpuMillis: 950))
        XCTAssertEqual(reason(s.place(req(), nodes: [n])), "needs 100m CPU; node n1 has 50m free")
        let small = Scheduler(config: SchedulerConfig(defaults: ResourceDefaults(cpuMillis: 50, memoryBytes: 64 * MiB)))
        XCTAssertEqual(small.place(req(), nodes: [n]).node, "n1")
        XCTAssertEqual(small.reservation(for: req()).cpuMillis, 50)
        XCTAssertEqual(small.reservation(for: req()).memoryBytes, 64 * MiB)
        // Defaults are reservations, not limits: a node without any cgroup controller still fits.
        XCTAssertEqual(s.place(req(), nodes: [node("n2", caps(controllers: []))]).node, "n2")
    }

    func testMemoryReason() {
        let n = node("n1", caps(memory: 2 * GiB), allocated: Allocation(memoryBytes: 1792 * MiB))
        XCTAssertEqual(
            reason(s.place(req("w", spec(memory: 512 * MiB)), nodes: [n])),
            "needs 512 MiB memory; node n1 has 256 MiB free")
        XCTAssertEqual(
            reason(s.place(req("w", spec(memory: 3 * GiB / 2)), nodes: [node("n2", caps(memory: GiB))])),
            "needs 1.5 GiB memory; node n2 has 1 GiB free")
        XCTAssertEqual(s.place(req("w", spec(memory: 256 * MiB)), nodes: [n]).node, "n1")
    }

    func testGPUCountVendorAndModel() throws {
        let gpus = [
            gpu("nvidia", "NVIDIA A100-SXM4-80GB", "0000:3b:00.0"), gpu("nvidia", "NVIDIA L4", "0000:3c:00.0"),
            gpu("AMD", "AMD Instinct MI250X", "0000:5e:00.0"),
        ]
        let n = node("n1", caps(gpus: gpus))
        XCTAssertEqual(
            reason(
                s.place(
                    req("w", spec(gpu: GPURequirement(vendor: "nvidia", count: 2))),
                    nodes: [node("n1", caps())])), "needs 2 nvidia GPUs; node n1 has 0 free")
        // Model match is a case-insensitive substring; vendor is case-insensitive.
        XCTAssertEqual(
            s.place(req("w", spec(gpu: GPURequirement(vendor: "NVIDIA", model: "a100"))), nodes: [n]),
            .placed(
                node: "n1", gpus: ["0000:3b:00.0"],
                score: scoreOf(
                    s.place(
                        req("w", spec(gpu: GPURequirement(vendor: "nvidia", model: "A100"))),
                        nodes: [n]))))
        XCTAssertEqual(s.place(req("w", spec(gpu: GPURequirement(vendor: "amd"))), nodes: [n]).gpus, ["0000:5e:00.0"])
        // Allocated GPUs are not free.
        let busy = node("n1", caps(gpus: gpus), allocated: Allocation(gpus: ["0000:3b:00.0"]))
        XCTAssertEqual(
            reason(s.place(req("w", spec(gpu: GPURequirement(vendor: "nvidia", count: 2))), nodes: [busy])),
            "needs 2 nvidia GPUs; node n1 has 1 free of 2")
        XCTAssertEqual(
            reason(s.place(req("w", spec(gpu: GPURequirement(vendor: "nvidia", model: "h100"))), nodes: [n])),
            "needs 1 nvidia GPU matching \"h100\"; node n1 has 0 free")
        // resources.gpus alone asks for GPUs of any vendor.
        XCTAssertEqual(s.place(req("w", spec(gpus: 3)), nodes: [n]).gpus.count, 3)
        XCTAssertEqual(reason(s.place(req("w", spec(gpus: 4)), nodes: [n])), "needs 4 GPUs; node n1 has 3 free")
    }

    func testRuntimePresenceAndVersion() {
        let n = node("n1")
        XCTAssertEqual(
            reason(
                s.place(
                    req("w", spec(runtimes: [RuntimeRequirement(name: "python3", version: ">=3.12")])),
                    nodes: [n])), "needs python3 >=3.12; node n1 has python3 3.11.2")
        XCTAssertEqual(reason(s.place(req("w", spec(runtime: "node")), nodes: [n])), "needs node; node n1 has no node")
        XCTAssertEqual(
            s.place(
                req("w", spec(runtimes: [RuntimeRequirement(name: "python3", version: "~3.11")])),
                nodes: [n]
            ).node, "n1")
        // Any of several installed versions may satisfy.
        let two = node(
            "n2",
            caps(runtimes: [
                RuntimeInfo(name: "python3", version: "3.9.2", path: "/a"),
                RuntimeInfo(name: "python3", version: "3.12.1", path: "/b"),
            ]))
        XCTAssertEqual(
            s.place(
                req("w", spec(runtimes: [RuntimeRequirement(name: "python3", version: ">=3.12")])),
                nodes: [two]
            ).node, "n2")
        XCTAssertEqual(
            reason(
                s.place(
                    req("w", spec(runtimes: [RuntimeRequirement(name: "python3", version: "3.10")])),
                    nodes: [two])), "needs python3 3.10; node n2 has python3 3.9.2, 3.12.1")
        // "command" workloads need no runtime.
        XCTAssertEqual(s.place(req("w", spec(runtime: "command")), nodes: [node("n3", caps(runtimes: []))]).node, "n3")
    }

    func testInvalidConstraintIsPendingWithReason() {
        let r = reason(
            s.place(
                req("w", spec(runtimes: [RuntimeRequirement(name: "python3", version: ">=three")])),
                nodes: [node("n1")]))
        XCTAssertTrue(r.hasPrefix("invalid workload: requires.runtimes[0].version: invalid version constraint \">=three\""), r)
        XCTAssertEqual(
            reason(s.place(req("w", spec(cpu: -1)), nodes: [node("n1")])),
            "invalid workload: resources.cpuMillis: is -1; must be 0 or more")
    }

    func testLabels() {
        let n = node("n1", caps(labels: ["zone": "b", "reach": "internet"]))
        XCTAssertEqual(s.place(req("w", spec(labels: ["zone": "b", "reach": "internet"])), nodes: [n]).node, "n1")
        XCTAssertEqual(
            reason(s.place(req("w", spec(labels: ["zone": "a"])), nodes: [n])),
            "needs label zone=a; node n1 has zone=b")
        XCTAssertEqual(
            reason(s.place(req("w", spec(labels: ["gpu-class": "big"])), nodes: [n])),
            "needs label gpu-class=big; node n1 has no gpu-class label")
    }

    func testIsolationNeedsControllersUnlessUnenforcedAllowed() {
        let bare = node("n1", caps(controllers: []))
        XCTAssertEqual(
            reason(s.place(req("w", spec(memory: GiB)), nodes: [bare])),
            "needs memory limit enforcement; node n1 has no memory cgroup controller "
                + "(start it with --allow-unenforced-limits to run unenforced)")
        XCTAssertEqual(
            reason(s.place(req("w", spec(cpu: 500)), nodes: [node("n1", caps(controllers: ["memory", "pids"]))])),
            "needs cpu limit enforcement; node n1 has no cpu cgroup controller "
                + "(start it with --allow-unenforced-limits to run unenforced)")
        XCTAssertEqual(
            reason(s.place(req("w", spec(memory: GiB, pids: 64)), nodes: [node("n1", caps(controllers: ["cpu"]))])),
            "needs memory and pids limit enforcement; node n1 has no memory or pids cgroup controller "
                + "(start it with --allow-unenforced-limits to run unenforced)")
        XCTAssertEqual(
            s.place(
                req("w", spec(cpu: 500, memory: GiB, pids: 64)),
                nodes: [node("n1", caps(controllers: [], allowUnenforced: true))]
            ).node, "n1")
        XCTAssertEqual(s.place(req("w", spec(pids: 64)), nodes: [node("n1", caps(controllers: ["pids"]))]).node, "n1")
        // Host networking has no node requirement.
        XCTAssertEqual(s.place(req("w", spec(network: .host)), nodes: [bare]).node, "n1")
    }

    func testFilterOrderReportsStaticMismatchBeforeShortage() throws {
        let n = node("n1", caps(cpu: 100, labels: ["zone": "a"]))
        let r = try s.rejection(req("w", spec(cpu: 4000, labels: ["zone": "b"])), node: n)
        XCTAssertEqual(r?.filter, .labels)
        XCTAssertEqual(r?.short, "n1: needs label zone=b, has zone=a")
    }
}

func scoreOf(_ d: PlacementDecision) -> Double {
    if case .placed(_, _, let s) = d { return s }
    return .nan
}

extension PlacementDecision {
    var gpus: [String] {
        if case .placed(_, let g, _) = self { return g }
        return []
    }
}
