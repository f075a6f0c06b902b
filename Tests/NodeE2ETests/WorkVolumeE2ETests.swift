// An agent's /work is a file system of its own (an ext4 image of `resources.disk` on a loop
// device) and /tmp a tmpfs of `resources.tmp`: filling either gets ENOSPC, not the node's disk.
// When the agent ends, its outputs are copied out, the image deleted, and logs and outputs stay
// for the node's output retention.
import AegisProtocol
import Foundation
import XCTest

final class WorkVolumeE2ETests: SingleNodeTestCase {

    func logs(_ id: String) throws -> String { try node.cli(["logs", id]).stdout }

    /// The outputs are copied out just after the end is reported: waits for the `ended` mark.
    func waitUntilRetained(_ id: String) {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !FileManager.default.fileExists(atPath: node.dataDir + "/workloads/\(id)/ended") { usleep(50_000) }
    }

    func testFillingWorkOrTmpGetsENOSPCAndOnlyTheOutputsStayOnTheNode() throws {
        let id = try node.submit(
            manifest: """
                name: filler
                runtime: command
                command: [sh, -c, "echo hi > rel.txt && echo cwd-writable; dd if=/dev/zero of=/work/big bs=1M count=100 2>&1; echo dd=$?; rm /work/big; echo scratch > /work/scratch; mkdir -p output; echo kept > output/result.txt; \
                grep ' /work ' /proc/self/mountinfo; dd if=/dev/zero of=/tmp/t bs=1M count=40 2>&1; echo tmp=$?; df -k /work /tmp"]
                resources:
                  disk: 32Mi
                  tmp: 16Mi
                """)
        let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
        XCTAssertEqual(w.state, .succeeded, (try? logs(id)) ?? "")
        let out = try logs(id)
        XCTAssertTrue(out.contains("cwd-writable"), "the agent owns /work:\n\(out)")
        XCTAssertTrue(out.contains("dd: error writing '/work/big': No space left on device"), out)
        XCTAssertTrue(out.contains("dd: error writing '/tmp/t': No space left on device"), out)
        XCTAssertTrue(out.contains("dd=1"), "dd into /work failed:\n\(out)")
        XCTAssertTrue(out.contains("tmp=1"), "dd into /tmp failed:\n\(out)")
        let mountinfo = out.split(separator: "\n").first { $0.contains(" /work ") } ?? ""
        XCTAssertTrue(mountinfo.contains("/dev/loop") && mountinfo.contains("ext4"), String(mountinfo))
        XCTAssertFalse(mountinfo.contains(node.dataDir), "no host path of the work volume shows: \(mountinfo)")

        waitUntilRetained(id)
        let dest = node.dataDir + "/copied"
        let cp = try node.cli(["cp", "\(id):result.txt", dest])
        XCTAssertEqual(cp.status, 0, cp.stderr)
        XCTAssertEqual(try String(contentsOfFile: dest, encoding: .utf8), "kept\n")
        // A special file as the target is written into, not replaced (cp(1); `aegis cp … /dev/null`).
        let fifo = node.dataDir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "cat \(fifo) > \(fifo).out"]
        try reader.run()
        XCTAssertEqual(try node.cli(["cp", "\(id):result.txt", fifo]).status, 0)
        reader.waitUntilExit()
        XCTAssertEqual(try String(contentsOfFile: fifo + ".out", encoding: .utf8), "kept\n")
        var st = stat()
        XCTAssertEqual(lstat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "still a FIFO")
        let dir = node.dataDir + "/workloads/" + id
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertFalse(entries.contains { $0.hasPrefix("work.g") }, "image and note deleted: \(entries)")
        XCTAssertTrue(entries.contains("ended"), "\(entries)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/work"), ["output"], "only the outputs stay")
        XCTAssertTrue(node.process?.isRunning ?? false)
    }

    func testOutputsOfARunningAgentAreReadFromItsVolume() throws {
        let id = try node.submit(
            manifest: """
                name: live
                runtime: command
                command: [sh, -c, "mkdir -p output && echo live > output/now.txt && sleep 30"]
                """)
        let dest = node.dataDir + "/live-copy"
        let deadline = Date().addingTimeInterval(20)
        var copied = false
        while Date() < deadline && !copied {
            copied = try node.cli(["cp", "\(id):now.txt", dest]).status == 0
            if !copied { usleep(200_000) }
        }
        XCTAssertTrue(copied, "aegis cp of a running agent's output")
        XCTAssertEqual(try? String(contentsOfFile: dest, encoding: .utf8), "live\n")
        XCTAssertEqual(try node.workloadDetail(id).outputs, ["now.txt"])
        XCTAssertEqual(try node.cli(["kill", id]).status, 0)
    }

    /// A sparse file costs the agent no blocks but has any apparent size: the copy stops at the
    /// volume's size instead of writing a terabyte of zeros onto the node's disk.
    func testASparseOutputIsCutAtTheVolumeSize() throws {
        let id = try node.submit(
            manifest: """
                name: sparse
                runtime: command
                command: [sh, -c, "mkdir -p output && truncate -s 1T output/huge && ls -l output"]
                resources:
                  disk: 32Mi
                """)
        XCTAssertEqual(try node.waitFor(id, timeout: 60) { $0.state.isFinal }.state, .succeeded, (try? logs(id)) ?? "")
        let copy = node.dataDir + "/workloads/\(id)/work/output/huge"
        let deadline = Date().addingTimeInterval(15)  // the copy follows the end's report
        while Date() < deadline && !node.nodeLog().contains("outputs cut") { usleep(100_000) }
        let size = (try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int) ?? -1
        XCTAssertLessThanOrEqual(size, 32 << 20)
        XCTAssertTrue(node.nodeLog().contains("outputs cut at what the agent used"), node.nodeLog())
    }

    /// Images are sparse: a volume the node's disk can't back is refused at start (no overcommit).
    func testAVolumeTheNodesDiskCantBackIsNotAdmitted() throws {
        let id = try node.submit(
            manifest: """
                name: huge
                runtime: command
                command: [true]
                resources:
                  disk: 8Ti
                """)
        let w = try node.waitFor(id, timeout: 30) { $0.state.isFinal }
        XCTAssertEqual(w.state, .failed)
        XCTAssertTrue((w.reason ?? "").contains("not admitted"), w.reason ?? "")
        let entries = try FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/workloads/" + id)
        XCTAssertFalse(entries.contains { $0.hasPrefix("work.g") }, "nothing left: \(entries)")
    }

    func testADiskSizeOutOfRangeIsRefusedNamingTheField() throws {
        let body = try JSONEncoder().encode(
            SubmitRequest(
                manifest: """
                    name: tiny
                    runtime: command
                    command: [true]
                    resources:
                      disk: 1Ki
                    """, manifestFile: "agent.yaml"))
        let r = try node.http("POST", "/v1/workloads", token: node.adminToken(), body: body)
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("resources.disk"), String(decoding: r.body, as: UTF8.self))
    }
}

/// `--output-retention`: an ended workload's directory (logs, outputs) is removed once it passed.
final class OutputRetentionE2ETests: XCTestCase {
    func testAnEndedWorkloadsFilesAreRemovedAfterTheRetention() throws {
        let node = try NodeHarness(extraArgs: ["--output-retention", "2s"])
        try node.start()
        defer { node.stop() }
        let id = try node.submit(
            manifest: """
                name: short
                runtime: command
                command: [sh, -c, "mkdir -p output && echo x > output/a"]
                """)
        XCTAssertEqual(try node.waitFor(id, timeout: 30) { $0.state.isFinal }.state, .succeeded)
        let dir = node.dataDir + "/workloads/" + id
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && FileManager.default.fileExists(atPath: dir) { usleep(200_000) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "removed after the retention")
        XCTAssertNotEqual(try node.cli(["cp", "\(id):a", node.dataDir + "/late"]).status, 0)

        let bad = try node.cli(["up", "--data-dir", node.dataDir + "/other", "--output-retention", "0s"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--output-retention"), bad.stderr)
    }
}
