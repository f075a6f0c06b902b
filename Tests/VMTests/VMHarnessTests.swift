// Tests of the throwaway-VM harness (Tests/VM/vm-run): it must boot Debian's own 6.1 kernel with
// a full cgroup v2 hierarchy, carry a command's output, files and exit status back, and kill a
// hung guest without leaving qemu behind.
//
// Cost: two VM boots for the whole class, started together and shared by every test method
// (about 30–40 s under TCG). Skipped unless the kernel cache exists (Tests/VM/install-deps.sh ran)
// or AEGIS_VM_TESTS=1 (CI sets it, so a missing install step fails instead of skipping).
import Foundation
import XCTest

/// What one `vm-run` invocation produced on the host.
struct VMRunResult: Sendable {
    /// vm-run's exit status (the guest command's status, or 125 for a harness failure).
    var status: Int32
    var stdout: String
    var stderr: String
    /// Wall-clock seconds from launching vm-run until it exited.
    var seconds: Double
    /// Contents of every regular file the guest left in its /results folder, by file name.
    var resultFiles: [String: String]
}

/// The two boots the class needs, launched concurrently so the class costs one timeout, not two.
struct VMBoots: Sendable {
    /// Skips unless this machine can boot the VM: root and the kernel cache (Tests/VM/install-deps.sh),
    /// or AEGIS_VM_TESTS=1 to run regardless.
    static func requireVM() throws {
        let cache = ProcessInfo.processInfo.environment["AEGIS_VM_CACHE"] ?? "/var/cache/aegis-vm"
        let forced = ProcessInfo.processInfo.environment["AEGIS_VM_TESTS"] == "1"
        let cached = FileManager.default.fileExists(atPath: cache + "/kernel/current/.complete")
        if !forced && !(cached && geteuid() == 0) {
            throw XCTSkip("VM tests need root and the kernel cache (run Tests/VM/install-deps.sh) or AEGIS_VM_TESTS=1")
        }
    }

    /// Guest script: reports kernel, cgroup and mount facts, writes /results files, exits `expectedStatus`.
    var main: VMRunResult
    /// Guest runs `sleep 1000` with no guest-side timeout; the host must kill it after `hangTimeout` s.
    var hung: VMRunResult
    /// Random per run so the exit-status check cannot pass by accident.
    var expectedStatus: Int32
    /// Random per run; written by the guest into /results/payload.txt.
    var payload: String
    /// qemu `-name` of the hung VM; no process may mention it afterwards.
    var hungName: String
    var hangTimeout: Int

    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var vmRun: URL { repoRoot.appendingPathComponent("Tests/VM/vm-run") }

    static let guestScript = """
        #!/bin/sh
        # Runs inside the VM (chroot view of the host root). Facts go to stdout, files to /results.
        echo "uname=$(uname -r)"
        echo "shell=$(readlink /proc/$$/exe)"
        echo "procversion=$(cat /proc/version)"
        echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
        echo "subtree=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
        # A child cgroup with real limits: only a full cgroup v2 kernel accepts these writes.
        mkdir /sys/fs/cgroup/vmtest
        echo 52428800 > /sys/fs/cgroup/vmtest/memory.max && echo "memory.max=$(cat /sys/fs/cgroup/vmtest/memory.max)"
        echo 17 > /sys/fs/cgroup/vmtest/pids.max && echo "pids.max=$(cat /sys/fs/cgroup/vmtest/pids.max)"
        echo "50000 100000" > /sys/fs/cgroup/vmtest/cpu.max && echo "cpu.max=$(cat /sys/fs/cgroup/vmtest/cpu.max)"
        rmdir /sys/fs/cgroup/vmtest
        echo "--- mounts"
        cat /proc/self/mounts
        echo "--- end mounts"
        printf '%s\\n' "$AEGIS_TEST_PAYLOAD" > /results/payload.txt
        exit "$AEGIS_TEST_STATUS"
        """

    static func launch() -> VMBoots {
        let expected = Int32.random(in: 3...99)
        let payload = "payload-\(UUID().uuidString)"
        let hungName = "aegis-vmtest-hang-\(UUID().uuidString.prefix(8).lowercased())"
        let hangTimeout = 30
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("aegis-vmtests-\(UUID().uuidString)")
        let results = work.appendingPathComponent("results")
        let script = work.appendingPathComponent("guest-check.sh")
        defer { try? fm.removeItem(at: work) }
        do {
            try fm.createDirectory(at: results, withIntermediateDirectories: true)
            try guestScript.write(to: script, atomically: true, encoding: .utf8)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        } catch {
            let failed = VMRunResult(
                status: -1, stdout: "", stderr: "test setup in \(work.path) failed: \(error)",
                seconds: 0, resultFiles: [:])
            return VMBoots(
                main: failed, hung: failed, expectedStatus: expected, payload: payload,
                hungName: hungName, hangTimeout: hangTimeout)
        }
        let hung = VMLaunch(
            work: work, tag: "hung",
            arguments: [
                "--quiet", "--name", hungName, "--timeout", String(hangTimeout), "--guest-timeout", "0",
                "--", "sleep", "1000",
            ])
        let main = VMLaunch(
            work: work, tag: "main",
            arguments: [
                "--quiet", "--timeout", "240", "--results", results.path,
                "--copy", "\(script.path):/tmp/guest-check.sh",
                "--env", "AEGIS_TEST_STATUS=\(expected)", "--env", "AEGIS_TEST_PAYLOAD=\(payload)",
                "--", "/tmp/guest-check.sh",
            ])
        var mainResult = main.finish()
        let hungResult = hung.finish()
        for name in (try? fm.contentsOfDirectory(atPath: results.path)) ?? [] {
            mainResult.resultFiles[name] = try? String(contentsOf: results.appendingPathComponent(name), encoding: .utf8)
        }
        return VMBoots(
            main: mainResult, hung: hungResult, expectedStatus: expected, payload: payload,
            hungName: hungName, hangTimeout: hangTimeout)
    }
}

/// One running vm-run process whose stdout/stderr go to files under `work`.
final class VMLaunch {
    let process = Process()
    let out: URL, err: URL
    let start = Date()
    var launchError: String?

    init(work: URL, tag: String, arguments: [String]) {
        out = work.appendingPathComponent("\(tag).stdout")
        err = work.appendingPathComponent("\(tag).stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.executableURL = VMBoots.vmRun
        process.arguments = arguments
        do {
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } catch {
            launchError = "launching \(VMBoots.vmRun.path) failed: \(error)"
        }
    }

    func finish() -> VMRunResult {
        if let launchError { return VMRunResult(status: -1, stdout: "", stderr: launchError, seconds: 0, resultFiles: [:]) }
        process.waitUntilExit()
        let read = { (u: URL) in (try? String(contentsOf: u, encoding: .utf8)) ?? "" }
        return VMRunResult(
            status: process.terminationStatus, stdout: read(out), stderr: read(err),
            seconds: Date().timeIntervalSince(start), resultFiles: [:])
    }
}

struct MissingFact: Error, CustomStringConvertible {
    var key: String
    var description: String { "the guest printed no \(key)= line" }
}

final class VMHarnessTests: XCTestCase {
    /// Booted on first use by any test method, shared by all of them (Swift static lets are lazy
    /// and initialised exactly once, thread-safely).
    private static let boots = VMBoots.launch()

    override func setUpWithError() throws {
        try VMBoots.requireVM()
    }

    private var main: VMRunResult { Self.boots.main }

    /// Value of the first `key=value` line of the guest's stdout.
    private func fact(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let prefix = key + "="
        guard let l = main.stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            XCTFail(
                "guest printed no \(key)= line; status \(main.status)\nstdout:\n\(main.stdout)\nstderr:\n\(main.stderr)",
                file: file, line: line)
            throw MissingFact(key: key)
        }
        return String(l.dropFirst(prefix.count))
    }

    func testGuestRunsDebian61Kernel() throws {
        let release = try fact("uname")
        XCTAssertNotNil(
            release.range(of: #"^6\.1\.[0-9]+-[0-9]+-amd64$"#, options: .regularExpression),
            "guest kernel release \(release) is not Debian's 6.1 amd64 flavour")
        let version = try fact("procversion")
        XCTAssertTrue(version.contains("Debian"), "/proc/version does not name Debian: \(version)")
        var host = utsname()
        uname(&host)
        let hostRelease = withUnsafeBytes(of: &host.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        XCTAssertNotEqual(release, hostRelease, "guest reports the host's kernel: the command did not run in the VM")
        // The command must run on the host's userland (its /bin/sh), not the initramfs's busybox.
        let hostShell = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        XCTAssertEqual(try fact("shell"), hostShell)
    }

    func testCgroup2HasAllControllersAndAcceptsLimits() throws {
        let controllers = Set(try fact("controllers").split(separator: " ").map(String.init))
        for c in ["memory", "cpu", "pids", "io", "cpuset"] {
            XCTAssertTrue(controllers.contains(c), "cgroup.controllers lacks \(c): \(controllers.sorted())")
        }
        let subtree = Set(try fact("subtree").split(separator: " ").map(String.init))
        XCTAssertTrue(subtree.isSuperset(of: ["memory", "cpu", "pids"]), "root subtree_control: \(subtree.sorted())")
        XCTAssertEqual(try fact("memory.max"), "52428800")
        XCTAssertEqual(try fact("pids.max"), "17")
        XCTAssertEqual(try fact("cpu.max"), "50000 100000")
    }

    func testGuestMountLayout() throws {
        let text = main.stdout
        guard let s = text.range(of: "--- mounts\n"), let e = text.range(of: "--- end mounts") else {
            return XCTFail("no mount table in guest output; stderr:\n\(main.stderr)")
        }
        var fsAt: [String: String] = [:]
        for line in text[s.upperBound..<e.lowerBound].split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 3 { fsAt[String(f[1])] = String(f[2]) }
        }
        XCTAssertEqual(fsAt["/"], "overlay")
        XCTAssertEqual(fsAt["/sys/fs/cgroup"], "cgroup2")
        XCTAssertEqual(fsAt["/proc"], "proc")
        XCTAssertEqual(fsAt["/results"], "9p")
        XCTAssertNotNil(fsAt["/tmp"], "/tmp is not a separate mount")
        XCTAssertNil(fsAt["/work"], "a host submount leaked into the guest view")
    }

    func testResultsFileAndCopiedScriptRoundTrip() {
        XCTAssertEqual(
            main.resultFiles["payload.txt"], Self.boots.payload + "\n",
            "payload.txt missing or wrong; files: \(main.resultFiles.keys.sorted()); stderr:\n\(main.stderr)")
    }

    func testExitStatusPropagates() {
        XCTAssertEqual(
            main.status, Self.boots.expectedStatus,
            "vm-run exit status; stderr:\n\(main.stderr)")
        XCTAssertLessThan(main.seconds, 120, "one boot took \(main.seconds) s")
    }

    func testHungGuestIsKilledWithStatus125AndNothingLeftRunning() throws {
        let b = Self.boots
        XCTAssertEqual(b.hung.status, 125, "hung guest: stderr:\n\(b.hung.stderr)")
        XCTAssertTrue(b.hung.stderr.contains("killed qemu process group"), "stderr:\n\(b.hung.stderr)")
        XCTAssertTrue(b.hung.stderr.contains("aegis-init: kernel"), "console tail missing from stderr:\n\(b.hung.stderr)")
        XCTAssertGreaterThanOrEqual(b.hung.seconds, Double(b.hangTimeout) - 0.5)
        XCTAssertLessThan(b.hung.seconds, Double(b.hangTimeout) + 30)
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", b.hungName]
        pgrep.standardOutput = FileHandle.nullDevice
        try pgrep.run()
        pgrep.waitUntilExit()
        XCTAssertEqual(pgrep.terminationStatus, 1, "a process mentioning \(b.hungName) is still running")
    }
}
