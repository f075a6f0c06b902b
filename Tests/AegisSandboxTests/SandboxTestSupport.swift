// Shared fixtures: a runtime with its own state root and cgroup parent, temp dirs, the probe
// compiled against libc only (so it runs inside sandboxes that see just the host's /usr).
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

class SandboxTestCase: XCTestCase {
    var tempDir = ""
    var runtime: SandboxRuntime!
    var cgroupParent = ""
    var createdIDs: [String] = []
    static let agentUID: UInt32 = 40123

    override func setUpWithError() throws {
        tempDir = try makeTempDir()
        cgroupParent = "aegis-sbtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        runtime = try SandboxRuntime(stateRoot: tempDir + "/state", cgroupParent: cgroupParent)
    }

    override func tearDownWithError() throws {
        for id in createdIDs { try? runtime.delete(id, force: true) }
        let parent = runtime.cgroups.parentPath
        rmdir(parent)
        XCTAssertFalse(FileManager.default.fileExists(atPath: parent), "cgroup parent left behind: \(parent)")
        try? FileManager.default.removeItem(atPath: tempDir)
    }

    func makeTempDir() throws -> String {
        var template = Array("/tmp/aegis-sbtest-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SandboxError.system("mkdtemp") }
        let path = String(cString: p)
        chmod(path, 0o755)
        return path
    }

    /// A fresh work directory owned by the agent uid.
    func makeWorkDir() throws -> String {
        let dir = tempDir + "/work-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chown(dir, Self.agentUID, Self.agentUID)
        return dir
    }

    /// Runs an agent under the default profile; returns (outcome, stdout, stderr).
    func runAgent(
        _ args: [String], workDir: String? = nil, network: AgentSandboxRequest.Network = .none,
        resources: LinuxResources? = nil, useInit: Bool = true, timeout: Duration = .seconds(30),
        id: String? = nil
    ) throws -> (SandboxOutcome, String, String) {
        let id = id ?? "agent-\(UInt32.random(in: 0...UInt32.max))"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let request = AgentSandboxRequest(
            args: args, workDir: try workDir ?? makeWorkDir(), uid: Self.agentUID,
            gid: Self.agentUID, hostname: "agent-test", network: network, resources: resources)
        createdIDs.append(id)
        try runtime.create(
            id: id, spec: AgentProfile.spec(request, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, useInit: useInit))
        guard let outcome = try runtime.wait(id, timeout: timeout) else {
            XCTFail("agent \(id) did not finish within \(timeout)")
            throw SandboxError(.system, "timeout")
        }
        let dir = runtime.stateDirectory(id)
        let out = (try? String(contentsOfFile: dir + "/stdout.log", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: dir + "/stderr.log", encoding: .utf8)) ?? ""
        return (outcome, out, err)
    }

    /// The agent profile running `/bin/sh -c script` as uid 0 (no capabilities) without
    /// no_new_privs: a root container as bundles describe one.
    func rootShellSpec(_ script: String, rootfs: String) throws -> Spec {
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/bin/sh", "-c", script], workDir: try makeWorkDir(),
                uid: Self.agentUID, gid: Self.agentUID), rootfs: rootfs)
        spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
        spec.process!.noNewPrivileges = false
        return spec
    }

    /// Creates a sandbox from `spec` (with the init), waits for it and returns its stdout.
    func runToCompletion(_ spec: Spec) throws -> String {
        let id = "run-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        _ = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        return try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)
    }

    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// aegis-probe compiled with the toolchain's C compiler, linked against libc only.
    static let probeBinary: String = {
        let out = NSTemporaryDirectory() + "aegis-probe-\(getpid())"
        let cc = ["/usr/bin/cc", "/opt/swift/usr/bin/clang", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }!
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-O2", "-D_GNU_SOURCE", "-o", out, repoRoot + "/Sources/aegis-probe/probe.c"]
        try! p.run()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "compiling probe.c failed")
        return out
    }()

    /// Copies the probe into `workDir` (visible at /work inside the sandbox).
    func installProbe(in workDir: String) throws -> String {
        let dest = workDir + "/aegis-probe"
        try? FileManager.default.removeItem(atPath: dest)
        try FileManager.default.copyItem(atPath: Self.probeBinary, toPath: dest)
        chmod(dest, 0o755)
        return AgentProfile.workMount + "/aegis-probe"
    }

    /// Lines "NAME RESULT" → dictionary.
    func parseProbe(_ text: String) -> [String: String] {
        var d: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { d[String(parts[0])] = String(parts[1]) }
        }
        return d
    }
}
