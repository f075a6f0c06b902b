import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// Runtimes are detected as an agent will see them: on its PATH, inside the directories its sandbox
/// binds. A fixture tree stands for a host whose daemon PATH starts with a pyenv shim in root's home.
final class DetectionAgentViewTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-agentview-\(UUID().uuidString)").path
        try script("/usr/bin/python3", "echo Python 3.11.2")
        try script("/root/.pyenv/shims/python3", "echo Python 3.11.7")
        // node: /usr/local/bin/node is a link out of the view (the target is not bound into sandboxes).
        try script("/opt/node/bin/node", "echo v20.11.1")
        try link("/usr/local/bin/node", to: "/opt/node/bin/node")
        // ruby: a relative link that stays inside /usr.
        try script("/usr/lib/ruby3/bin/ruby", "echo 'ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]'")
        try link("/usr/bin/ruby", to: "../lib/ruby3/bin/ruby")
        // perl: visible (/usr/sbin is under /usr) but not on the agents' PATH.
        try script("/usr/sbin/perl", "echo 'This is perl 5, version 36, subversion 0 (v5.36.0)'")
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func script(_ path: String, _ body: String) throws {
        let real = root + path
        try FileManager.default.createDirectory(atPath: (real as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "#!/bin/sh\n\(body)\n".write(toFile: real, atomically: true, encoding: .utf8)
        chmod(real, 0o755)
    }

    func link(_ path: String, to target: String) throws {
        let real = root + path
        try FileManager.default.createDirectory(atPath: (real as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(target, real), 0)
    }

    func testOnlyRuntimesAgentsCanRunAreAdvertisedAndTheOthersSayWhy() async throws {
        let probes = ["python3", "node", "ruby", "perl"].map { RuntimeProbe(name: $0, arguments: ["--version"]) }
        let options = DetectionOptions(
            root: root, path: ["/root/.pyenv/shims", "/usr/local/bin", "/usr/sbin", "/usr/bin"],
            nvidiaSMI: nil, runtimeProbes: probes)
        let caps = await CapabilityDetector(options: options).detect()

        XCTAssertEqual(
            caps.runtimes,
            [
                RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3"),
                RuntimeInfo(name: "ruby", version: "3.1.2", path: "/usr/bin/ruby"),
            ], "the shim (3.11.7) comes first on the daemon's PATH, but agents run /usr/bin/python3")
        let outside = "not visible to agents (outside /usr, /bin, /sbin, /lib, /lib32, /lib64, /libx32, /etc)"
        XCTAssertEqual(
            caps.unavailableRuntimes,
            [
                UnavailableRuntime(name: "python3", path: "/root/.pyenv/shims/python3", reason: outside),
                UnavailableRuntime(name: "node", path: "/usr/local/bin/node", reason: "a link to /opt/node/bin/node, " + outside),
                UnavailableRuntime(name: "perl", path: "/usr/sbin/perl", reason: "not on the agents' PATH (/usr/local/bin:/usr/bin:/bin)"),
            ])
        XCTAssertEqual(caps.unavailableRuntimes?.first?.summary, "python3 at /root/.pyenv/shims/python3: " + outside)
        XCTAssertEqual(caps.warnings.filter { $0.contains("runtime") }, [], "\(caps.warnings)")
    }

    func testResolveFollowsLinksBelowTheRoot() throws {
        let files = HostFiles(root: root)
        XCTAssertEqual(files.resolve("/usr/bin/ruby"), "/usr/lib/ruby3/bin/ruby")
        XCTAssertEqual(files.resolve("/usr/local/bin/node"), "/opt/node/bin/node", "an absolute target is taken from the root")
        XCTAssertNil(files.resolve("/usr/bin/missing"))
        try link("/usr/bin/loop", to: "loop")
        XCTAssertNil(files.resolve("/usr/bin/loop"))
    }
}
