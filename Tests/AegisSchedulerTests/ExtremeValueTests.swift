// Quota and placement arithmetic at the ends of Int64: nothing traps, every comparison still says
// the right thing, and requests outside `Bounds` are refused as invalid rather than added up.
import AegisProtocol
@testable import AegisScheduler
import XCTest

final class ExtremeValueTests: XCTestCase {
    func testQuotaCheckAtInt64ExtremesReportsInsteadOfTrapping() {
        let full = Allocation(cpuMillis: .max, memoryBytes: .max, gpus: ["a"], agents: .max)
        let quota = Quota(cpuMillis: .max, memoryBytes: .max, gpus: .max, runningAgents: .max)
        let reason = quotaCheck(
            tenantUsage: full, quota: quota,
            request: ResourceRequest(cpuMillis: .max, memoryBytes: .max, gpus: .max), tenant: "t")
        // Saturated sums equal the quota, which is allowed; one more than the quota is not reachable.
        XCTAssertNil(reason)
        let tight = Quota(cpuMillis: Int64.max - 1, memoryBytes: Int64.max - 1, gpus: Int.max - 1, runningAgents: Int.max - 1)
        let over = quotaCheck(
            tenantUsage: full, quota: tight,
            request: ResourceRequest(cpuMillis: .max, memoryBytes: .max, gpus: .max), tenant: "t")
        XCTAssertEqual(
            over?.hasPrefix("tenant t: running agents \(Int.max)/\(Int.max - 1); cpu \(Int64.max)m used + "), true, over ?? "nil")
        XCTAssertEqual(over?.contains("memory 8388608 TiB used + 8388608 TiB requested > 8388607.9 TiB quota"), true, over ?? "nil")
        XCTAssertEqual(over?.contains("GPUs 1 used + \(Int.max) requested > \(Int.max - 1) quota"), true, over ?? "nil")
    }

    func testQuotaCheckWithTheLargestParsableRequestAgainstAPebibyteQuota() {
        // The manifest that used to kill the node: memory 9223372036854775807 against a quota.
        let usage = Allocation(cpuMillis: 100, memoryBytes: 128 * MiB, agents: 1)
        let quota = Quota(cpuMillis: 4000, memoryBytes: Bounds.maxMemoryBytes)
        let reason = quotaCheck(tenantUsage: usage, quota: quota, request: ResourceRequest(memoryBytes: .max), tenant: "acme")
        XCTAssertEqual(reason, "tenant acme: memory 128 MiB used + 8388608 TiB requested > 1024 TiB quota")
        XCTAssertNil(
            quotaCheck(
                tenantUsage: usage, quota: quota,
                request: ResourceRequest(memoryBytes: Bounds.maxMemoryBytes - 128 * MiB)))
        // Negative usage (never produced, but stored rows are not trusted) does not wrap either.
        XCTAssertNil(
            quotaCheck(
                tenantUsage: Allocation(cpuMillis: .min, memoryBytes: .min), quota: quota,
                request: ResourceRequest(cpuMillis: .min, memoryBytes: .min)))
    }

    func testRequestsOutsideTheBoundsArePendingAsInvalid() {
        let s = Scheduler()
        let nodes = [node("n1", caps(cpu: .max, memory: .max))]
        let cases: [(WorkloadSpec, String)] = [
            (spec(memory: .max), "resources.memoryBytes: \(Int64.max) is out of range: 0 to 1 PiB (1125899906842624 bytes)"),
            (spec(cpu: Bounds.maxCPUMillis + 1), "resources.cpuMillis: 1000000001 is out of range: 0 to 1000000000 millicores"),
            (spec(pids: .max), "resources.pids: \(Int64.max) is out of range: 0 to 4194304"),
            (spec(gpus: .max), "resources.gpus: \(Int.max) is out of range: 0 to 1024"),
            (spec(gpu: GPURequirement(count: 5000)), "requires.gpu.count: 5000 is out of range: 0 to 1024"),
            (spec(memory: .min), "resources.memoryBytes: is \(Int64.min); must be 0 or more"),
        ]
        for (workload, expected) in cases {
            XCTAssertEqual(reason(s.place(req("w", workload), nodes: nodes)), "invalid workload: \(expected)")
            let cluster = ClusterScheduler(config: SchedulerConfig(candidateLimit: .exhaustive), nodes: nodes)
            XCTAssertEqual(reason(cluster.place(req("w", workload))), "invalid workload: \(expected)")
        }
        var long = spec()
        long.timeoutSeconds = .max
        XCTAssertEqual(
            reason(s.place(req("w", long), nodes: nodes)),
            "invalid workload: timeout: \(Int.max) s is out of range: 1 s to 365 d (31536000 s)")
    }

    func testNodesReportingExtremeCapacitiesNeitherTrapNorTakeWork() {
        let big = spec(cpu: Bounds.maxCPUMillis, memory: Bounds.maxMemoryBytes)
        let nodes = [
            node("huge", caps(cpu: .max, memory: .max), allocated: Allocation(cpuMillis: .min, memoryBytes: .min)),
            node("negative", caps(cpu: .min, memory: .min), allocated: Allocation(cpuMillis: .max, memoryBytes: .max)),
        ]
        // Stateless: the negative node's free space saturates at Int64.min and is rejected.
        XCTAssertEqual(Scheduler().place(req("w", big), nodes: nodes).node, "huge")
        // Cluster: capacities and allocations below 0 count as 0, so "huge" is (now) free and fits.
        let cluster = ClusterScheduler(config: SchedulerConfig(candidateLimit: .exhaustive), nodes: nodes)
        XCTAssertEqual(cluster.place(req("w1", big)).node, "huge")
        for i in 2...20 { XCTAssertEqual(cluster.place(req("w\(i)", big)).node, "huge", "each placement adds its bounded need") }
        XCTAssertEqual(cluster.node("huge")?.allocated.cpuMillis, 20 * Bounds.maxCPUMillis)
        for i in 1...20 { XCTAssertNotNil(cluster.release(workload: "w\(i)")) }
        XCTAssertEqual(cluster.node("huge")?.allocated.memoryBytes, 0)
    }

    func testRestoringAndReleasingExtremeReservationsSaturates() throws {
        let cluster = ClusterScheduler(config: SchedulerConfig(candidateLimit: .exhaustive), nodes: [node("n1")])
        let huge = Reservation(node: "n1", cpuMillis: .max, memoryBytes: .max)
        try cluster.restore(workload: "a", reservation: huge)
        try cluster.restore(workload: "b", reservation: huge)
        XCTAssertEqual(cluster.node("n1")?.allocated.cpuMillis, .max)
        try cluster.restore(workload: "c", reservation: Reservation(node: "n1", cpuMillis: .min, memoryBytes: .min))
        XCTAssertEqual(cluster.node("n1")?.allocated.memoryBytes, .max, "a negative reservation adds nothing")
        XCTAssertEqual(reason(cluster.place(req("w", spec(cpu: 1)))), "needs 1m CPU; node n1 has 0m free")
        cluster.release(workload: "c")
        cluster.release(workload: "a")
        cluster.release(workload: "b")
        XCTAssertEqual(cluster.node("n1")?.allocated.cpuMillis, 0)
        XCTAssertEqual(cluster.place(req("w", spec(cpu: 1))).node, "n1")
    }

    func testSaturatingArithmetic() {
        XCTAssertEqual(Int64.max.saturatingAdding(1), .max)
        XCTAssertEqual(Int64.min.saturatingAdding(-1), .min)
        XCTAssertEqual(Int64(5).saturatingAdding(-7), -2)
        XCTAssertEqual(Int64.min.saturatingSubtracting(1), .min)
        XCTAssertEqual(Int64.max.saturatingSubtracting(-1), .max)
        XCTAssertEqual(Int64(0).saturatingSubtracting(.min), .max)
        XCTAssertEqual(Int64.max.saturatingMultiplied(by: 2), .max)
        XCTAssertEqual(Int64.max.saturatingMultiplied(by: -2), .min)
        XCTAssertEqual(Int64.min.saturatingMultiplied(by: -1), .max)
        XCTAssertEqual(Int64(-3).saturatingMultiplied(by: 1000), -3000)
        XCTAssertEqual(UInt64(1).saturatingSubtracting(2), 0)
    }

    func testQuotaAndSpecBounds() {
        XCTAssertNoThrow(
            try Quota(
                cpuMillis: Bounds.maxCPUMillis, memoryBytes: Bounds.maxMemoryBytes,
                gpus: Bounds.maxQuotaGPUs, runningAgents: 0
            ).checkBounds())
        let bad: [(Quota, String)] = [
            (Quota(cpuMillis: 0), "quota.cpuMillis: 0 is out of range: 1m to 1000000 cores (1000000000m)"),
            (
                Quota(memoryBytes: Bounds.maxMemoryBytes + 1),
                "quota.memoryBytes: 1125899906842625 is out of range: 1 byte to 1 PiB (1125899906842624 bytes)"
            ),
            (Quota(gpus: -1), "quota.gpus: -1 is out of range: 0 to 1000000"),
            (Quota(runningAgents: .max), "quota.runningAgents: \(Int.max) is out of range: 0 to 1000000"),
        ]
        for (quota, message) in bad {
            XCTAssertThrowsError(try quota.checkBounds()) { XCTAssertEqual("\($0)", message) }
        }
        var s = spec(cpu: Bounds.maxCPUMillis, memory: Bounds.maxMemoryBytes, pids: Bounds.maxPids, gpus: Bounds.maxAgentGPUs)
        s.timeoutSeconds = Bounds.maxTimeoutSeconds
        XCTAssertNoThrow(try s.checkBounds())
        s.timeoutSeconds = 0
        XCTAssertThrowsError(try s.checkBounds()) { XCTAssertEqual(($0 as? OutOfRangeError)?.field, "timeout") }
    }
}
