// SupervisorVersionE2ETests.swift — aegis and aegis-supervisor come from one build: a worker whose
// aegis-supervisor reports another version (or none) refuses to start, naming both; the real
// pair starts (every other E2E test).
import Foundation
import XCTest

final class SupervisorVersionE2ETests: XCTestCase {
    func testAnotherBuildsSupervisorIsRefusedNamingBothVersions() throws {
        let node = try NodeHarness()
        let fake = node.dataDir + "/aegis-supervisor"
        try "#!/bin/sh\necho 'aegis-supervisor 0.0.1'\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let real = try NodeHarness.locate("aegis-supervisor")
        let version = try XCTUnwrap(try runVersion(real), "aegis-supervisor --version")
        let r = try node.cli(
            ["up", "--data-dir", node.dataDir + "/node", "--api-port", "0", "--cgroup-parent", node.cgroupParent],
            env: ["AEGIS_SUPERVISOR": fake], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(
            r.stderr.contains("\(fake) is aegis-supervisor 0.0.1, this aegis is \(version)"), "stderr: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: node.dataDir + "/node/aegis.sock"), "nothing serves")
    }

    /// "X.Y.Z" of `aegis-supervisor --version`.
    func runVersion(_ path: String) throws -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.hasPrefix("aegis-supervisor ") ? text.dropFirst(17).trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }
}
