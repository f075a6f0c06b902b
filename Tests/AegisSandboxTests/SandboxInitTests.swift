// PID 1 of an agent sandbox is aegis-init, exec'ed from a sealed memfd: nothing of the process that
// created the sandbox (its argv, environment, name, mapped files) is readable from inside.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI
import AegisSystem

final class SandboxInitTests: SandboxTestCase {
    /// Reads every regular file and link under /proc/1 and /proc/self (bounded; skipping the
    /// address-space dumps mem/pagemap) and prints them as the agent can see them.
    static let dumpProc = """
        import os, sys
        sys.stdout = open("/work/proc-dump.txt", "w")
        skip = {"mem", "pagemap", "clear_refs", "kpagecount", "kpageflags"}
        for base in ("/proc/1", "/proc/self"):
            for name in sorted(os.listdir(base)):
                path = base + "/" + name
                if name in skip: continue
                try:
                    if os.path.islink(path): print(path, "->", os.readlink(path)); continue
                    if os.path.isfile(path):
                        with open(path, "rb") as f: print(path, repr(f.read(1 << 20)))
                except OSError as e:
                    print(path, "unreadable", e.errno)
            try:
                for fd in sorted(os.listdir(base + "/fd")): print(base + "/fd/" + fd, "->", os.readlink(base + "/fd/" + fd))
            except OSError as e:
                print(base + "/fd", "unreadable", e.errno)
        """

    func dump(asRoot: Bool) throws -> String {
        let rootfs = tempDir + "/root-init"
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["python3", "-c", Self.dumpProc], workDir: try makeWorkDir(),
                uid: Self.agentUID, gid: Self.agentUID), rootfs: rootfs)
        if asRoot {
            spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
            let caps = SandboxEscapeTests.rootCaps + ["CAP_SYS_PTRACE"]
            spec.process!.capabilities = LinuxCapabilities(bounding: caps, effective: caps, inheritable: [], permitted: caps, ambient: [])
        }
        let id = "init-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        // stdio on /dev/null (the worker hands agents pipes, not files of its data dir); the dump
        // goes to the work dir.
        try runtime.create(
            id: id, spec: spec, bundle: tempDir,
            options: SandboxCreateOptions(stdio: .descriptors(stdin: -1, stdout: -1, stderr: -1), useInit: true))
        let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        XCTAssertEqual(outcome.exitCode, 0)
        return try String(contentsOfFile: spec.mounts!.first { $0.destination == "/work" }!.source! + "/proc-dump.txt", encoding: .utf8)
    }

    func testNothingOfTheSpawningProcessShowsInProc1() throws {
        let secret = "AEG1deadbeef::tok.\(UInt32.random(in: 0...UInt32.max))"
        setenv("AEGIS_JOIN_TOKEN", secret, 1)
        defer { unsetenv("AEGIS_JOIN_TOKEN") }
        let ownArgs = CommandLine.arguments.joined(separator: " ")
        for asRoot in [false, true] {
            let text = try dump(asRoot: asRoot)
            XCTAssertTrue(text.contains("/proc/1/cmdline b'aegis-init\\x00"), "root \(asRoot): \(text.prefix(2000))")
            XCTAssertTrue(text.contains("/proc/1/comm b'aegis-init\\n'"), "root \(asRoot)")
            // mountinfo shows where bind mounts come from (the rootfs skeleton, the work dir): the only
            // host paths an agent sees; nothing else of the test's directory may appear.
            let lines = text.split(separator: "\n")
            let outsideMountinfo = lines.filter { !$0.hasPrefix("/proc/1/mountinfo ") && !$0.hasPrefix("/proc/self/mountinfo ") }
            for needle in [
                secret, "AEGIS_JOIN_TOKEN", runtime.stateRoot, ".xctest", "/opt/swift", ".build",
                CommandLine.arguments[0],
            ] {
                let lines = lines.filter { $0.contains(needle) }.map { String($0.prefix(300)) }
                XCTAssertTrue(lines.isEmpty, "root \(asRoot): \"\(needle)\" is visible inside the sandbox: \(lines)")
            }
            XCTAssertFalse(text.contains(ownArgs), "root \(asRoot): the spawning process's argv is visible")
            let leaked = outsideMountinfo.filter { $0.contains(tempDir) }.map { String($0.prefix(300)) }
            XCTAssertTrue(leaked.isEmpty, "root \(asRoot): host paths outside mountinfo: \(leaked)")
            if asRoot {
                // With ptrace access the init's environment and mappings are readable: both clean.
                XCTAssertTrue(text.contains("/proc/1/environ b''"), text)
                XCTAssertTrue(text.contains("/memfd:aegis-init"), "the init's mappings: \(text)")
            }
        }
    }

    /// An image-like rootfs with nothing but a static busybox: the init needs nothing from it, and
    /// prints nothing into the agent's output.
    func testInitRunsInAMinimalRootfsAndPrintsNothing() throws {
        let rootfs = tempDir + "/minimal-rootfs"
        try FileManager.default.createDirectory(atPath: rootfs + "/proc", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/busybox")
        let spec = Spec(
            process: Process(
                user: User(uid: 0, gid: 0), args: ["/busybox", "sh", "-c", "cat /proc/1/comm"],
                env: ["PATH=/"], cwd: "/"),
            root: Root(path: rootfs), mounts: [Mount(destination: "/proc", type: "proc", source: "proc")],
            linux: Linux(namespaces: ["mount", "pid"].map { LinuxNamespace(type: $0) }))
        let id = "mini-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        let dir = runtime.stateDirectory(id)
        XCTAssertEqual(outcome.exitCode, 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/stdout.log", encoding: .utf8), "aegis-init\n")
        XCTAssertEqual(try String(contentsOfFile: dir + "/stderr.log", encoding: .utf8), "", "the init wrote into the agent's stderr")
    }

    func testInitImageIsSealed() throws {
        let fd = try runtime.initImage.descriptor()
        XCTAssertTrue(Syscall.memfdIsSealed(fd), "the init image is not sealed")
        XCTAssertEqual(write(fd, "x", 1), -1, "the memfd accepted a write")
    }

    func testMissingInitExecutableIsAClearError() throws {
        let bare = try SandboxRuntime(stateRoot: tempDir + "/state-noinit", cgroupParent: cgroupParent, initPath: nil)
        let rootfs = tempDir + "/root-noinit"
        try AgentProfile.prepareRootfs(at: rootfs)
        let spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/bin/true"], workDir: try makeWorkDir(), uid: Self.agentUID,
                gid: Self.agentUID), rootfs: rootfs)
        XCTAssertThrowsError(try bare.create(id: "noinit", spec: spec, bundle: tempDir, options: SandboxCreateOptions(useInit: true))) {
            XCTAssertTrue("\($0)".contains("aegis-init not found"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tempDir + "/state-noinit/noinit"))
    }
}
