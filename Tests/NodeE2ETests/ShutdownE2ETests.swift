// End-to-end: a node stops at once whatever clients are attached — `aegis run` following an agent
// that can't be placed, `aegis logs -f` over the unix socket and over TCP — and those clients are
// told why and exit non-zero.
import AegisProtocol
import Foundation
import XCTest

/// An `aegis` CLI process left running while the test does other things.
final class BackgroundCLI {
    let process = Process()
    let outPath: String, errPath: String

    init(_ node: NodeHarness, _ args: [String], env: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: node.binary)
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["AEGIS_DATA_DIR"] = node.dataDir
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        let tag = UUID().uuidString
        outPath = NSTemporaryDirectory() + "aegis-bg-\(tag).out"
        errPath = NSTemporaryDirectory() + "aegis-bg-\(tag).err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        unlink(outPath)
        unlink(errPath)
    }

    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for the exit; nil when still running.
    func exitStatus(within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

final class ShutdownE2ETests: XCTestCase {
    var node: NodeHarness!

    override func setUpWithError() throws {
        node = try NodeHarness()
        try node.start()
    }

    override func tearDown() {
        // A node that did not stop (the failure these tests look for) must not hold up the harness.
        if let p = node.process, p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        node = nil
    }

    /// A workload no node can take: it stays pending.
    func submitUnplaceable() throws -> String {
        let r = try node.cli(["run", "-d", "--memory", "4000Gi", "--", "true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Clients on every transport, each following a workload that will not end by itself: a
    /// foreground `aegis run` of an unplaceable agent (unix socket), `aegis logs -f` of another over
    /// the unix socket and over TCP, and `aegis logs -f` of a running `sleep` over TCP.
    func attachClients() throws -> [BackgroundCLI] {
        let tcp = ["--server", "http://127.0.0.1:\(node.port)", "--token", node.adminToken()]
        let pending = try submitUnplaceable()
        let sleeper = try node.cli(["run", "-d", "--", "sleep", "60"])
        XCTAssertEqual(sleeper.status, 0, sleeper.stderr)
        let running = sleeper.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let clients = [
            try BackgroundCLI(node, ["run", "--memory", "4000Gi", "--", "true"]),
            try BackgroundCLI(node, ["logs", "-f", pending]),
            try BackgroundCLI(node, ["logs", "-f", pending] + tcp),
            try BackgroundCLI(node, ["logs", "-f", running] + tcp),
        ]
        // Until each is attached: the foreground run has said why it waits, the followers are polling.
        let deadline = Date().addingTimeInterval(10)
        while !clients[0].stderr.contains("is pending") && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(clients[0].stderr.contains("is pending"), clients[0].stderr)
        usleep(500_000)
        for c in clients { XCTAssertTrue(c.process.isRunning, "a client ended early: \(c.stderr)") }
        return clients
    }

    func assertToldAndEnded(_ clients: [BackgroundCLI], file: StaticString = #filePath, line: UInt = #line) {
        for c in clients {
            let status = c.exitStatus(within: 5)
            XCTAssertNotNil(status, "client \(c.process.arguments ?? []) still running", file: file, line: line)
            XCTAssertNotEqual(status, 0, "client \(c.process.arguments ?? []) exited 0", file: file, line: line)
            XCTAssertTrue(c.stderr.contains("node is shutting down"), "\(c.process.arguments ?? []): \(c.stderr)", file: file, line: line)
        }
    }

    func testDownStopsTheNodeWithinASecondWithFollowersAttached() throws {
        let clients = try attachClients()
        let start = Date()
        let down = try node.cli(["down", "--timeout", "10"])
        let elapsed = Date().timeIntervalSince(start)
        print("shutdown: aegis down with 4 followers attached took \(String(format: "%.3f", elapsed)) s")
        XCTAssertEqual(down.status, 0, down.stderr + node.nodeLog())
        XCTAssertFalse(node.process?.isRunning ?? false)
        XCTAssertLessThan(elapsed, 1.0, "aegis down took \(elapsed) s\n\(node.nodeLog())")
        assertToldAndEnded(clients)
    }

    func testSIGTERMStopsTheNodeWithinASecondWithFollowersAttached() throws {
        let clients = try attachClients()
        let p = try XCTUnwrap(node.process)
        let start = Date()
        kill(p.processIdentifier, SIGTERM)
        while p.isRunning && Date().timeIntervalSince(start) < 10 { usleep(5_000) }
        let elapsed = Date().timeIntervalSince(start)
        print("shutdown: SIGTERM with 4 followers attached took \(String(format: "%.3f", elapsed)) s")
        XCTAssertFalse(p.isRunning)
        XCTAssertLessThan(elapsed, 1.0, "SIGTERM took \(elapsed) s\n\(node.nodeLog())")
        assertToldAndEnded(clients)
    }
}
