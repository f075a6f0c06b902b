// Refusals: each fails with a non-zero exit, exactly one error line naming the cause, and leaves
// nothing behind (no state dir, no cgroup leaf, no process).
import Foundation
import XCTest
import AegisOCI

final class BadInputTests: RuntimeTestCase {
    /// `create` from a bundle edited by `edit` must fail cleanly, mentioning `needles`.
    func assertCreateFails(
        _ name: String, mentions needles: [String], edit: (inout Spec) throws -> Void,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let id = newID(name)
        let bundle = try makeBundle("bundle-\(name)", edit: edit)
        let r = try aegis(["create", "--bundle", bundle, id])
        assertCleanFailure(r, id: id, mentions: needles, file: file, line: line)
    }

    func testMalformedConfig() throws {
        let id = newID("badjson")
        let bundle = try makeBundle()
        try Data("{\n  \"ociVersion\": \"1.2.0\",\n  \"process\": {,\n}\n".utf8)
            .write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let r = try aegis(["create", "--bundle", bundle, id])
        assertCleanFailure(r, id: id, mentions: ["config.json", "line 3"])
    }

    func testUnknownNamespaceType() throws {
        try assertCreateFails("badns", mentions: ["linux.namespaces[", "bogusns"]) { spec in
            spec.linux?.namespaces?.append(LinuxNamespace(type: "bogusns"))
        }
    }

    func testUnknownNamespaceTypeNamesItsIndex() throws {
        let id = newID("badnsi")
        let bundle = try makeBundle { spec in
            spec.linux?.namespaces?.insert(LinuxNamespace(type: "bogusns"), at: 1)
        }
        let r = try aegis(["create", "--bundle", bundle, id])
        assertCleanFailure(r, id: id, mentions: ["linux.namespaces[1]", "bogusns"])
    }

    func testNonexistentRootfs() throws {
        try assertCreateFails("badroot", mentions: ["root.path", "no-such-rootfs"]) { spec in
            spec.root?.path = "no-such-rootfs"
        }
    }

    func testNonexistentBinary() throws {
        try assertCreateFails("badbin", mentions: ["/nonexistent", "ENOENT"]) { spec in
            spec.process?.args = ["/nonexistent"]
        }
    }

    func testNonexistentBinaryWithRun() throws {
        let id = newID("badbinr")
        let bundle = try makeBundle { $0.process?.args = ["/nonexistent"] }
        let r = try aegis(["run", "--bundle", bundle, id])
        assertCleanFailure(r, id: id, mentions: ["/nonexistent", "ENOENT"])
    }

    /// Two ranges mapping onto the same container id 0: the kernel refuses the uid_map write.
    func testOverlappingUidMapsRefusedByKernel() throws {
        try assertCreateFails("baduid", mentions: ["uid_map"]) { spec in
            spec.linux?.namespaces?.append(LinuxNamespace(type: "user"))
            spec.linux?.uidMappings = [
                LinuxIDMapping(containerID: 0, hostID: 0, size: 1),
                LinuxIDMapping(containerID: 0, hostID: 1, size: 1),
            ]
            spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 0, size: 1)]
        }
    }

    func testUnknownSeccompAction() throws {
        try assertCreateFails("badscmp", mentions: ["SCMP_ACT_", "SCMP_ACT_BOGUS", "linux.seccomp"]) { spec in
            spec.linux?.seccomp?.syscalls?.append(LinuxSyscall(names: ["getpid"], action: "SCMP_ACT_BOGUS"))
        }
    }

    /// The memory controller is not enabled on this host's cgroup2: a memory limit must be refused,
    /// naming the controller and cgroup.controllers. Where the controller exists, the limit must
    /// land in memory.max instead.
    func testMemoryLimit() throws {
        let limit: Int64 = 64 << 20
        var dir = Self.cgroupMount + Self.cgroupParentRelative
        while !exists(dir + "/cgroup.controllers") { dir = (dir as NSString).deletingLastPathComponent }
        let controllers = try String(contentsOfFile: dir + "/cgroup.controllers", encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
        let id = newID("badmem"), m = newMarker()
        let bundle = try makeBundle { spec in
            spec.process?.args = ["sleep", m]
            spec.linux?.resources = LinuxResources(memory: LinuxMemory(limit: limit))
        }
        let r = try aegis(["create", "--bundle", bundle, id])
        if controllers.contains("memory") {
            XCTAssertEqual(r.status, 0, r.stderr)
            let max = try String(contentsOfFile: leafPath(id) + "/memory.max", encoding: .utf8)
            XCTAssertEqual(max.trimmingCharacters(in: .whitespacesAndNewlines), "\(limit)")
        } else {
            assertCleanFailure(r, id: id, mentions: ["memory", "cgroup.controllers"])
        }
    }

    /// A second create with the same id fails and leaves the first container as it was.
    func testDuplicateID() throws {
        let id = newID("dup"), m = newMarker()
        let bundle = try makeBundle { $0.process?.args = ["sh", "-c", "trap \"exit 9\" TERM; sleep \(m) & wait"] }
        XCTAssertEqual(try aegis(["create", "--bundle", bundle, id]).status, 0)
        let before = try String(contentsOfFile: stateDir(id) + "/state.json", encoding: .utf8)
        let pid = try XCTUnwrap(state(id)["pid"] as? Int).asPid

        let other = try makeBundle("bundle-other")
        let r = try aegis(["create", "--bundle", other, id])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("already exists") && r.stderr.contains(id), r.stderr)

        XCTAssertEqual(try String(contentsOfFile: stateDir(id) + "/state.json", encoding: .utf8), before)
        let st = try state(id)
        XCTAssertEqual(st["status"] as? String, "created")
        XCTAssertEqual((st["pid"] as? Int)?.asPid, pid)
        XCTAssertEqual(st["bundle"] as? String, bundle)
        XCTAssertTrue(pidAlive(pid))
        XCTAssertTrue(exists(stateDir(id) + "/exec.fifo"))
        XCTAssertEqual(cgroupOf(pid), relativeLeaf(id))
        // …and it still works.
        XCTAssertEqual(try aegis(["start", id]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 5) { self.processes(containing: "sleep \(m)").count == 2 })
        XCTAssertEqual(try aegis(["kill", id, "TERM"]).status, 0)
        XCTAssertTrue(try waitForStatus(id, "stopped"))
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil })
        XCTAssertEqual(outcome(id)?["exitCode"] as? Int, 9)
        XCTAssertEqual(try aegis(["delete", id]).status, 0)
    }

    func testStartOnStoppedContainer() throws {
        let id = newID("stopd")
        let bundle = try makeBundle { $0.process?.args = ["true"] }
        XCTAssertEqual(try aegis(["create", "--bundle", bundle, id]).status, 0)
        XCTAssertEqual(try aegis(["start", id]).status, 0)
        XCTAssertTrue(try waitForStatus(id, "stopped"))
        let r = try aegis(["start", id])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("stopped"), r.stderr)
        XCTAssertEqual(try status(id), "stopped")
        XCTAssertEqual(try aegis(["delete", id]).status, 0)
        XCTAssertFalse(exists(stateDir(id)))
    }

    /// delete without --force refuses a running container and leaves it running; an unknown
    /// signal name is refused without signalling anything.
    func testDeleteRunningWithoutForceAndUnknownSignal() throws {
        let id = newID("delrun"), m = newMarker()
        let bundle = try makeBundle { $0.process?.args = ["sleep", m] }
        XCTAssertEqual(try aegis(["run", "--detach", "--bundle", bundle, id]).status, 0)
        let pid = try XCTUnwrap(state(id)["pid"] as? Int).asPid

        let r = try aegis(["delete", id])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("running") && r.stderr.contains("--force"), r.stderr)
        let k = try aegis(["kill", id, "NOSUCHSIG"])
        XCTAssertNotEqual(k.status, 0)
        XCTAssertEqual(k.stderrLines.count, 1, k.stderr)
        XCTAssertTrue(k.stderr.contains("NOSUCHSIG"), k.stderr)

        XCTAssertEqual(try status(id), "running")
        XCTAssertTrue(pidAlive(pid))
        XCTAssertTrue(exists(leafPath(id)))
        XCTAssertEqual(try aegis(["delete", "--force", id]).status, 0)
        XCTAssertEqual(processes(containing: "sleep \(m)"), [])
        XCTAssertFalse(exists(leafPath(id)))
        XCTAssertFalse(exists(stateDir(id)))
    }

    func testBundleWithoutConfig() throws {
        let id = newID("noconf")
        let empty = tempDir + "/empty-bundle"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        assertCleanFailure(try aegis(["create", "--bundle", empty, id]), id: id, mentions: [empty + "/config.json", "ENOENT"])
    }

    func testUnsupportedCommands() throws {
        let id = newID("unsup")
        for args in [["ps", id], ["pause", id], ["resume", id], ["features"]] {
            let r = try aegis(args)
            assertCleanFailure(r, id: id, mentions: [args[0], "not supported"])
        }
        // exec is supported: into a container that does not exist it fails naming it.
        assertCleanFailure(try aegis(["exec", id, "sh"]), id: id, mentions: [id])
    }

    func testConsoleSocketUnsupported() throws {
        let bundle = try makeBundle()
        for command in ["create", "run"] {
            let id = newID("console")
            let r = try aegis([command, "--console-socket", tempDir + "/console.sock", "--bundle", bundle, id])
            assertCleanFailure(r, id: id, mentions: ["--console-socket", "not supported"])
        }
    }

    func testUnknownContainerAndInvalidID() throws {
        let missing = newID("missing")
        for args in [["state", missing], ["start", missing], ["kill", missing], ["delete", missing]] {
            assertCleanFailure(try aegis(args), id: missing, mentions: ["\"\(missing)\"", "does not exist"])
        }
        let bundle = try makeBundle()
        assertCleanFailure(try aegis(["create", "--bundle", bundle, "../escape"]), id: nil, mentions: ["invalid container id"])
        XCTAssertFalse(exists(tempDir + "/escape"))
    }

    /// --log FILE --log-format json: the error is one JSON line with level and msg (runc's format).
    func testJSONLogOnError() throws {
        let id = newID("logjson")
        let bundle = try makeBundle { $0.root?.path = "no-such-rootfs" }
        let log = tempDir + "/runtime.log"
        let r = try aegis(["create", "--bundle", bundle, id], globals: ["--log", log, "--log-format", "json"])
        assertCleanFailure(r, id: id, mentions: ["root.path"])
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "log: \(lines)")
        let entry = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any])
        XCTAssertEqual(entry["level"] as? String, "error")
        let msg = try XCTUnwrap(entry["msg"] as? String)
        XCTAssertTrue(msg.contains("root.path") && msg.contains("no-such-rootfs"), msg)
        XCTAssertTrue(r.stderr.contains(msg), "stderr and log disagree: \(r.stderr) vs \(msg)")
        XCTAssertNotNil(entry["time"] as? String)
    }

    func testTextLogOnError() throws {
        let log = tempDir + "/runtime-text.log"
        let missing = newID("logtext")
        let r = try aegis(["state", missing], globals: ["--log", log, "--log-format", "text"])
        assertCleanFailure(r, id: missing, mentions: ["does not exist"])
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 1)
        XCTAssertTrue(text.contains("level=error") && text.contains("msg=") && text.contains(missing), text)
    }

    func testBadLogFormat() throws {
        let r = try aegis(["state", "x"], globals: ["--log-format", "xml"])
        assertCleanFailure(r, id: nil, mentions: ["--log-format", "xml"])
    }
}
