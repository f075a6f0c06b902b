// Shared fixtures for the aegis-runtime CLI tests: the built binary, a busybox bundle written by
// `aegis-runtime spec` and edited through AegisOCI's Spec, command execution with a deadline, and
// checks that nothing (state dir, cgroup leaf, process) is left behind.
import Foundation
import XCTest
import AegisOCI

struct FixtureError: Error, CustomStringConvertible { let description: String }

/// What one `aegis-runtime` invocation did.
struct CommandResult {
    var status: Int32
    /// True when the process was killed by a signal (`status` is then the signal number).
    var signaled: Bool
    var stdout: String
    var stderr: String
    var seconds: Double

    /// Non-empty stderr lines.
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
}

class RuntimeTestCase: XCTestCase {
    /// Per-test temp dir holding the state root, bundles and captured output.
    var tempDir = ""
    var root: String { tempDir + "/state" }
    /// Container ids this test used: deleted (--force) and checked in tearDown.
    var ids: [String] = []
    /// Unique strings in the command lines of the test's container processes.
    var markers: [String] = []
    private var outputCounter = 0

    // MARK: - fixed paths

    /// The `aegis-runtime` built next to the test bundle (`swift test` builds every product into
    /// the same directory), or $AEGIS_RUNTIME.
    static let runtimePath: String? = {
        if let env = ProcessInfo.processInfo.environment["AEGIS_RUNTIME"] { return env }
        var dir = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        for start in [dir, Bundle.main.bundlePath, Bundle(for: RuntimeTestCase.self).bundlePath] where !start.isEmpty {
            dir = start
            while dir.count > 1 {
                dir = (dir as NSString).deletingLastPathComponent
                let candidate = dir + "/aegis-runtime"
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate)
                {
                    return candidate
                }
            }
        }
        return nil
    }()

    /// A statically linked busybox (Debian's busybox-static, scripts/install-deps.sh).
    static let busybox: String? = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Applets linked into each test rootfs.
    static let applets = [
        "sh", "ls", "cat", "ps", "echo", "true", "false", "sleep", "id", "hostname", "grep",
        "wc", "kill", "test", "[",
    ]

    /// The cgroup2 mount point (from /proc/self/mountinfo).
    static let cgroupMount: String = {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return "/sys/fs/cgroup" }
        for line in info.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return "/sys/fs/cgroup"
    }()

    /// Where the runtime puts leaves, relative to the cgroup2 mount: `<own cgroup>/aegis`
    /// (AegisCgroup's default parent for a process outside `…/supervisor`). The runtime runs in
    /// this test process's cgroup.
    static let cgroupParentRelative: String = {
        var own = "/"
        if let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        {
            own = String(line.dropFirst(3))
        }
        if own.hasSuffix("/supervisor") { own = String(own.dropLast("/supervisor".count)) }
        return (own == "/" || own.isEmpty ? "" : own) + "/aegis"
    }()

    /// The leaf as /proc/PID/cgroup names it.
    func relativeLeaf(_ id: String) -> String { Self.cgroupParentRelative + "/" + id }
    /// The leaf's absolute path.
    func leafPath(_ id: String) -> String { Self.cgroupMount + relativeLeaf(id) }
    func stateDir(_ id: String) -> String { root + "/" + id }

    // MARK: - setUp / tearDown

    override func setUpWithError() throws {
        guard Self.runtimePath != nil else {
            throw FixtureError(description: "aegis-runtime not found next to the test bundle (build all products, or set AEGIS_RUNTIME)")
        }
        guard Self.busybox != nil else {
            throw FixtureError(description: "no static busybox at /bin/busybox (apt-get install busybox-static)")
        }
        var template = Array("/tmp/aegis-clitest-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw FixtureError(description: "mkdtemp: errno \(errno)") }
        tempDir = String(cString: p)
        chmod(tempDir, 0o755)
    }

    override func tearDownWithError() throws {
        guard !tempDir.isEmpty else { return }
        for id in ids { _ = try? aegis(["delete", "--force", id], timeout: 30) }
        for id in ids {
            XCTAssertFalse(exists(stateDir(id)), "state dir left behind: \(stateDir(id))")
            let leaf = leafPath(id)
            XCTAssertFalse(exists(leaf), "cgroup leaf left behind: \(leaf)")
            if exists(leaf) {  // clean up anyway, then report
                try? "1".write(toFile: leaf + "/cgroup.kill", atomically: false, encoding: .utf8)
                usleep(200_000)
                rmdir(leaf)
            }
        }
        for m in markers + ids {
            let left = processes(containing: m)
            XCTAssertEqual(left, [], "processes with \"\(m)\" in their command line left behind")
            for pid in left { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: tempDir)
    }

    // MARK: - ids, markers

    /// A fresh container id, registered for cleanup.
    func newID(_ prefix: String) -> String {
        let id = "\(prefix)-\(getpid())-\(UInt32.random(in: 100_000...999_999))"
        ids.append(id)
        return id
    }

    /// A number that appears in no other command line (used as `sleep <marker>`), registered.
    func newMarker() -> String {
        let m = String(UInt32.random(in: 1_000_000...9_999_999))
        markers.append(m)
        return m
    }

    // MARK: - bundles

    /// Writes a bundle: busybox rootfs + `aegis-runtime spec`'s config.json, edited by `edit`.
    @discardableResult
    func makeBundle(_ name: String = "bundle", edit: (inout Spec) throws -> Void = { _ in }) throws -> String {
        let bundle = tempDir + "/" + name
        let bin = bundle + "/rootfs/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.busybox!, toPath: bin + "/busybox")
        for applet in Self.applets {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + applet, withDestinationPath: "busybox")
        }
        let r = try aegis(["spec", "--bundle", bundle])
        XCTAssertEqual(r.status, 0, "spec failed: \(r.stderr)")
        var spec = try Spec.load(bundle: bundle)
        try edit(&spec)
        try writeSpec(spec, bundle: bundle)
        return bundle
    }

    func writeSpec(_ spec: Spec, bundle: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(spec).write(to: URL(fileURLWithPath: bundle + "/config.json"))
    }

    // MARK: - running the CLI

    /// Runs `aegis-runtime --root <root> ARGS`, stdout/stderr captured through files (a container
    /// inherits them and may outlive the command). Fails the test and kills it after `timeout` s.
    @discardableResult
    func aegis(
        _ args: [String], globals: [String] = [], timeout: Double = 30,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> CommandResult {
        let p = try launch(args, globals: globals)
        return try finish(p, timeout: timeout, file: file, line: line)
    }

    /// A launched command and where its output goes.
    struct Launched {
        let process: Foundation.Process
        let stdoutPath: String
        let stderrPath: String
        let started: Date
    }

    func launch(_ args: [String], globals: [String] = [], stdout: Pipe? = nil) throws -> Launched {
        outputCounter += 1
        let out = tempDir + "/cmd-\(outputCounter).out", err = tempDir + "/cmd-\(outputCounter).err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        let p = Foundation.Process()
        p.executableURL = URL(fileURLWithPath: Self.runtimePath!)
        p.arguments = ["--root", root] + globals + args
        p.standardInput = FileHandle.nullDevice
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        defer { try? outHandle.close(); try? errHandle.close() }
        p.standardOutput = stdout ?? outHandle
        p.standardError = errHandle
        let started = Date()
        try p.run()
        return Launched(process: p, stdoutPath: out, stderrPath: err, started: started)
    }

    func finish(_ l: Launched, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let deadline = l.started.addingTimeInterval(timeout)
        while l.process.isRunning && Date() < deadline { usleep(5_000) }
        let seconds = Date().timeIntervalSince(l.started)
        if l.process.isRunning {
            kill(l.process.processIdentifier, SIGKILL)
            XCTFail("aegis-runtime \(l.process.arguments ?? []) did not exit within \(timeout) s", file: file, line: line)
        }
        l.process.waitUntilExit()
        return CommandResult(
            status: l.process.terminationStatus,
            signaled: l.process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOfFile: l.stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: l.stderrPath, encoding: .utf8)) ?? "",
            seconds: seconds)
    }

    // MARK: - state

    /// `aegis-runtime state ID` parsed as a JSON object (fails the test when it isn't one).
    func state(_ id: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let r = try aegis(["state", id])
        XCTAssertEqual(r.status, 0, "state \(id): \(r.stderr)", file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try XCTUnwrap(object as? [String: Any], "state is not a JSON object: \(r.stdout)", file: file, line: line)
    }

    func status(_ id: String) throws -> String? { try state(id)["status"] as? String }

    /// Polls `state` until its status is `wanted`; returns whether it got there within `timeout` s.
    func waitForStatus(_ id: String, _ wanted: String, timeout: Double = 15) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try status(id) == wanted { return true }
            usleep(50_000)
        } while Date() < deadline
        return false
    }

    /// outcome.json written by the supervisor, parsed.
    func outcome(_ id: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: stateDir(id) + "/outcome.json") else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    // MARK: - processes, files

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    func pidAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Pids (other than this process) whose command line contains `needle`; zombies have none.
    func processes(containing needle: String) -> [Int32] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return false }
            let text = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return text.contains(needle)
        }.sorted()
    }

    /// The cgroup v2 path (the "0::" line) of `pid`, or nil.
    func cgroupOf(_ pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }).map { String($0.dropFirst(3)) }
    }

    func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Asserts a failed command printed exactly one error line containing every `needles` entry
    /// and left no state dir, cgroup leaf or process for `id`.
    func assertCleanFailure(
        _ r: CommandResult, id: String?, mentions needles: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertNotEqual(r.status, 0, "expected failure, stdout: \(r.stdout)", file: file, line: line)
        XCTAssertFalse(r.signaled, "killed by signal \(r.status)", file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "expected exactly one error line, got: \(r.stderr)", file: file, line: line)
        for n in needles {
            XCTAssertTrue(r.stderr.contains(n), "error does not mention \"\(n)\": \(r.stderr)", file: file, line: line)
        }
        guard let id else { return }
        XCTAssertFalse(exists(stateDir(id)), "state dir left behind: \(stateDir(id))", file: file, line: line)
        XCTAssertFalse(exists(leafPath(id)), "cgroup leaf left behind: \(leafPath(id))", file: file, line: line)
        XCTAssertEqual(processes(containing: id), [], "process left behind for \(id)", file: file, line: line)
    }
}

/// capabilities(7) numbers of the capabilities the tests use.
let capabilityNumbers: [String: Int] = [
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21, "CAP_AUDIT_WRITE": 29,
]

/// /proc/PID/status form of a capability set: 16 lower-case hex digits.
func capabilityMask(_ names: [String]) -> String {
    let mask = names.reduce(UInt64(0)) { $0 | (1 << UInt64(capabilityNumbers[$1] ?? 63)) }
    let hex = String(mask, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
