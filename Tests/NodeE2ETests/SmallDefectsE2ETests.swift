// The small defects found by using the node clumsily: each answered with one clear error, and a
// failed start leaves no pid file behind.
import AegisProtocol
import Foundation
import XCTest

final class SmallDefectsE2ETests: SingleNodeTestCase {

    func testEmptyOrMalformedWorkloadIDsAreNamed() throws {
        for verb in ["describe", "logs", "kill"] {
            let r = try node.cli([verb, ""])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("workload id: must not be empty"), "\(verb): \(r.stderr)")
            let slash = try node.cli([verb, "a/../b"])
            XCTAssertNotEqual(slash.status, 0)
            XCTAssertTrue(slash.stderr.contains("not an id"), "\(verb): \(slash.stderr)")
        }
    }

    func testAManifestAndRunFlagsTogetherAreRefused() throws {
        let body = try JSONEncoder().encode(
            SubmitRequest(
                manifest: "name: x\ncommand: [\"true\"]\n", manifestFile: "a.yaml",
                run: RunFlags(command: ["false"])))
        let r = try node.http("POST", "/v1/workloads", token: node.adminToken(), body: body)
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("not both"), String(decoding: r.body, as: UTF8.self))
    }

    func testAnUncreatableDataDirAndATakenPortAreClearAndLeaveNoPidFile() throws {
        let bad = try node.cli(["up", "--data-dir", "/proc/nope/aegis"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--data-dir /proc/nope/aegis: cannot create /proc/nope"), bad.stderr)

        // A second node on the first one's API port: the bind fails and its data dir keeps no pid file.
        let other = NSTemporaryDirectory() + "aegis-e2e-port-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: other) }
        let clash = try node.cli(
            ["up", "--data-dir", other, "--api-port", "\(node.port)", "--cgroup-parent", node.cgroupParent + "-b"],
            timeout: 60)
        XCTAssertNotEqual(clash.status, 0)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: other + "/aegis.pid"), "a stale pid file after a failed start: \(clash.stderr)")
        removeCgroupSubtree(node.cgroupParent + "-b")
    }
}
