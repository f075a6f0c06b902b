import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// Detection on nodes where things are missing or broken: no GPU, hybrid cgroups, a hanging or
/// garbage-printing nvidia-smi, broken runtimes, an empty root.
final class DetectionDegradedTests: XCTestCase {
    let fixtures = FixtureRoots()
    override func tearDown() { fixtures.cleanUp() }

    static let t4 = [
        GPUDevice(
            vendor: "nvidia", model: "Tesla T4", pciAddress: "0000:3b:00.0", index: 0,
            uuid: "GPU-1c0a7e55-0f2b-4c0e-8d0e-6b9e2a3b0001", deviceNodes: ["/dev/nvidia0"]),
        GPUDevice(
            vendor: "nvidia", model: "Tesla T4", pciAddress: "0000:d8:00.0", index: 1,
            uuid: "GPU-1c0a7e55-0f2b-4c0e-8d0e-6b9e2a3b0002", deviceNodes: ["/dev/nvidia1"]),
    ]

    func testNoGPUHybridCgroups() async throws {
        let root = try fixtures.root("no-gpu")
        let caps = await CapabilityDetector(options: fixtureOptions(root)).detect()
        XCTAssertEqual(caps.gpus, [], "an Intel NIC (0x8086, class 0x0200) is not a GPU")
        XCTAssertEqual(caps.runtimes, [])
        XCTAssertEqual(caps.cpuMillis, 1500, "v1 cpu.cfs_quota_us 150000 / period 100000 caps 4 CPUs")
        XCTAssertEqual(caps.memoryBytes, 4 * 1024 * 1024 * 1024, "v1 memory.limit_in_bytes caps 16 GB")
        XCTAssertEqual(
            caps.isolation,
            IsolationFeatures(
                cgroupControllers: ["hugetlb"], seccomp: false,
                userNamespaces: false, kernelVersion: "4.19.0-26-amd64"))
        XCTAssertEqual(
            caps.warnings,
            [
                "cgroup: controllers memory, cpu, pids not available in /sys/fs/cgroup/unified/cgroup.controllers; those limits cannot be enforced"
            ])
    }

    func testHangingNvidiaSMIIsKilledAndGPUsStayListed() async throws {
        let root = try fixtures.root("broken-nvidia-smi")
        let options = fixtureOptions(root, commandTimeout: .seconds(1), runtimeTimeout: .milliseconds(500))
        let start = ContinuousClock.now
        let caps = await CapabilityDetector(options: options).detect()
        let elapsed = start.duration(to: .now)

        XCTAssertLessThan(elapsed, .seconds(4), "bounded by the 1 s nvidia-smi timeout, not its sleep 61")
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(1), "nvidia-smi was really run and waited for")
        XCTAssertEqual(caps.gpus, Self.t4, "sysfs/procfs attributes survive; memory unknown without nvidia-smi")
        XCTAssertEqual(caps.warnings.containing("nvidia-smi (/usr/bin/nvidia-smi)", "timed out after 1 s").count, 1, "\(caps.warnings)")
        // Runtimes: python3 works; ruby hangs, node prints no version, perl fails.
        XCTAssertEqual(caps.runtimes, [RuntimeInfo(name: "python3", version: "3.9.2", path: "/usr/bin/python3")])
        XCTAssertEqual(caps.warnings.containing("runtime ruby", "timed out after 500 ms").count, 1, "\(caps.warnings)")
        XCTAssertEqual(caps.warnings.containing("runtime node", "no version number", "hello from a broken node").count, 1)
        XCTAssertEqual(caps.warnings.containing("runtime perl", "exited with status 1", "Can't locate perl5db.pl").count, 1)
        XCTAssertEqual(caps.warnings.count, 4, "\(caps.warnings)")
        XCTAssertEqual(caps.cpuMillis, 16_000)
        XCTAssertEqual(caps.memoryBytes, 34_359_738_368, "memory.max 32 GiB caps 64 GB")
        // The scripts' `sleep 61` children were in the killed process group.
        let left = await survivors(argv: ["sleep", "61"], within: 2)
        XCTAssertEqual(left, [], "sleep 61 children of the killed probes must be gone")
    }

    func testGarbageNvidiaSMIExitingNonZero() async throws {
        let root = try fixtures.root("broken-nvidia-smi")
        let caps = await CapabilityDetector(options: fixtureOptions(root, nvidiaSMI: "nvidia-smi-garbage")).detectGPUs()
        XCTAssertEqual(caps.gpus, Self.t4)
        XCTAssertEqual(caps.controlNodes, ["nvidia": ["/dev/nvidiactl", "/dev/nvidia-uvm"]])
        XCTAssertEqual(
            caps.warnings,
            [
                "nvidia-smi (/usr/bin/nvidia-smi-garbage): exited with status 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.; GPU attributes from sysfs/procfs only"
            ])
    }

    func testPartialNvidiaSMIOutputEnrichesOnlyMatchingRows() async throws {
        let root = try fixtures.root("broken-nvidia-smi")
        let caps = await CapabilityDetector(options: fixtureOptions(root, nvidiaSMI: "nvidia-smi-partial")).detectGPUs()
        var expected = Self.t4
        expected[0].memoryBytes = 15360 * 1024 * 1024
        XCTAssertEqual(caps.gpus, expected, "the [N/A] row for d8 adds nothing; the unknown af:00.0 GPU is not added")
        XCTAssertEqual(caps.warnings.count, 2, "\(caps.warnings)")
        XCTAssertEqual(caps.warnings.containing("1 unparseable line(s)", "garbage, line").count, 1, "\(caps.warnings)")
        XCTAssertEqual(caps.warnings.containing("GPU at 0000:af:00.0 not found in sysfs/procfs; ignored").count, 1)
    }

    func testNvidiaSMIAbsentFromPathIsSilent() async throws {
        let root = try fixtures.root("broken-nvidia-smi")
        let caps = await CapabilityDetector(options: fixtureOptions(root, nvidiaSMI: "nvidia-smi-not-installed")).detectGPUs()
        XCTAssertEqual(caps.gpus, Self.t4)
        XCTAssertEqual(caps.warnings, [])
    }

    func testMissingRootDegradesToWarnings() async throws {
        let root = "/nonexistent-aegis-detect-root"
        XCTAssertFalse(FileManager.default.fileExists(atPath: root))
        let caps = await CapabilityDetector(options: fixtureOptions(root)).detect()
        XCTAssertEqual(caps.cpuMillis, 0)
        XCTAssertEqual(caps.memoryBytes, 0)
        XCTAssertEqual(caps.gpus, [])
        XCTAssertEqual(caps.runtimes, [])
        XCTAssertTrue(caps.warnings.contains("memory: open /proc/meminfo: ENOENT (2)"), "\(caps.warnings)")
        XCTAssertTrue(caps.warnings.contains("cpu: open /sys/devices/system/cpu/online: ENOENT (2)"), "\(caps.warnings)")
        XCTAssertTrue(caps.warnings.contains("kernel: open /proc/sys/kernel/osrelease: ENOENT (2)"), "\(caps.warnings)")
        XCTAssertTrue(caps.warnings.contains("cgroup: cannot read mounts: open /proc/self/mountinfo: ENOENT (2)"), "\(caps.warnings)")
    }

    func testOptionsOverridesAndLabels() async throws {
        let root = try fixtures.root("no-gpu")
        var options = fixtureOptions(root, labels: ["reach": "internet"])
        options.allowUnenforcedLimits = true
        options.cgroupControllersOverride = ["memory", "pids"]
        let caps = await CapabilityDetector(options: options).detect()
        XCTAssertEqual(caps.isolation.cgroupControllers, ["memory", "pids"])
        XCTAssertTrue(caps.isolation.allowUnenforcedLimits)
        XCTAssertEqual(caps.labels, ["reach": "internet"])
        XCTAssertEqual(caps.warnings, [], "an override is not checked against cgroup.controllers")
    }
}
