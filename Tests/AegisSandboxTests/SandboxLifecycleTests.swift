// Lifecycle through the in-process API: outcomes, signals, init, re-adoption, clean failures.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxLifecycleTests: SandboxTestCase {
    func testExitCodesAndSignalsAreRecordedBySupervisor() throws {
        let (o1, _, _) = try runAgent(["/bin/sh", "-c", "exit 7"])
        XCTAssertEqual(o1.exitCode, 7)
        XCTAssertEqual(o1.signal, 0)
        let (o2, _, _) = try runAgent(["/bin/sh", "-c", "kill -KILL $$"])
        XCTAssertEqual(o2.exitCode, 137)
        XCTAssertEqual(o2.signal, 9)
        XCTAssertFalse(o2.oomKilled)
        XCTAssertGreaterThan(o2.finishedAtNs, o2.startedAtNs)
    }

    func testSIGTERMReachesTheAgentThroughInit() throws {
        let id = "term-\(getpid())"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(
            args: ["/bin/sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done"],
            workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID)
        createdIDs.append(id)
        try runtime.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        let log = runtime.stateDirectory(id) + "/stdout.log"
        for _ in 0..<200 where !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready") { usleep(10_000) }
        XCTAssertEqual(try runtime.state(id).status, .running)
        try runtime.kill(id, signal: SIGTERM)
        let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(10)))
        XCTAssertEqual(outcome.exitCode, 42)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("got-term"))
        XCTAssertEqual(try runtime.state(id).status, .stopped)
    }

    func testInitReapsOrphans() throws {
        // Orphans re-parent to the sandbox's init, which must reap them: no zombie is left.
        let script = "for i in 1 2 3; do (sleep 0.05 &) ; done; sleep 0.5; grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l"
        let (outcome, out, _) = try runAgent(["/bin/sh", "-c", script])
        XCTAssertEqual(outcome.exitCode, 0)
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "0", "zombies inside the sandbox")
    }

    func testAnotherRuntimeInstanceFindsTheSandboxAndItsOutcome() throws {
        let id = "adopt-\(getpid())"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(
            args: ["/bin/sh", "-c", "sleep 1; exit 5"], workDir: try makeWorkDir(),
            uid: Self.agentUID, gid: Self.agentUID)
        createdIDs.append(id)
        let record = try runtime.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        // A second runtime (as after a daemon restart) over the same state root.
        let other = try SandboxRuntime(stateRoot: runtime.stateRoot, cgroupParent: cgroupParent)
        XCTAssertEqual(other.list(), [id])
        XCTAssertEqual(try other.state(id).status, .running)
        XCTAssertEqual(try other.state(id).pid, record.pid)
        let outcome = try XCTUnwrap(try other.wait(id, timeout: .seconds(20)))
        XCTAssertEqual(outcome.exitCode, 5)
        XCTAssertGreaterThanOrEqual(outcome.wallTimeUs, 900_000)
        // The long-running job got the exec'ed supervisor (not the forked copy of this process).
        XCTAssertNotNil(runtime.supervisorPath, "aegis-supervisor not found next to the test bundle")
    }

    func testCloneFallbackStillLandsInTheCgroup() throws {
        let id = "fallback-\(getpid())"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(
            args: ["/bin/sh", "-c", "cat /proc/self/cgroup"], workDir: try makeWorkDir(),
            uid: Self.agentUID, gid: Self.agentUID)
        createdIDs.append(id)
        let record = try runtime.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, forceCloneFallback: true))
        XCTAssertFalse(record.usedClone3)
        _ = try runtime.wait(id, timeout: .seconds(10))
        // With a cgroup namespace rooted at the leaf, the process sees itself at "/".
        let out = try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)
        XCTAssertTrue(out.contains("0::/\n"), out)
        XCTAssertEqual(record.cgroupPath, runtime.cgroups.leafPath(id: id))
    }

    func testClone3IntoCgroupIsUsedOnThisKernel() throws {
        let id = "clone3-\(getpid())"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(args: ["/bin/true"], workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID)
        createdIDs.append(id)
        let record = try runtime.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles))
        XCTAssertTrue(record.usedClone3)
    }

    func testLimitsWithoutControllerFailCleanly() throws {
        let available = runtime.cgroups.availableControllers()
        try XCTSkipIf(available.contains("memory"), "this host has a memory controller: the VM tests prove limits")
        let id = "limit-\(getpid())"
        XCTAssertThrowsError(try runAgent(["/bin/true"], resources: LinuxResources(memory: LinuxMemory(limit: 64 << 20)), id: id)) { e in
            XCTAssertTrue("\(e)".contains("memory controller"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.stateDirectory(id)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.cgroups.leafPath(id: id)))
    }

    func testFailedStepIsReportedAndLeavesNothing() throws {
        let id = "badexec-\(getpid())"
        XCTAssertThrowsError(try runAgent(["/nonexistent/agent"], id: id)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("exec lookup") && text.contains("ENOENT") && text.contains("/nonexistent/agent"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.stateDirectory(id)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.cgroups.leafPath(id: id)))
    }

    func testUserNamespaceMapsIDs() throws {
        let id = "userns-\(getpid())"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/bin/sh", "-c", "cat /proc/self/uid_map; id -u"],
                workDir: try makeWorkDir(), uid: 0, gid: 0), rootfs: rootfs)
        spec.linux?.namespaces?.append(LinuxNamespace(type: "user"))
        spec.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 300000, size: 65536)]
        spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 300000, size: 65536)]
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(10)))
        let out = try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)
        let err = (try? String(contentsOfFile: runtime.stateDirectory(id) + "/stderr.log", encoding: .utf8)) ?? ""
        XCTAssertEqual(outcome.exitCode, 0, err)
        let fields = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
        XCTAssertEqual(fields.prefix(4).map(String.init), ["0", "300000", "65536", "0"], out)
    }
}
