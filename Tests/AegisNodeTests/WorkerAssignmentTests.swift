// What the worker hands the sandbox for an assignment: limits (minus the unenforced ones), the
// assigned GPUs' device nodes plus the vendor's control nodes, and the visibility variables.
import AegisOCI
import AegisProtocol
import AegisSandbox
import Foundation
import XCTest
@testable import AegisNode

final class WorkerAssignmentTests: XCTestCase {
    func spec(gpus: Int = 0, memory: Int64? = nil, cpu: Int64? = nil, pids: Int64? = nil) -> WorkloadSpec {
        WorkloadSpec(
            tenant: "t", name: "gpu-job", runtime: "python3", args: ["python3", "train.py"], env: ["A": "1"],
            resources: ResourceRequest(cpuMillis: cpu, memoryBytes: memory, pids: pids, gpus: gpus))
    }

    func testAssignedGPUsAreBoundWithVisibilityVariables() throws {
        // Device nodes as files in a temp dir stand in for /dev/nvidia* (only existing nodes are bound).
        let dir = NSTemporaryDirectory() + "aegis-gpu-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for n in ["nvidia2", "nvidia5", "nvidia7"] { FileManager.default.createFile(atPath: "\(dir)/\(n)", contents: nil) }
        let gpus = [
            GPUDevice(vendor: "nvidia", model: "A100", pciAddress: "0000:3b:00.0", index: 2, deviceNodes: ["\(dir)/nvidia2"]),
            GPUDevice(vendor: "nvidia", model: "A100", pciAddress: "0000:86:00.0", index: 5, deviceNodes: ["\(dir)/nvidia5"]),
        ]
        let w = Workload(id: "a-1", spec: spec(gpus: 2), createdAtMs: 0, gpus: gpus.map(\.pciAddress))
        let r = Worker.request(Assignment(workload: w, uid: 200001, gpus: gpus), workDir: "/tmp/work")
        let bound = r.extraMounts.map(\.destination)
        XCTAssertTrue(bound.contains("\(dir)/nvidia2") && bound.contains("\(dir)/nvidia5"), "\(bound)")
        XCTAssertFalse(bound.contains("\(dir)/nvidia7"), "an unassigned GPU must not be visible")
        XCTAssertTrue(r.env.contains("NVIDIA_VISIBLE_DEVICES=2,5"), "\(r.env)")
        XCTAssertTrue(r.env.contains("CUDA_VISIBLE_DEVICES=2,5"), "\(r.env)")
        XCTAssertTrue(r.env.contains("A=1"))
        XCTAssertEqual(r.uid, 200001)
        XCTAssertNil(r.resources)
        // The spec the sandbox gets binds exactly those nodes.
        let oci = AgentProfile.spec(r, rootfs: "/tmp/root")
        XCTAssertEqual(oci.mounts?.filter { $0.destination.hasPrefix(dir) }.count, 2)
    }

    func testAMDUsesROCRVariable() {
        let gpus = [GPUDevice(vendor: "amd", model: "MI250", pciAddress: "0000:c1:00.0", index: 1, deviceNodes: [])]
        let w = Workload(id: "a-2", spec: spec(gpus: 1), createdAtMs: 0, gpus: gpus.map(\.pciAddress))
        let r = Worker.request(Assignment(workload: w, uid: 200002, gpus: gpus), workDir: "/tmp/work")
        XCTAssertTrue(r.env.contains("ROCR_VISIBLE_DEVICES=1"), "\(r.env)")
        XCTAssertFalse(r.env.contains { $0.hasPrefix("NVIDIA_VISIBLE_DEVICES") })
    }

    func testLimitsBecomeCgroupResourcesExceptUnenforcedOnes() {
        var w = Workload(id: "a-3", spec: spec(memory: 256 << 20, cpu: 500, pids: 64), createdAtMs: 0)
        let r = Worker.request(Assignment(workload: w, uid: 200003), workDir: "/tmp/work")
        XCTAssertEqual(r.resources?.memory?.limit, 256 << 20)
        XCTAssertEqual(r.resources?.memory?.swap, 256 << 20, "OCI swap = memory + swap: no swap")
        XCTAssertEqual(r.resources?.cpu?.quota, 50_000)
        XCTAssertEqual(r.resources?.cpu?.period, 100_000)
        XCTAssertEqual(r.resources?.pids?.limit, 64)
        w.unenforcedLimits = ["memory", "pids"]
        let u = Worker.request(Assignment(workload: w, uid: 200003), workDir: "/tmp/work")
        XCTAssertNil(u.resources?.memory)
        XCTAssertNil(u.resources?.pids)
        XCTAssertEqual(u.resources?.cpu?.quota, 50_000)
    }

    func testSandboxIDsCarryTheGeneration() {
        XCTAssertEqual(Worker.sandboxID("a-xyz", 3), "a-xyz.g3")
        XCTAssertEqual(Worker.parseSandboxID("a-xyz.g3").map { "\($0.0) \($0.1)" }, "a-xyz 3")
        XCTAssertNil(Worker.parseSandboxID("not-a-sandbox"))
    }
}
