import AegisClient
import AegisProtocol
import XCTest

final class RenderTests: XCTestCase {
    private func workload(_ state: WorkloadState, exit: Int32? = nil, signal: Int32? = nil, oom: Bool = false) -> Workload {
        Workload(
            id: "w-\(state.rawValue)", spec: WorkloadSpec(tenant: "acme", name: "n", runtime: "command", args: ["true"]),
            state: state, exitCode: exit, signal: signal, oomKilled: oom, createdAtMs: 1_000)
    }

    func testExitStatus() {
        XCTAssertEqual(exitStatus(of: workload(.succeeded, exit: 0)), 0)
        XCTAssertEqual(exitStatus(of: workload(.failed, exit: 3)), 3)
        XCTAssertEqual(exitStatus(of: workload(.failed, signal: 9, oom: true)), 137)
        XCTAssertEqual(exitStatus(of: workload(.cancelled, signal: 15)), 143)
        XCTAssertEqual(exitStatus(of: workload(.failed)), 1)
        XCTAssertEqual(exitStatus(of: workload(.lost)), 2)
        XCTAssertEqual(exitStatus(of: workload(.cancelled)), 2)
        XCTAssertEqual(exitColumn(workload(.failed, exit: 137, oom: true)), "137 (OOM)")
        XCTAssertEqual(exitColumn(workload(.cancelled, signal: 15)), "sig 15")
        XCTAssertEqual(exitColumn(workload(.running)), "-")
        XCTAssertEqual(stateSummary(workload(.failed, exit: 137, oom: true)), "failed: exit 137, OOM killed")
    }

    func testWorkloadTable() {
        var running = workload(.running)
        running.node = "n1"
        let text = workloadTable([running, workload(.succeeded, exit: 0)], nowMs: 1_000 + 125_000)
        XCTAssertEqual(
            text,
            """
            ID            NAME   TENANT   STATE       NODE   AGE   EXIT
            w-running     n      acme     running     n1     2m    -
            w-succeeded   n      acme     succeeded   -      2m    0

            """)
    }

    func testDescribeWorkloadMarksUnenforcedLimits() {
        var w = workload(.running)
        w.spec.resources = ResourceRequest(cpuMillis: 500, memoryBytes: 256 << 20, gpus: 1)
        w.unenforcedLimits = ["memory"]
        w.gpus = ["0000:3b:00.0"]
        w.node = "n1"
        w.generation = 2
        w.startedAtMs = 2_000
        let text = describeWorkload(
            WorkloadDetail(
                workload: w, events: [WorkloadEvent(timeMs: 1_500, type: .scheduled, message: "on n1")],
                outputs: ["result.json"]), nowMs: 10_000)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  Memory:") && $0.hasSuffix("256Mi   (NOT ENFORCED)") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  CPU:") && $0.hasSuffix("500m") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  GPUs:") && $0.hasSuffix("1: 0000:3b:00.0") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("Not enforced:") && $0.contains("memory") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("Node:") && $0.hasSuffix("n1 (placement generation 2)") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("Running for:") && $0.hasSuffix("8.0s") }, text)
        XCTAssertTrue(lines.contains("  result.json"), text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  ") && $0.contains("scheduled") && $0.hasSuffix("on n1") }, text)
        // Values in one block share a column.
        func valueColumn(_ l: String) -> Int {
            var i = l.index(after: l.firstIndex(of: ":")!)
            while i < l.endIndex && l[i] == " " { i = l.index(after: i) }
            return l.distance(from: l.startIndex, to: i)
        }
        let valueColumns = Set(
            lines.filter { $0.hasPrefix("ID:") || $0.hasPrefix("Tenant:") || $0.hasPrefix("  Memory:") }.map(valueColumn))
        XCTAssertEqual(valueColumns.count, 1, text)
    }

    /// A workload stored with the largest values any older version accepted (memory 1Ei, timeout
    /// Int.max, cpu Int64.max, times far apart) renders instead of trapping the CLI.
    func testDescribeWorkloadWithExtremeValuesRenders() {
        var w = workload(.failed, exit: 1)
        w.spec.resources = ResourceRequest(cpuMillis: .max, memoryBytes: 1 << 60, pids: .max, gpus: .max)
        w.spec.timeoutSeconds = .max
        w.createdAtMs = .min
        w.startedAtMs = .min
        w.finishedAtMs = .max
        let text = describeWorkload(WorkloadDetail(workload: w, events: [], outputs: []), nowMs: .max)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  Memory:") && $0.hasSuffix(" 1Ei") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  CPU:") && $0.hasSuffix(" 9223372036854775.807") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("Timeout:") && $0.hasSuffix(" 106751991167d07h") }, text)
        var negative = workload(.running)
        negative.spec.resources = ResourceRequest(cpuMillis: .min, memoryBytes: .min)
        let other = describeWorkload(WorkloadDetail(workload: negative, events: [], outputs: []), nowMs: .min)
        XCTAssertTrue(other.contains("-9223372036854775.808"), other)
        XCTAssertTrue(other.contains("-8Ei"), other)
    }

    func testNodeTableAndDescribe() {
        let node = NodeInfo(
            name: "n1", role: .hybrid, cordoned: true,
            capabilities: NodeCapabilities(
                cpuMillis: 2000, memoryBytes: 8 << 30,
                gpus: [
                    GPUDevice(
                        vendor: "nvidia", model: "A100", pciAddress: "0000:3b:00.0", uuid: "GPU-x",
                        deviceNodes: ["/dev/nvidia0"])
                ],
                runtimes: [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")],
                isolation: IsolationFeatures(cgroupControllers: ["pids"], allowUnenforcedLimits: true)),
            allocated: Allocation(cpuMillis: 500, memoryBytes: 1 << 30, gpus: [], agents: 1))
        XCTAssertEqual(
            nodeTable([node]),
            """
            NAME   ROLE     STATE            CPU     MEMORY    GPUS   RUNTIMES
            n1     hybrid   Ready,Cordoned   1.5/2   7Gi/8Gi   1/1    python3 3.11.2

            """)
        let text = describeNode(node)
        XCTAssertTrue(text.contains("cpu NO, memory NO, pids yes"), text)
        XCTAssertTrue(text.contains("allowed (--allow-unenforced-limits"), text)
        XCTAssertTrue(text.contains("GPU-x") && text.contains("/dev/nvidia0") && text.contains("0000:3b:00.0:"), text)
        XCTAssertFalse(text.contains("Not for agents"), text)
    }

    func testDescribeNodeListsRuntimesAgentsCannotRunWithTheReason() {
        var caps = NodeCapabilities(runtimes: [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")])
        caps.unavailableRuntimes = [
            UnavailableRuntime(
                name: "python3", path: "/root/.pyenv/shims/python3",
                reason: "not visible to agents (outside /usr, /bin, /etc)")
        ]
        let text = describeNode(NodeInfo(name: "n1", role: .hybrid, capabilities: caps))
        let lines = text.split(separator: "\n").map(String.init)
        guard let at = lines.firstIndex(where: { $0.hasPrefix("  Not for agents:") }) else { return XCTFail(text) }
        XCTAssertTrue(lines[at - 1].contains("python3") && lines[at - 1].contains("/usr/bin/python3"), text)
        XCTAssertEqual(lines[at + 1], "    python3 at /root/.pyenv/shims/python3: not visible to agents (outside /usr, /bin, /etc)")
    }
}
