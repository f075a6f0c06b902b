import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// Capability detection against the committed fixture trees (GPU-bearing nodes).
final class DetectionGPUFixtureTests: XCTestCase {
    let fixtures = FixtureRoots()
    override func tearDown() { fixtures.cleanUp() }

    static let a100Addresses = [
        "0000:07:00.0", "0000:0f:00.0", "0000:47:00.0", "0000:4e:00.0",
        "0000:87:00.0", "0000:90:00.0", "0000:b7:00.0", "0000:bd:00.0",
    ]
    static func a100UUID(_ i: Int) -> String { "GPU-5a1c\(i)e2f-77b\(i)-4c1d-9a0e-3f21c8d0000\(i)" }

    func testNvidia8GPUWithNvidiaSMI() async throws {
        let root = try fixtures.root("nvidia-8gpu")
        let caps = await CapabilityDetector(options: fixtureOptions(root, labels: ["zone": "lab-2"])).detect()

        XCTAssertEqual(caps.gpus.count, 8)
        for (i, gpu) in caps.gpus.enumerated() {
            XCTAssertEqual(gpu.vendor, "nvidia")
            XCTAssertEqual(gpu.model, "NVIDIA A100-SXM4-80GB")
            XCTAssertEqual(gpu.pciAddress, Self.a100Addresses[i])
            XCTAssertEqual(gpu.index, i, "index is the device minor")
            XCTAssertEqual(gpu.deviceNodes, ["/dev/nvidia\(i)"])
            // procfs gives 0…6; minor 7's procfs UUID is "GPU-????…", so it must come from nvidia-smi.
            XCTAssertEqual(gpu.uuid, Self.a100UUID(i))
            XCTAssertEqual(gpu.memoryBytes, 81920 * 1024 * 1024, "memory.total MiB from nvidia-smi")
        }
        XCTAssertFalse(caps.gpus.contains { $0.pciAddress == "0000:c2:00.0" }, "ASPEED BMC VGA is not a GPU")
        XCTAssertEqual(
            caps.runtimes,
            [
                RuntimeInfo(name: "python3", version: "3.10.12", path: "/usr/bin/python3"),
                RuntimeInfo(name: "node", version: "18.19.1", path: "/usr/bin/node"),
                RuntimeInfo(name: "java", version: "17.0.10", path: "/usr/bin/java"),
                RuntimeInfo(name: "go", version: "1.22.1", path: "/usr/bin/go"),
            ])
        XCTAssertEqual(caps.cpuMillis, 256_000, "0-255 online, cpu.max max")
        XCTAssertEqual(caps.memoryBytes, 2_113_389_088 * 1024, "MemTotal, memory.max max")
        XCTAssertEqual(
            caps.isolation,
            IsolationFeatures(
                cgroupControllers: ["cpu", "io", "memory", "pids"],
                seccomp: true, userNamespaces: true,
                kernelVersion: "5.15.0-105-generic"),
            "controllers come from <own>/aegis/cgroup.controllers")
        XCTAssertEqual(caps.labels, ["zone": "lab-2"])
        XCTAssertEqual(caps.warnings, [])

        let gpuResult = await CapabilityDetector(options: fixtureOptions(root)).detectGPUs()
        XCTAssertEqual(gpuResult.controlNodes, ["nvidia": ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]])
        XCTAssertEqual(
            CapabilityDetector.controlNodes(vendor: "nvidia", root: root),
            ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"])
        XCTAssertEqual(CapabilityDetector.controlNodes(vendor: "amd", root: root), [])
    }

    func testNvidia8GPUWithoutNvidiaSMIUsesProcfsOnly() async throws {
        let root = try fixtures.root("nvidia-8gpu")
        let caps = await CapabilityDetector(options: fixtureOptions(root, nvidiaSMI: nil)).detect()
        XCTAssertEqual(caps.gpus.count, 8)
        XCTAssertEqual(caps.gpus.map(\.index), Array(0..<8).map { Optional($0) })
        XCTAssertEqual(caps.gpus.map(\.model), Array(repeating: "NVIDIA A100-SXM4-80GB", count: 8))
        XCTAssertEqual(caps.gpus.map(\.memoryBytes), Array(repeating: nil, count: 8), "memory is only known from nvidia-smi")
        XCTAssertEqual(caps.gpus.map(\.uuid), (0..<7).map { Optional(Self.a100UUID($0)) } + [nil])
        XCTAssertEqual(caps.warnings, [])
    }

    func testAMDInstinct() async throws {
        let root = try fixtures.root("amd-instinct")
        let detector = CapabilityDetector(options: fixtureOptions(root))
        let caps = await detector.detect()

        // Index = renderD number − 128; d1 has renderD131 and d5 renderD130, so the order by index is c1, c5, d5, d1.
        let expected: [(String, Int)] = [("0000:c1:00.0", 0), ("0000:c5:00.0", 1), ("0000:d5:00.0", 2), ("0000:d1:00.0", 3)]
        XCTAssertEqual(caps.gpus.count, 4, "two display-class (0x0380) and two accelerator-class (0x1200) GCDs; HDMI audio excluded")
        for (gpu, (address, index)) in zip(caps.gpus, expected) {
            XCTAssertEqual(
                gpu,
                GPUDevice(
                    vendor: "amd", model: "AMD Instinct MI250X / MI250", pciAddress: address, index: index,
                    uuid: nil, memoryBytes: 68_702_699_520, deviceNodes: ["/dev/dri/renderD\(128 + index)"]))
        }
        let gpuResult = await detector.detectGPUs()
        XCTAssertEqual(gpuResult.controlNodes, ["amd": ["/dev/kfd"]])
        XCTAssertEqual(caps.cpuMillis, 2000, "cpu.max 200000 100000 caps 128 CPUs to 2 CPUs")
        XCTAssertEqual(caps.memoryBytes, 528_280_000 * 1024)
        XCTAssertEqual(
            caps.runtimes,
            [
                RuntimeInfo(name: "python3", version: "3.12.3", path: "/usr/bin/python3"),
                RuntimeInfo(name: "deno", version: "1.41.3", path: "/usr/bin/deno"),
                RuntimeInfo(name: "bun", version: "1.1.3", path: "/usr/bin/bun"),
                RuntimeInfo(name: "ruby", version: "3.3.0", path: "/usr/bin/ruby"),
            ])
        XCTAssertEqual(
            caps.isolation.cgroupControllers, ["cpuset", "cpu", "io", "memory", "pids"],
            "no <own>/aegis yet: the own cgroup's cgroup.controllers")
        XCTAssertEqual(caps.isolation.kernelVersion, "6.8.0-31-generic")
        XCTAssertEqual(caps.warnings, [])
    }

    func testIntelLaptop() async throws {
        let root = try fixtures.root("intel-laptop")
        let detector = CapabilityDetector(options: fixtureOptions(root))
        let caps = await detector.detect()
        XCTAssertEqual(
            caps.gpus,
            [
                GPUDevice(
                    vendor: "intel", model: "0xa7a0", pciAddress: "0000:00:02.0", index: 0,
                    deviceNodes: ["/dev/dri/renderD128"])
            ],
            "only the 0x0300 function; host bridge, USB and Wi-Fi skipped")
        let gpuResult = await detector.detectGPUs()
        XCTAssertEqual(gpuResult.controlNodes, ["intel": []])
        XCTAssertEqual(caps.cpuMillis, 12_000)
        XCTAssertEqual(caps.memoryBytes, 8 * 1024 * 1024 * 1024, "user-1000.slice memory.max (an ancestor) caps 32 GB")
        XCTAssertEqual(caps.runtimes.map(\.name), ["python3", "node"])
        XCTAssertEqual(caps.runtimes.map(\.version), ["3.11.2", "20.11.1"])
        XCTAssertEqual(
            caps.isolation,
            IsolationFeatures(
                cgroupControllers: ["cpu", "memory", "pids"], seccomp: true,
                userNamespaces: false, kernelVersion: "6.6.15-2rodete2-amd64"),
            "max_user_namespaces 0 means no user namespaces")
        XCTAssertEqual(caps.warnings, [])
    }
}
