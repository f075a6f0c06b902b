import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// The parsers and the probe runner, on literal inputs.
final class DetectionParsingTests: XCTestCase {
    func testExtractVersion() {
        XCTAssertEqual(extractVersion("Python 3.11.2"), "3.11.2")
        XCTAssertEqual(extractVersion("v20.11.1\n"), "20.11.1")
        XCTAssertEqual(extractVersion("go version go1.22.1 linux/amd64"), "1.22.1")
        XCTAssertEqual(extractVersion("ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]"), "3.3.0")
        XCTAssertEqual(extractVersion("This is perl 5, version 36, subversion 0 (v5.36.0) built for x86_64-linux"), "5.36.0")
        XCTAssertEqual(extractVersion("openjdk version \"1.8.0_392\""), "1.8.0")
        XCTAssertEqual(extractVersion("rustc 1.75.0.1 (82e1608df 2023-12-21)"), "1.75.0", "at most three components")
        XCTAssertEqual(extractVersion("openjdk version \"21\" 2023-09-19\nOpenJDK Runtime Environment (build 21+35-2513)"), "21")
        XCTAssertNil(extractVersion("hello 12 world"))
        XCTAssertNil(extractVersion(""))
        XCTAssertNil(extractVersion("1. 2"))
    }

    func testNormalizePCIAddress() {
        XCTAssertEqual(normalizePCIAddress("00000000:3B:00.0"), "0000:3b:00.0")
        XCTAssertEqual(normalizePCIAddress("0000:07:00.0"), "0000:07:00.0")
        XCTAssertEqual(normalizePCIAddress("3b:00.1"), "0000:3b:00.1")
        XCTAssertEqual(normalizePCIAddress("0001:c1:1f.7"), "0001:c1:1f.7")
        XCTAssertNil(normalizePCIAddress("0000:3b:20.0"), "device number is 5 bits")
        XCTAssertNil(normalizePCIAddress("garbage"))
        XCTAssertNil(normalizePCIAddress("0000:3b:00"))
    }

    func testCPUList() {
        XCTAssertEqual(parseCPUList("0-3,8,10-11"), 7)
        XCTAssertEqual(parseCPUList("0"), 1)
        XCTAssertNil(parseCPUList("3-1"))
        XCTAssertNil(parseCPUList("x"))
        XCTAssertNil(parseCPUList(""))
    }

    func testGPUClassification() {
        XCTAssertEqual(GPUVendor.classify(vendorID: 0x10de, classCode: 0x030200), "nvidia")
        XCTAssertNil(GPUVendor.classify(vendorID: 0x10de, classCode: 0x040300), "NVIDIA HDMI audio")
        XCTAssertEqual(GPUVendor.classify(vendorID: 0x1002, classCode: 0x120000), "amd")
        XCTAssertEqual(GPUVendor.classify(vendorID: 0x1002, classCode: 0x038000), "amd")
        XCTAssertEqual(GPUVendor.classify(vendorID: 0x8086, classCode: 0x038000), "intel")
        XCTAssertNil(GPUVendor.classify(vendorID: 0x8086, classCode: 0x030200), "Intel 3D controller class not used")
        XCTAssertNil(GPUVendor.classify(vendorID: 0x8086, classCode: 0x020000))
        XCTAssertNil(GPUVendor.classify(vendorID: 0x1a03, classCode: 0x030000))
    }

    func testNvidiaSMIParse() {
        let (rows, bad) = NvidiaSMI.parse(
            """
            0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559, 00000000:18:00.0
            1, [N/A], [Not Supported], [N/A], 00000000:2A:00.0
            No devices were found
            2, GPU-bbbb, X, 1, not-an-address

            """)
        XCTAssertEqual(
            rows,
            [
                NvidiaSMIRow(index: 0, uuid: "GPU-aaaa", name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, pciAddress: "0000:18:00.0"),
                NvidiaSMIRow(index: 1, uuid: nil, name: nil, memoryMiB: nil, pciAddress: "0000:2a:00.0"),
            ])
        XCTAssertEqual(bad, ["No devices were found", "2, GPU-bbbb, X, 1, not-an-address"])
    }

    func testCgroupMountinfoAndBindMountedSubtree() {
        let mounts = CgroupView.parseMounts(
            """
            29 24 0:26 /kubepods/pod1 /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
            35 31 0:32 / /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct
            36 22 0:40 / /mnt/other rw - tmpfs tmpfs rw
            """)
        XCTAssertEqual(mounts.map(\.mountPoint), ["/sys/fs/cgroup", "/sys/fs/cgroup/cpu acct"])
        XCTAssertEqual(mounts[1].superOptions, ["rw", "cpu", "cpuacct"])
        // A subtree bind-mounted at the mount point: /proc/self/cgroup shows the full path.
        XCTAssertEqual(CgroupView.directory(mounts[0], "/kubepods/pod1/ctr"), "/sys/fs/cgroup/ctr")
        XCTAssertEqual(CgroupView.chain(mounts[0], "/kubepods/pod1/ctr"), ["/sys/fs/cgroup/ctr", "/sys/fs/cgroup"])
    }

    func testCommandRunnerKillsTheWholeProcessGroupOnTimeout() async {
        let start = ContinuousClock.now
        // The background sleep keeps stdout open; only a process-group kill ends the read.
        let r = await CommandRunner.run(
            "/bin/sh", arguments: ["-c", "echo started; sleep 62 & sleep 62; echo late"],
            argv0: "sh", timeout: .milliseconds(300))
        XCTAssertLessThan(start.duration(to: .now), .seconds(3))
        XCTAssertEqual(r.ending, .timedOut)
        XCTAssertEqual(r.stdout, "started\n")
        let left = await survivors(argv: ["sleep", "62"], within: 2)
        XCTAssertEqual(left, [])
        XCTAssertEqual(CommandRunner.failureReason(r, timeout: .milliseconds(300)), "timed out after 300 ms, process group killed")
    }

    func testCommandRunnerDoesNotWaitForBackgroundChildrenAfterExit() async {
        let start = ContinuousClock.now
        let r = await CommandRunner.run("/bin/sh", arguments: ["-c", "sleep 63 & echo done"], argv0: "sh", timeout: .seconds(5))
        XCTAssertLessThan(start.duration(to: .now), .seconds(2), "a background child holding stdout must not stall until the deadline")
        XCTAssertEqual(r.ending, .exited(0))
        XCTAssertEqual(r.stdout, "done\n")
        let left = await survivors(argv: ["sleep", "63"], within: 2)
        XCTAssertEqual(left, [], "the leftover group member is killed")
    }

    func testCommandRunnerStatusesAndSpawnFailure() async {
        let ok = await CommandRunner.run("/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"], argv0: "sh", timeout: .seconds(5))
        XCTAssertEqual(ok.ending, .exited(3))
        XCTAssertEqual(ok.stdout, "out\n")
        XCTAssertEqual(ok.stderr, "err\n")
        let killed = await CommandRunner.run("/bin/sh", arguments: ["-c", "kill -TERM $$"], argv0: "sh", timeout: .seconds(5))
        XCTAssertEqual(killed.ending, .signaled(SIGTERM))
        let missing = await CommandRunner.run("/nonexistent/aegis-probe", arguments: [], argv0: "x", timeout: .seconds(5))
        XCTAssertEqual(missing.ending, .spawnFailed(step: "posix_spawn", errno: ENOENT))
        XCTAssertEqual(CommandRunner.failureReason(missing, timeout: .seconds(5)), "posix_spawn failed: ENOENT (2)")
    }
}
