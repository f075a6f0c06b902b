import AegisProtocol
@testable import AegisScheduler
import XCTest

final class QuotaTests: XCTestCase {
    func testRunningAgents() {
        let usage = Allocation(cpuMillis: 500, memoryBytes: GiB, agents: 5)
        XCTAssertEqual(
            quotaCheck(tenantUsage: usage, quota: Quota(runningAgents: 5), request: ResourceRequest(), tenant: "acme"),
            "tenant acme: running agents 5/5")
        XCTAssertNil(quotaCheck(tenantUsage: usage, quota: Quota(runningAgents: 6), request: ResourceRequest(), tenant: "acme"))
        XCTAssertEqual(
            quotaCheck(tenantUsage: usage, quota: Quota(runningAgents: 5), request: ResourceRequest()),
            "quota: running agents 5/5")
    }

    func testCPUMemoryGPUsListEveryExceededLimit() {
        let usage = Allocation(cpuMillis: 3500, memoryBytes: 3 * GiB, gpus: ["a", "b"], agents: 2)
        let quota = Quota(cpuMillis: 4000, memoryBytes: 4 * GiB, gpus: 2, runningAgents: 10)
        XCTAssertEqual(
            quotaCheck(
                tenantUsage: usage, quota: quota,
                request: ResourceRequest(cpuMillis: 1000, memoryBytes: 2 * GiB, gpus: 1), tenant: "acme"),
            "tenant acme: cpu 3500m used + 1000m requested > 4000m quota; "
                + "memory 3 GiB used + 2 GiB requested > 4 GiB quota; GPUs 2 used + 1 requested > 2 quota")
        // Exactly reaching a limit is allowed; no GPUs requested means the GPU quota is not in play.
        XCTAssertNil(quotaCheck(tenantUsage: usage, quota: quota, request: ResourceRequest(cpuMillis: 500, memoryBytes: GiB)))
    }

    func testUnsetResourcesCountAsTheSchedulerDefaults() {
        let usage = Allocation(cpuMillis: 950, agents: 1)
        XCTAssertEqual(
            quotaCheck(tenantUsage: usage, quota: Quota(cpuMillis: 1000), request: ResourceRequest(), tenant: "t"),
            "tenant t: cpu 950m used + 100m requested > 1000m quota")
        XCTAssertNil(
            quotaCheck(
                tenantUsage: usage, quota: Quota(cpuMillis: 1000), request: ResourceRequest(), tenant: "t",
                defaults: ResourceDefaults(cpuMillis: 50)))
    }

    func testSchedulerOverloadUsesRequestTenantAndGPURequirement() {
        let s = Scheduler()
        let r = PlacementRequest(workloadID: "w", spec: spec(gpu: GPURequirement(vendor: "nvidia", count: 2), tenant: "lab"))
        XCTAssertEqual(
            s.quotaCheck(tenantUsage: Allocation(), quota: Quota(gpus: 1), request: r),
            "tenant lab: GPUs 0 used + 2 requested > 1 quota")
        XCTAssertNil(s.quotaCheck(tenantUsage: Allocation(), quota: Quota(gpus: 2), request: r))
    }
}
