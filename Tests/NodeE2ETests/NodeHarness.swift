// A real `aegis up` node for end-to-end tests: its own data dir, API on a free 127.0.0.1 port and
// on its unix socket; driven through the `aegis` CLI and plain HTTP.
import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

final class NodeHarness {
    let dataDir: String
    let binary: String
    var process: Process?
    var extraArgs: [String]
    /// Run the node inside this network namespace (/run/netns/NAME, via nsenter: only the network
    /// namespace changes). Readiness and requests then go through the unix socket.
    let netns: String?
    private(set) var port = 0
    /// Added to the environment `aegis up` starts with (e.g. NOTIFY_SOCKET).
    var environment: [String: String] = [:]
    /// When `start` considers the node up (default: its API answers the admin token; a standby
    /// controller answers 503, so its tests wait for /readyz instead).
    var isUp: ((NodeHarness) -> Bool)?
    /// Sandbox leaves of this node go under this cgroup2 path (removed at the end).
    let cgroupParent = "aegis-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    init(extraArgs: [String] = [], netns: String? = nil) throws {
        self.netns = netns
        var template = Array("/tmp/aegis-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dataDir = String(cString: p)
        chmod(dataDir, 0o711)
        binary = try Self.locate("aegis")
        self.extraArgs = extraArgs
    }

    /// A node on another node's data directory (run after that one stopped), in its namespace.
    init(sameDataDirAs other: NodeHarness, extraArgs: [String]) {
        netns = other.netns
        dataDir = other.dataDir
        binary = other.binary
        self.extraArgs = extraArgs
    }

    static func locate(_ name: String) throws -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let c = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: c) { return c }
            dir.deleteLastPathComponent()
        }
        throw XCTSkip("\(name) not built next to the test bundle")
    }

    /// Starts `aegis up` and waits until its API answers.
    func start(file: StaticString = #filePath, line: UInt = #line) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        let runsAgents = !zip(extraArgs, extraArgs.dropFirst()).contains { $0 == ("--role", "controller") }
        p.arguments =
            ["up", "--data-dir", dataDir, "--api-port", "0", "--name", "e2e-node", "--log-level", "warning"]
            + (runsAgents ? ["--cgroup-parent", cgroupParent] : []) + extraArgs
        if let netns {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            p.arguments = ["--net=/run/netns/\(netns)", "--", binary] + p.arguments!
        }
        let log =
            FileHandle(forWritingAtPath: dataDir + "/node.log")
            ?? {
                FileManager.default.createFile(atPath: dataDir + "/node.log", contents: nil)
                return FileHandle(forWritingAtPath: dataDir + "/node.log")!
            }()
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try p.run()
        process = p
        port = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: dataDir + "/api.port", encoding: .utf8),
                let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                FileManager.default.fileExists(atPath: dataDir + "/aegis.sock")
            {
                self.port = port
                if let isUp {
                    if isUp(self) { return }
                } else if netns != nil {
                    if (try? cli(["ps"], timeout: 10).status) == 0 { return }
                } else if (try? http("GET", "/v1/whoami", token: adminToken()).status) == 200 {
                    return
                }
                self.port = 0
            }
            if !p.isRunning { break }
            usleep(50_000)
        }
        XCTFail("node did not come up:\n\(nodeLog())", file: file, line: line)
        throw CocoaError(.fileReadUnknown)
    }

    /// SIGTERM (agents keep running) and wait.
    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dataDir + "/api.port")
    }

    func nodeLog() -> String { (try? String(contentsOfFile: dataDir + "/node.log", encoding: .utf8)) ?? "" }

    func adminToken() -> String {
        ((try? String(contentsOfFile: dataDir + "/admin.token", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs the aegis CLI against this node (unix socket + admin token unless `env` says otherwise).
    @discardableResult
    func cli(_ args: [String], env: [String: String] = [:], cwd: String? = nil, timeout: TimeInterval = 60) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["AEGIS_DATA_DIR"] = dataDir
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let tag = UUID().uuidString
        let outPath = NSTemporaryDirectory() + "aegis-e2e-\(tag).out", errPath = NSTemporaryDirectory() + "aegis-e2e-\(tag).err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { unlink(outPath); unlink(errPath) }
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let outData = FileManager.default.contents(atPath: outPath) ?? Data()
        let errData = FileManager.default.contents(atPath: errPath) ?? Data()
        return CommandResult(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// One HTTP request to the TCP listener.
    func http(
        _ method: String, _ path: String, token: String?, body: Data? = nil, headers: [String: String] = [:]
    ) throws -> (status: Int, body: Data) {
        let p =
            port != 0
            ? port
            : Int(
                (try? String(contentsOfFile: dataDir + "/api.port", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            ) ?? 0
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(p)\(path)")!)
        req.httpMethod = method
        req.httpBody = body
        req.timeoutInterval = 20
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        if body != nil { req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let sem = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, Data)?
        nonisolated(unsafe) var failure: Error?
        URLSession.shared.dataTask(with: req) { data, resp, error in
            if let error { failure = error } else { result = ((resp as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()) }
            sem.signal()
        }.resume()
        sem.wait()
        if let failure { throw failure }
        return result!
    }

    deinit {
        stop()
        removeCgroupSubtree(cgroupParent)
        try? FileManager.default.removeItem(atPath: dataDir)
    }
}

/// Sandboxes a test left behind under a node's cgroup parent: cgroup.kill each leaf, remove it,
/// then the parent.
func removeCgroupSubtree(_ cgroupParent: String) {
    let parent = "/sys/fs/cgroup/unified/" + cgroupParent
    for leaf in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where !leaf.hasPrefix("cgroup.") {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent + "/" + leaf, isDirectory: &isDir), isDir.boolValue else { continue }
        try? "1".write(toFile: parent + "/\(leaf)/cgroup.kill", atomically: false, encoding: .utf8)
        for _ in 0..<50 where rmdir(parent + "/" + leaf) != 0 { usleep(20_000) }
    }
    rmdir(parent)
}

/// A test case with one fresh `aegis up` node per test (started in setUp, dropped in tearDown).
class SingleNodeTestCase: XCTestCase {
    var node: NodeHarness!

    override func setUpWithError() throws {
        node = try NodeHarness()
        try node.start()
    }

    override func tearDown() {
        node = nil
    }
}
