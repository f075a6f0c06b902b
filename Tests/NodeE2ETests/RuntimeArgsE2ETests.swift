// End-to-end: `aegis run --runtime R -- …` hands everything after `--` to the runtime (`-c CODE`,
// `-m module`, a script path below the current directory); a script outside that directory is an
// error saying how to include it. And the runtime a node advertises is the one its agents run.
import AegisProtocol
import Foundation
import XCTest

final class RuntimeArgsE2ETests: XCTestCase {
    var node: NodeHarness!
    var work = ""

    override func setUpWithError() throws {
        node = try NodeHarness()
        try node.start()
        work = node.dataDir + "/client"
        try FileManager.default.createDirectory(atPath: work + "/sub/inner", withIntermediateDirectories: true)
    }

    override func tearDown() {
        node = nil
    }

    func testArgumentsAfterTheDoubleDashReachTheRuntime() throws {
        let c = try node.cli(["run", "--runtime", "python3", "--", "-c", "import sys; print(40 + 2, sys.argv[1:])", "x"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.stdout, "42 ['x']\n")

        try #"{"b": 1, "a": [2]}"#.write(toFile: work + "/data.json", atomically: true, encoding: .utf8)
        let m = try node.cli(["run", "--runtime", "python3", "--", "-m", "json.tool", "--sort-keys", "--compact", "data.json"], cwd: work)
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertEqual(m.stdout, #"{"a":[2],"b":1}"# + "\n")

        try "import sys\nprint('script', sys.argv[1:])\n".write(toFile: work + "/sub/agent.py", atomically: true, encoding: .utf8)
        let s = try node.cli(["run", "--runtime", "python3", "--", "./sub/agent.py", "y"], cwd: work)
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertEqual(s.stdout, "script ['y']\n")
    }

    func testAScriptOutsideTheCurrentDirectoryIsAnErrorSayingHowToIncludeIt() throws {
        try "print('never')\n".write(toFile: work + "/sub/agent.py", atomically: true, encoding: .utf8)
        for script in ["../agent.py", work + "/sub/agent.py"] {
            let r = try node.cli(["run", "--runtime", "python3", "--", script], cwd: work + "/sub/inner")
            XCTAssertNotEqual(r.status, 0, r.stdout)
            XCTAssertTrue(r.stderr.contains("\"\(script)\" was not uploaded: it is outside the current directory"), r.stderr)
            XCTAssertTrue(r.stderr.contains("run aegis from a directory that contains the script"), r.stderr)
        }
        let ps = try node.cli(["ps", "--all"])
        XCTAssertFalse(ps.stdout.contains("agent-py"), "nothing was submitted: \(ps.stdout)")
    }

    /// The node advertises python3 as agents find it; a python3 first on the daemon's PATH outside
    /// the agents' view (this host's pyenv shim, when there is one) is listed with the reason.
    func testAdvertisedPythonIsTheOneAgentsRun() throws {
        let r = try node.cli(["node", "describe", "e2e-node", "-o", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let info = try JSONDecoder().decode(NodeInfo.self, from: Data(r.stdout.utf8))
        let advertised = try XCTUnwrap(info.capabilities.runtimes.first { $0.name == "python3" })
        let inAgent = try node.cli(["run", "--runtime", "python3", "--", "-c", "import platform; print(platform.python_version())"])
        XCTAssertEqual(inAgent.status, 0, inAgent.stderr)
        XCTAssertEqual(inAgent.stdout, advertised.version + "\n", "advertised \(advertised), the agent runs another")
        let shim = "/root/.pyenv/shims/python3"
        if FileManager.default.isExecutableFile(atPath: shim),
            ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").first(where: {
                FileManager.default.isExecutableFile(atPath: "\($0)/python3")
            }) == "/root/.pyenv/shims"
        {
            let text = try node.cli(["node", "describe", "e2e-node"]).stdout
            XCTAssertTrue(text.contains("python3 at \(shim): not visible to agents (outside /usr, /bin"), text)
        }
    }
}
