// Installs compiled programs in a real process (the aegis-probe helper) and checks what the kernel does.
import AegisOCI
import AegisSeccomp
import Foundation
import XCTest

final class SeccompKernelTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-seccomp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    /// The aegis-probe executable built next to this test bundle (same build products directory).
    private func probePath() throws -> String {
        var dir = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent()
        for _ in 0..<4 {
            for candidate in [dir.appendingPathComponent("aegis-probe"), dir.appendingPathComponent("debug/aegis-probe")]
            where FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate.path
            }
            dir = dir.deletingLastPathComponent()
        }
        XCTFail("aegis-probe not found near /proc/self/exe; run `swift build` (or `swift test`) first")
        throw CocoaError(.fileNoSuchFile)
    }

    private func write(_ program: SeccompProgram) throws -> String {
        let file = tempDir.appendingPathComponent("filter-\(UUID().uuidString).bpf")
        try Data(program.bytes).write(to: file)
        return file.path
    }

    /// Runs the probe, returns (stdout, exit status); stderr goes to the test log.
    private func run(_ args: [String]) throws -> (String, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try probePath())
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }

    /// "NAME RESULT" lines as a dictionary.
    private func results(_ args: [String]) throws -> [String: String] {
        let (text, status) = try run(args)
        XCTAssertEqual(status, 0, "probe \(args) exited \(status): \(text)")
        var dict: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.count == 2 { dict[String(parts[0])] = String(parts[1]) }
        }
        return dict
    }

    func testDefaultProfileInTheKernel() throws {
        let file = try write(try SeccompCompiler.compile(DefaultSeccompProfile.profile))
        let r = try results(["--install-filter", file])
        print("under the default profile:", r.sorted { $0.key < $1.key })
        for name in [
            "unshare", "mount", "ptrace", "keyctl", "bpf", "reboot", "init_module", "setns",
            "kexec_load", "open_by_handle_at", "userfaultfd", "perf_event_open", "io_uring_setup",
            "clone_newuser",
        ] {
            XCTAssertEqual(r[name], "EPERM", name)
        }
        XCTAssertEqual(r["nr1000"], "ENOSYS")
        XCTAssertEqual(r["clone3"], "ENOSYS")
        XCTAssertEqual(r["clone"], "ok", "clone without namespace flags is allowed")

        let caps = try results(["--install-filter", file, "--", "caps"])
        XCTAssertEqual(caps["Seccomp:"], "2", "filter mode")
        XCTAssertEqual(caps["NoNewPrivs:"], "1")
    }

    func testWithoutPrefixUnknownSyscallsGetEPERM() throws {
        let file = try write(try SeccompCompiler.compile(DefaultSeccompProfile.profile, enosysForNewSyscalls: false))
        let r = try results(["--install-filter", file])
        XCTAssertEqual(r["nr1000"], "EPERM", "without the prefix the default action applies")
        XCTAssertEqual(r["clone3"], "ENOSYS", "clone3 has an explicit ENOSYS rule")
        XCTAssertEqual(r["ptrace"], "EPERM")
    }

    func testUnfilteredProbeSeesTheKernelDirectly() throws {
        // Control: without a filter, none of these comes back EPERM from seccomp (we are root).
        let r = try results([])
        XCTAssertEqual(r["nr1000"], "ENOSYS")
        XCTAssertNotEqual(r["clone3"], "ENOSYS", "this kernel has clone3")
        XCTAssertEqual(r["clone"], "ok")
        XCTAssertNotEqual(r["bpf"], "EPERM")
    }

    #if arch(x86_64)
    func testCompatABIsAreFiltered() throws {
        let unfiltered = try results(["compat"])
        let file = try write(try SeccompCompiler.compile(DefaultSeccompProfile.profile))
        let r = try results(["--install-filter", file, "--", "compat"])
        print("compat ABIs under the default profile:", r.sorted { $0.key < $1.key })
        // x32 syscalls reach seccomp before the kernel checks whether x32 is enabled.
        XCTAssertEqual(r["x32_ptrace"], "EPERM")
        XCTAssertEqual(r["x32_nr1000"], "ENOSYS")
        XCTAssertEqual(r["x32_getpid"], unfiltered["x32_getpid"], "allowed: the kernel's own answer")
        if unfiltered["i386_getpid"] == "ok" {
            XCTAssertEqual(r["i386_getpid"], "ok")
            XCTAssertEqual(r["i386_ptrace"], "EPERM")
            XCTAssertEqual(r["i386_nr1000"], "ENOSYS")
        } else {
            print("IA32 emulation unavailable (\(unfiltered["i386_getpid"] ?? "?")); i386 checks skipped")
        }
        let noPrefix = try write(try SeccompCompiler.compile(DefaultSeccompProfile.profile, enosysForNewSyscalls: false))
        XCTAssertEqual(try results(["--install-filter", noPrefix, "--", "compat"])["x32_nr1000"], "EPERM")
    }
    #endif

    func testOrdinaryProgramsRunUnderTheDefaultProfile() throws {
        let file = try write(try SeccompCompiler.compile(DefaultSeccompProfile.profile))
        let (sh, shStatus) = try run([
            "--install-filter", file, "--exec", "/bin/sh", "-c", "echo hi; ls / >/dev/null && cat /proc/self/status | grep -c Seccomp",
        ])
        XCTAssertEqual(shStatus, 0)
        XCTAssertEqual(sh, "hi\n2\n")

        // python3's subprocess uses posix_spawn → clone3, which gets ENOSYS, so glibc falls back to clone.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            let script =
                "import subprocess, threading, json; t = threading.Thread(target=lambda: None); t.start(); t.join(); "
                + "print(subprocess.run(['/bin/echo', 'child'], capture_output=True, text=True).stdout.strip(), json.dumps([1]))"
            let (py, status) = try run(["--install-filter", file, "--exec", "/usr/bin/python3", "-c", script])
            XCTAssertEqual(status, 0)
            XCTAssertEqual(py, "child [1]\n")
        }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/node") {
            let script =
                "const cp = require('child_process'); console.log(cp.execFileSync('/bin/echo', ['n']).toString().trim(), require('os').cpus().length > 0)"
            let (node, status) = try run(["--install-filter", file, "--exec", "/usr/bin/node", "-e", script])
            XCTAssertEqual(status, 0)
            XCTAssertEqual(node, "n true\n")
        }
    }

    func testProbeRejectsAGarbageFilter() throws {
        let file = tempDir.appendingPathComponent("bad.bpf")
        try Data([1, 2, 3]).write(to: file)
        let (_, status) = try run(["--install-filter", file.path])
        XCTAssertEqual(status, 125)
    }
}
