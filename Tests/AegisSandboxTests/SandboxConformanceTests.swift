// OCI fields the runtime honours in the container process: process.oomScoreAdj and namespaced
// linux.sysctl, written before the filesystem set-up inside the container's namespaces.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxConformanceTests: SandboxTestCase {
    func rootSpec(_ script: String, rootfs: String) throws -> Spec {
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(AgentSandboxRequest(args: ["/bin/sh", "-c", script], workDir: try makeWorkDir(),
                                                         uid: Self.agentUID, gid: Self.agentUID), rootfs: rootfs)
        spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
        spec.process!.noNewPrivileges = false
        return spec
    }

    func run(_ spec: Spec) throws -> String {
        let id = "conf-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        _ = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        return try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)
    }

    func testOOMScoreAdjAndNamespacedSysctlsApplyInsideOnly() throws {
        let hostShmmax = try String(contentsOfFile: "/proc/sys/kernel/shmmax", encoding: .utf8)
        let hostForward = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)
        var spec = try rootSpec("cat /proc/self/oom_score_adj /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
                                rootfs: tempDir + "/root-conf")
        spec.process!.oomScoreAdj = 345
        let wanted = hostForward.hasPrefix("1") ? "0" : "1"
        spec.linux!.sysctl = ["kernel.shmmax": "123456789", "net.ipv4.ip_forward": wanted]
        XCTAssertEqual(try run(spec), "345\n123456789\n\(wanted)\n")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/kernel/shmmax", encoding: .utf8), hostShmmax, "the host's sysctl changed")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8), hostForward)
    }

    func testUnwritableSysctlFailsAtCreateNamingIt() throws {
        var spec = try rootSpec("true", rootfs: tempDir + "/root-conf2")
        spec.linux!.sysctl = ["net.ipv4.no_such_key": "1"]
        XCTAssertThrowsError(try run(spec)) { error in
            XCTAssertEqual((error as? SandboxError)?.step, "sysctl", "\(error)")
            XCTAssertTrue("\(error)".contains("/proc/sys/net/ipv4/no_such_key"), "\(error)")
        }
    }
}
