// VMSystemdTests.swift — AEGIS's systemd units under a real systemd: one boot of the VM with the
// host's systemd 252 as PID 1 (Tests/VM/vm-systemd), where Tests/VM/systemd-suite.sh installs
// and drives the units and leaves its findings in /results. Each test reads one of them: verify,
// readiness, OOM in the delegated subtree, daemon-reload, restart and stop/start with the agent
// kept, the watchdog, `aegis down`, the start limit, a worker installed and purged.
import Foundation
import XCTest

struct SystemdRun: Sendable {
    var result: VMRunResult
    var files: [String: String]
    var setupError: String?
}

enum SystemdSuite {
    static func binary(_ name: String) -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    static func launch() -> SystemdRun {
        let repo = VMBoots.repoRoot.path
        let fm = FileManager.default
        let work = "/var/tmp/aegis-systemd-vm-\(getpid())"
        let results = work + "/results", bin = work + "/bin"
        func failed(_ why: String) -> SystemdRun {
            SystemdRun(result: VMRunResult(status: -1, stdout: "", stderr: why, seconds: 0, resultFiles: [:]), files: [:], setupError: why)
        }
        do {
            try fm.createDirectory(atPath: results, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
        } catch { return failed("\(work): \(error)") }
        // Stripped copies: the guest reads them over 9p, and a debug build's symbols triple the size.
        for name in ["aegis", "aegis-supervisor", "aegis-init"] {
            guard let source = binary(name) else { return failed("\(name) is not built next to the tests") }
            let strip = Process()
            strip.executableURL = URL(fileURLWithPath: "/usr/bin/strip")
            strip.arguments = ["--strip-debug", "-o", bin + "/" + name, source]
            do { try strip.run() } catch { return failed("strip \(source): \(error)") }
            strip.waitUntilExit()
            guard strip.terminationStatus == 0 else { return failed("strip \(source): exit \(strip.terminationStatus)") }
        }
        let process = Process()
        process.executableURL = VMBoots.repoRoot.appendingPathComponent("Tests/VM/vm-systemd")
        // The guest's /tmp and /run are its own: the suite and the units are copied in, the
        // binaries (large) are read over 9p from /var/tmp.
        process.arguments = [
            "--timeout", "600", "--memory", "2048M", "--results", results, "--quiet",
            "--copy", repo + "/Tests/VM/systemd-suite.sh:/tmp/systemd-suite.sh", "--copy", repo + "/systemd:/tmp/aegis-units",
            "--", "/bin/sh", "/tmp/systemd-suite.sh", bin, "/tmp/aegis-units",
        ]
        let out = work + "/stdout", err = work + "/stderr"
        fm.createFile(atPath: out, contents: nil)
        fm.createFile(atPath: err, contents: nil)
        let start = Date()
        do {
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } catch { return failed("vm-systemd: \(error)") }
        process.waitUntilExit()
        var files: [String: String] = [:]
        for name in (try? fm.contentsOfDirectory(atPath: results)) ?? [] {
            files[name] = try? String(contentsOfFile: results + "/" + name, encoding: .utf8)
        }
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let result = VMRunResult(
            status: process.terminationStatus, stdout: read(out), stderr: read(err), seconds: Date().timeIntervalSince(start),
            resultFiles: [:])
        try? fm.removeItem(atPath: work)
        return SystemdRun(result: result, files: files, setupError: nil)
    }
}

final class VMSystemdTests: XCTestCase {
    private static let run = SystemdSuite.launch()

    override func setUpWithError() throws {
        try VMBoots.requireVM()
        if let e = Self.run.setupError { XCTFail(e) }
        XCTAssertEqual(Self.run.result.status, 0, "vm-systemd failed:\n\(Self.run.result.stderr)\n\(Self.run.result.stdout)")
    }

    private func file(_ name: String) -> String {
        (Self.run.files[name] ?? "<missing \(name)>").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// "key=value" pairs of a results file.
    private func values(_ name: String) -> [String: String] {
        Dictionary(
            file(name).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pair in
                let parts = pair.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { a, _ in a })
    }

    private var context: String { "steps:\n\(file("steps"))\nguest output:\n\(Self.run.result.stdout.suffix(3000))" }

    func testEveryUnitVerifies() {
        XCTAssertEqual(file("install-hybrid.status"), "0", file("install-hybrid.out"))
        XCTAssertEqual(
            file("verify.status"), "aegis 0\naegis-worker 0\naegis-controller 0\naegis-agents 0", file("verify.out"))
    }

    func testTheUnitIsActiveOnlyOnceTheNodeIsReady() {
        let trace = file("start.trace").split(separator: "\n")
        XCTAssertEqual(trace.last, "active yes", "\(trace)\n\(context)")
        XCTAssertTrue(trace.contains("activating no") || trace.contains("activating yes"), "activating was seen: \(trace)")
        XCTAssertFalse(trace.contains("active no"), "active before the API answered: \(trace)")
        XCTAssertTrue(file("start.status-text").hasPrefix("hybrid "), file("start.status-text"))
        XCTAssertTrue(file("start.status-text").contains("serving"), file("start.status-text"))
    }

    func testAnAgentOverItsMemoryLimitIsOOMKilledInTheDelegatedSubtree() throws {
        let detail = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(file("oom.json").utf8)) as? [String: Any], file("oom.json"))
        let workload = try XCTUnwrap(detail["workload"] as? [String: Any])
        XCTAssertEqual(workload["exitCode"] as? Int, 137, "\(workload)")
        XCTAssertEqual(workload["oomKilled"] as? Bool, true, "\(workload)")
        XCTAssertTrue(file("cgroup.before").hasPrefix("/system.slice/aegis-agents.service/agents/"), file("cgroup.before"))
    }

    func testDaemonReloadLeavesTheAgentsCgroupAndLimitsAlone() {
        XCTAssertFalse(file("cgroup.before").isEmpty)
        XCTAssertEqual(file("cgroup.after-reload"), file("cgroup.before"))
        XCTAssertEqual(values("limits.before")["memory.max"], "104857600")
        XCTAssertTrue(values("limits.before")["subtree"]?.contains("memory") ?? false, file("limits.before"))
        XCTAssertEqual(file("limits.after-reload"), file("limits.before"))
    }

    func testRestartAndStopStartKeepTheAgentWhichIsReAdoptedAndLogsOn() {
        XCTAssertEqual(file("restart.status"), "0", file("restart.journal"))
        XCTAssertEqual(file("restart.agent"), "alive")
        XCTAssertEqual(file("restart.pid"), file("long.pid"), "the same agent process")
        XCTAssertTrue(file("restart.describe").contains("running"), file("restart.describe"))
        let lines = file("restart.loglines").split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(lines.count, 2)
        if lines.count == 2 { XCTAssertGreaterThan(lines[1], lines[0], "its log continues") }
        XCTAssertEqual(file("stopped.agent"), "alive", "systemctl stop leaves agents running")
        XCTAssertEqual(file("stopstart.status"), "0")
        XCTAssertEqual(file("stopstart.pid"), file("long.pid"))
    }

    func testAStoppedDaemonIsRestartedByTheWatchdogAndTheAgentSurvives() {
        let v = values("watchdog.values")
        XCTAssertNotEqual(v["new"], v["old"], "\(v)\n\(context)")
        XCTAssertGreaterThan(Int(v["restarts_after"] ?? "0") ?? 0, Int(v["restarts_before"] ?? "0") ?? 0, "\(v)")
        XCTAssertLessThanOrEqual(Int(v["seconds"] ?? "99") ?? 99, 8 + 2 + 15, "WatchdogSec + RestartSec + start-up: \(v)")
        XCTAssertEqual(file("watchdog.agent"), "alive")
        XCTAssertTrue(file("watchdog.journal").lowercased().contains("watchdog timeout"), file("watchdog.journal"))
    }

    func testAegisDownStopsTheAgentsAndTheUnitStaysDown() {
        XCTAssertEqual(file("down.status"), "0", file("down.out"))
        XCTAssertEqual(file("down.agent"), "dead")
        XCTAssertEqual(file("down.state"), "inactive", "RestartPreventExitStatus=0: not restarted")
    }

    func testABrokenConfigEndsInFailedByTheStartLimitAndRecovers() {
        let v = values("broken.values")
        XCTAssertEqual(v["state"], "failed", "\(v)\n\(file("broken.journal"))")
        XCTAssertTrue(file("broken.journal").contains("Start request repeated too quickly"), file("broken.journal"))
        XCTAssertTrue(
            file("broken.journal").contains("listening on 127.0.0.1:7420 (--api-port)")
                && file("broken.journal").contains("Address already in use"),
            "the journal names the cause:\n\(file("broken.journal"))")
        XCTAssertEqual(file("recovered.status"), "0")
        XCTAssertEqual(file("recovered.state"), "active")
    }

    func testAWorkerInstalledJoinsAndUninstallPurgeLeavesNothing() {
        XCTAssertEqual(file("uninstall-hybrid.status"), "0", file("uninstall-hybrid.out"))
        XCTAssertEqual(file("install-worker.status"), "0", file("install-worker.out") + "\n" + context)
        XCTAssertNotNil(file("worker.nodes").firstMatch(of: /vm-worker +worker +Ready/), file("worker.nodes"))
        XCTAssertTrue(file("worker.status-text").hasPrefix("worker vm-worker: joined"), file("worker.status-text"))
        XCTAssertEqual(file("install-worker-again.status"), "0", "idempotent: \(file("install-worker-again.out"))")
        XCTAssertFalse(file("install-worker-again.out").contains("wrote "), "nothing rewritten: \(file("install-worker-again.out"))")
        XCTAssertEqual(file("uninstall-worker.status"), "0", file("uninstall-worker.out"))
        XCTAssertEqual(values("purged.values"), ["units": "0", "processes": "0", "cgroup": "no", "datadir": "no", "binary": "no"])
    }
}
