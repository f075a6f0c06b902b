// Regression tests for sandbox escapes through paths the spec controls (CVE-2024-21626 class:
// process.cwd through a descriptor the shim still held; mount points created through a symlink of
// the rootfs) and for the device cgroup, for a root container and for the agent profile.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxEscapeTests: SandboxTestCase {
    /// Capabilities of runc's default spec: a root container as most bundles describe it.
    static let rootCaps = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
        "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
    ]

    /// The agent profile's spec, or (asRoot) the same sandbox running as uid 0 with runc's default
    /// capabilities and without no_new_privs.
    func spec(_ args: [String], rootfs: String, asRoot: Bool, request: (inout AgentSandboxRequest) -> Void = { _ in }) throws -> Spec {
        try AgentProfile.prepareRootfs(at: rootfs)
        var r = AgentSandboxRequest(args: args, workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID)
        request(&r)
        var spec = AgentProfile.spec(r, rootfs: rootfs)
        if asRoot {
            spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
            let caps = Self.rootCaps
            spec.process!.capabilities = LinuxCapabilities(bounding: caps, effective: caps, inheritable: [], permitted: caps, ambient: [])
            spec.process!.noNewPrivileges = false
        }
        return spec
    }

    /// Creates and waits; returns stdout, or throws the create error.
    func run(_ spec: Spec, id: String = "esc-\(UInt32.random(in: 0...UInt32.max))") throws -> String {
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        guard try runtime.wait(id, timeout: .seconds(30)) != nil else { throw SandboxError(.system, "timeout") }
        return (try? String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)) ?? ""
    }

    func testCwdThroughMagicLinksIsRefusedAndTouchesNothingOnTheHost() throws {
        let marker = "aegis-escape-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let hostMarker = "/tmp/" + marker
        defer { unlink(hostMarker) }
        let climb = String(repeating: "../", count: 12)
        let args = ["/bin/sh", "-c", "echo escaped > \(climb)tmp/\(marker); head -c 64 \(climb)etc/shadow; pwd"]
        var cwds = (0...24).map { "/proc/self/fd/\($0)" }
        cwds += ["/proc/self/cwd", "/proc/self/root", "/proc/1/root", "/proc/1/cwd", "/proc/1/fd/3", "/via-fd3", "/via-pid1-root"]
        for asRoot in [false, true] {
            let rootfs = tempDir + "/root-cwd-\(asRoot)"
            var base = try spec(args, rootfs: rootfs, asRoot: asRoot)
            _ = symlink("/proc/self/fd/3", rootfs + "/via-fd3")
            _ = symlink("/proc/1/root", rootfs + "/via-pid1-root")
            for cwd in cwds {
                base.process!.cwd = cwd
                let before = ((try? FileManager.default.contentsOfDirectory(atPath: runtime.stateRoot)) ?? []).filter { !$0.hasPrefix(".") }
                do {
                    let out = try run(base)
                    XCTFail("cwd \(cwd) (root: \(asRoot)) was not refused; output: \(out)")
                } catch let e as SandboxError {
                    XCTAssertEqual(e.step, "chdir cwd", "cwd \(cwd) (root: \(asRoot)): \(e)")
                    XCTAssertTrue(e.description.contains(cwd), e.description)
                }
                XCTAssertFalse(FileManager.default.fileExists(atPath: hostMarker), "cwd \(cwd) wrote to the host's /tmp")
                let after = ((try? FileManager.default.contentsOfDirectory(atPath: runtime.stateRoot)) ?? []).filter { !$0.hasPrefix(".") }
                XCTAssertEqual(Set(after), Set(before), "a failed create left a state directory behind")
            }
            // The control: the same sandbox with an ordinary cwd runs, confined to its root.
            base.process!.cwd = "/work"
            let out = try run(base)
            XCTAssertTrue(out.hasSuffix("/work\n"), out)
            XCTAssertFalse(FileManager.default.fileExists(atPath: hostMarker))
        }
        let leaves = try FileManager.default.contentsOfDirectory(atPath: runtime.cgroups.parentPath).filter { $0.hasPrefix("esc-") }
        XCTAssertEqual(leaves.count, 2, "only the two control sandboxes may have cgroup leaves: \(leaves)")
    }

    func testProgramThroughMagicLinkIsRefused() throws {
        for asRoot in [false, true] {
            let s = try spec(["/proc/self/fd/3"], rootfs: tempDir + "/root-exe-\(asRoot)", asRoot: asRoot)
            XCTAssertThrowsError(try run(s)) { error in
                XCTAssertEqual((error as? SandboxError)?.step, "exec lookup", "\(error)")
            }
        }
    }

    func testMountPointsAreCreatedInsideTheRootfsOnly() throws {
        // Outside /tmp, which the agent profile mounts a tmpfs over (hiding in-root paths below it).
        let hostDir = "/var/tmp/aegis-escape-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hostDir) }
        let mounts = [
            Mount(destination: "/evil/sub", type: "tmpfs", source: "tmpfs", options: ["size=1m"]),
            Mount(destination: "/evil/file", type: "bind", source: "/etc/hostname", options: ["bind", "ro"]),
            Mount(destination: "/evil/deep/er", type: "tmpfs", source: "tmpfs", options: ["size=1m"]),
        ]
        for asRoot in [false, true] {
            // Resolved on the host this symlink leads to hostDir; resolved in-root, to the same path
            // beneath the rootfs. First with that in-root path missing (refused, naming the mount),
            // then present (created there).
            let rootfs = tempDir + "/root-mnt-\(asRoot)"
            var s = try spec(["/bin/sh", "-c", "ls -d /evil/sub /evil/file /evil/deep/er"], rootfs: rootfs, asRoot: asRoot)
            XCTAssertEqual(symlink(hostDir, rootfs + "/evil"), 0)
            s.mounts! += mounts
            XCTAssertThrowsError(try run(s)) { error in
                XCTAssertEqual((error as? SandboxError)?.step, "mount", "\(error)")
                XCTAssertTrue("\(error)".contains("/evil/sub"), "\(error)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: hostDir), [], "mount points were created on the host")
            try FileManager.default.createDirectory(atPath: rootfs + hostDir, withIntermediateDirectories: true)
            XCTAssertEqual(try run(s), "/evil/deep/er\n/evil/file\n/evil/sub\n")  // ls sorts
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: hostDir), [], "mount points were created on the host")
            XCTAssertTrue(FileManager.default.fileExists(atPath: rootfs + hostDir + "/deep/er"), "mount point not created in-root")
        }
    }

    func testDeviceCgroupDeniesNodesOutsideTheAllowlist() throws {
        let script =
            "mknod /dev/blk b 7 0 && ( (exec 3</dev/blk) 2>/dev/null && echo OPENED || echo DENIED ); echo x > /dev/null && echo NULL-OK"
        var s = try spec(["/bin/sh", "-c", script], rootfs: tempDir + "/root-dev", asRoot: true)
        XCTAssertEqual(try run(s), "DENIED\nNULL-OK\n")
        // The control: a spec that grants every device gets no program, and the same open works.
        s.linux!.resources!.devices = [LinuxDeviceCgroup(allow: true, access: "rwm")]
        XCTAssertEqual(try run(s), "OPENED\nNULL-OK\n")
    }

    func testAgentOpensOnlyItsAssignedDeviceNodes() throws {
        // A stand-in for a GPU node (the tun device, harmless to open), bound in as /dev/nvidia0.
        let node = tempDir + "/fake-gpu"
        XCTAssertEqual(mknod(node, S_IFCHR | 0o666, (10 << 8) | 200), 0, "mknod: \(errno)")  // makedev(10, 200)
        chmod(node, 0o666)
        let script = "(exec 3<>/dev/nvidia0) 2>/dev/null && echo OPENED || echo DENIED"
        let bind = Mount(destination: "/dev/nvidia0", type: "bind", source: node, options: ["bind", "nosuid"])
        let mistaken = try spec(["/bin/sh", "-c", script], rootfs: tempDir + "/root-gpu", asRoot: false) { $0.extraMounts = [bind] }
        XCTAssertEqual(try run(mistaken), "DENIED\n")
        let rule = try XCTUnwrap(DeviceRules.allowRule(forNode: node))
        XCTAssertEqual(rule, LinuxDeviceCgroup(allow: true, type: "c", major: 10, minor: 200, access: "rw"))
        let assigned = try spec(["/bin/sh", "-c", script], rootfs: tempDir + "/root-gpu", asRoot: false) {
            $0.extraMounts = [bind]
            $0.allowedDevices = [rule]
        }
        XCTAssertEqual(try run(assigned), "OPENED\n")
    }

    func testCgroupsPathIsHonouredBelowTheParentAndCleanedUp() throws {
        var s = try spec(["/bin/sh", "-c", "cat /proc/self/cgroup"], rootfs: tempDir + "/root-cg", asRoot: false)
        s.linux!.cgroupsPath = "/rtvtest/x"
        let id = "cgpath-\(UInt32.random(in: 0...UInt32.max))"
        _ = try run(s, id: id)
        let record = try runtime.record(id)
        XCTAssertEqual(record.cgroupPath, runtime.cgroups.parentPath + "/rtvtest/x")
        try runtime.delete(id)
        createdIDs.removeAll { $0 == id }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.cgroups.parentPath + "/rtvtest"), "intermediate cgroup left behind")
        s.linux!.cgroupsPath = "/../../escape"
        XCTAssertThrowsError(try run(s)) { XCTAssertTrue("\($0)".contains("linux.cgroupsPath"), "\($0)") }
    }
}
