import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// Detection on the real host (root "/"), checked against independent sources: `python3 --version`
/// run through /bin/sh, /proc/mounts (not mountinfo) for the cgroup2 mount, uname(2), sysconf(_SC_PHYS_PAGES)
/// and sysconf(_SC_NPROCESSORS_ONLN).
final class DetectionHostTests: XCTestCase {
    func testRealHostDetection() async throws {
        let caps = await CapabilityDetector(options: DetectionOptions()).detect()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print("host capabilities:", String(decoding: try encoder.encode(caps), as: UTF8.self))

        // python3 as an agent finds it (the agents' PATH), same version as the shell reports there.
        func shell(_ command: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return output
        }
        let output = try shell("PATH=/usr/local/bin:/usr/bin:/bin python3 --version 2>&1")
        let python = try XCTUnwrap(caps.runtimes.first { $0.name == "python3" }, "python3 not detected: \(caps.warnings)")
        XCTAssertTrue(output.hasPrefix("Python \(python.version)"), "shell says \(output), detection \(python.version)")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: python.path))
        // A python3 first on this process's PATH outside the agents' view (a pyenv shim) is reported, not advertised.
        let daemons = try shell("command -v python3").trimmingCharacters(in: .whitespacesAndNewlines)
        if !["/usr/", "/bin/"].contains(where: { daemons.hasPrefix($0) }) {
            XCTAssertTrue(
                caps.unavailableRuntimes?.contains { $0.name == "python3" && $0.path == daemons } == true,
                "\(daemons): \(caps.unavailableRuntimes ?? [])")
        }

        // Kernel release.
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        XCTAssertEqual(caps.isolation.kernelVersion, release)

        // cgroup2 controllers: nearest existing of <mount><own>/aegis, <mount><own>, …, <mount>.
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        var cgroup2: String?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2 && fields[2] == "cgroup2" { cgroup2 = String(fields[1]); break }
        }
        let mountPoint = try XCTUnwrap(cgroup2, "no cgroup2 in /proc/mounts")
        var own = "/"
        for line in try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n")
        where line.hasPrefix("0::") {
            own = String(line.dropFirst(3))
        }
        var components: [String] = own.split(separator: "/").map { String($0) }
        if components.last == "supervisor" { components.removeLast() }
        components.append("aegis")
        var expected: [String]?
        while expected == nil {
            let dir: String = ([mountPoint] + components).joined(separator: "/")
            if let text = try? String(contentsOfFile: dir + "/cgroup.controllers", encoding: .utf8) {
                expected = text.split(whereSeparator: { (c: Character) -> Bool in c == " " || c == "\n" }).map { String($0) }
            } else if components.isEmpty {
                break
            } else {
                components.removeLast()
            }
        }
        XCTAssertEqual(caps.isolation.cgroupControllers, try XCTUnwrap(expected))

        // CPU and memory bounded by what the kernel reports.
        let online = Int64(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        XCTAssertGreaterThan(caps.cpuMillis, 0)
        XCTAssertLessThanOrEqual(caps.cpuMillis, online * 1000)
        let total = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
        XCTAssertGreaterThan(caps.memoryBytes, 0)
        XCTAssertLessThanOrEqual(caps.memoryBytes, total)

        XCTAssertEqual(caps.isolation.seccomp, FileManager.default.fileExists(atPath: "/proc/sys/kernel/seccomp/actions_avail"))
        for gpu in caps.gpus {
            for node in gpu.deviceNodes { XCTAssertTrue(FileManager.default.fileExists(atPath: node), node) }
        }
    }
}
