// An agent owns its working and output directories while it runs and may plant symlinks there.
// Neither reading its outputs back (`aegis cp`, `describe`) nor writing the inputs of its next run
// may follow such a link onto the host.
import AegisProtocol
import Foundation
import XCTest

final class AgentFilesE2ETests: SingleNodeTestCase {

    func run(_ args: [String], cwd: String? = nil) throws -> String {
        let r = try node.cli(["run", "--detach"] + args, cwd: cwd)
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let d = try JSONDecoder().decode(
                WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
            if d.workload.state.isFinal { return id }
            usleep(100_000)
        }
        XCTFail("agent \(id) did not end")
        return id
    }

    func testOutputSymlinksPlantedByTheAgentNeverLeadOntoTheHost() throws {
        let id = try run([
            "--", "sh", "-c",
            "mkdir -p output/sub && echo real > output/sub/ok.txt && ln -s / output/host && ln -s /etc/hostname output/name",
        ])
        let d = try JSONDecoder().decode(WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
        XCTAssertEqual(d.outputs, ["sub/ok.txt"], "links are not listed")
        let dest = node.dataDir + "/copied"
        XCTAssertEqual(try node.cli(["cp", "\(id):sub/ok.txt", dest]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: dest, encoding: .utf8), "real\n")
        for path in ["host/etc/hostname", "host/etc/shadow", "name"] {
            let r = try node.cli(["cp", "\(id):\(path)", node.dataDir + "/stolen"])
            XCTAssertNotEqual(r.status, 0, "\(path) was read through a link: \(r.stdout)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: node.dataDir + "/stolen"))
        }

        // The whole output directory replaced by a link to /etc.
        let swapped = try run(["--", "sh", "-c", "rm -rf output && ln -s /etc output"])
        let s = try JSONDecoder().decode(
            WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(swapped)", token: node.adminToken()).body)
        XCTAssertEqual(s.outputs, [], "nothing of /etc is listed")
        XCTAssertNotEqual(try node.cli(["cp", "\(swapped):hostname", node.dataDir + "/stolen"]).status, 0)
    }

    /// First run: the agent replaces its input's directory with a link to a host directory and
    /// fails; the restart writes the inputs again — into a fresh directory, not through the link.
    func testARestartWritesInputsIntoAFreshDirectoryNotThroughTheAgentsLinks() throws {
        let target = node.dataDir + "/host-target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let victim = target + "/victim"
        FileManager.default.createFile(atPath: victim, contents: Data("original\n".utf8), attributes: [.posixPermissions: 0o600])
        let dir = node.dataDir + "/manifest"
        try FileManager.default.createDirectory(atPath: dir + "/cfg", withIntermediateDirectories: true)
        try "owned\n".write(toFile: dir + "/cfg/victim", atomically: true, encoding: .utf8)
        try """
        name: writer
        runtime: command
        command: [sh, -c, "rm -rf cfg; ln -s \(target) cfg; sleep 0.2; exit 1"]
        files:
          inputs: [cfg/victim]
        restart: on-failure
        """.write(toFile: dir + "/agent.yaml", atomically: true, encoding: .utf8)
        let sub = try node.cli(["run", "--detach", "-f", "agent.yaml"], cwd: dir)
        XCTAssertEqual(sub.status, 0, sub.stderr)
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Two restarts: the inputs were written twice after the agent had planted its link.
        let deadline = Date().addingTimeInterval(30)
        var restarts = 0
        while Date() < deadline && restarts < 2 {
            let d = try JSONDecoder().decode(
                WorkloadDetail.self, from: node.http("GET", "/v1/workloads/\(id)", token: node.adminToken()).body)
            restarts = d.workload.restarts
            usleep(100_000)
        }
        XCTAssertGreaterThanOrEqual(restarts, 2)
        XCTAssertEqual(try node.cli(["kill", id]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "original\n")
        let attrs = try FileManager.default.attributesOfItem(atPath: victim)
        XCTAssertEqual(attrs[.ownerAccountID] as? Int, 0, "still root's")
        XCTAssertEqual((attrs[.posixPermissions] as? Int) ?? 0, 0o600)
    }
}
