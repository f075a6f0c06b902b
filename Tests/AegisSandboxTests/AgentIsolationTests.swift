// The default agent profile on the real kernel: namespaces, seccomp, capabilities, filesystem view.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class AgentIsolationTests: SandboxTestCase {
    func testDangerousSyscallsAreDeniedInsideTheSandbox() throws {
        let work = try makeWorkDir()
        let probe = try installProbe(in: work)
        let (outcome, out, err) = try runAgent([probe, "attempts"], workDir: work)
        XCTAssertEqual(outcome.exitCode, 0, err)
        let r = parseProbe(out)
        for name in [
            "unshare", "mount", "ptrace", "keyctl", "bpf", "reboot", "init_module", "setns",
            "kexec_load", "open_by_handle_at", "userfaultfd", "perf_event_open", "io_uring_setup", "clone_newuser",
        ] {
            XCTAssertEqual(r[name], "EPERM", "\(name) inside the sandbox: \(r[name] ?? "missing")\n\(out)")
        }
        XCTAssertEqual(r["nr1000"], "ENOSYS", "a syscall newer than the profile knows")
        XCTAssertEqual(r["clone3"], "ENOSYS", "clone3 must fall back to clone")
        XCTAssertEqual(r["clone"], "ok", "plain clone (fork) works")
    }

    func testCompatABIsAreFilteredToo() throws {
        let work = try makeWorkDir()
        let probe = try installProbe(in: work)
        let (_, out, _) = try runAgent([probe, "compat"], workDir: work)
        let r = parseProbe(out)
        XCTAssertEqual(r["x32_ptrace"], "EPERM", out)
        XCTAssertEqual(r["x32_nr1000"], "ENOSYS", out)
        if r["i386_getpid"] == "ok" {  // IA32 emulation present on this kernel
            XCTAssertEqual(r["i386_ptrace"], "EPERM", out)
            XCTAssertEqual(r["i386_nr1000"], "ENOSYS", out)
        }
    }

    func testProcessViewIdentityAndPrivileges() throws {
        let work = try makeWorkDir()
        let probe = try installProbe(in: work)
        let script = """
            echo "pids $(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')"
            echo "hostname $(\(probe) hostname)"
            \(probe) caps
            \(probe) id
            echo "kcore $(cat /proc/kcore 2>/dev/null | wc -c) $(test -e /proc/kcore && echo present || echo absent)"
            echo "netdev $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
            echo "routes $(tail -n +2 /proc/net/route | wc -l)"
            echo "lo $(cat /sys/class/net/lo/operstate 2>/dev/null)"
            """
        let (outcome, out, err) = try runAgent(["/bin/sh", "-c", script], workDir: work)
        XCTAssertEqual(outcome.exitCode, 0, err)
        let lines = Dictionary(
            out.split(separator: "\n").map { l -> (String, String) in
                let p = l.split(separator: l.contains("\t") ? "\t" : " ", maxSplits: 1)
                return (
                    String(p[0]).trimmingCharacters(in: CharacterSet(charactersIn: ":")),
                    p.count > 1 ? String(p[1]).trimmingCharacters(in: .whitespaces) : ""
                )
            }, uniquingKeysWith: { a, _ in a })
        // Only the sandbox's own processes: init (1), sh, and its children (ls/grep at most).
        let pids = (lines["pids"] ?? "").split(separator: " ").compactMap { Int($0) }
        XCTAssertTrue(pids.contains(1), out)
        XCTAssertLessThan(pids.count, 8, "the sandbox sees foreign processes: \(pids)")
        XCTAssertEqual(lines["hostname"], "agent-test")
        XCTAssertEqual(lines["CapEff"], "0000000000000000")
        XCTAssertEqual(lines["CapPrm"], "0000000000000000")
        XCTAssertEqual(lines["CapBnd"], "0000000000000000")
        XCTAssertEqual(lines["CapAmb"], "0000000000000000")
        XCTAssertEqual(lines["NoNewPrivs"], "1")
        XCTAssertEqual(lines["Seccomp"], "2")
        XCTAssertEqual(lines["uid"], "\(Self.agentUID) \(Self.agentUID) \(Self.agentUID)")
        XCTAssertEqual(lines["gid"], "\(Self.agentUID) \(Self.agentUID) \(Self.agentUID)")
        let kcore = (lines["kcore"] ?? "").split(separator: " ")
        XCTAssertEqual(kcore.first, "0", "/proc/kcore must read empty")
        XCTAssertEqual(lines["netdev"], "lo", "only loopback in the sandbox's network namespace")
        XCTAssertEqual(lines["routes"], "0", "no routes")
    }

    func testFilesystemViewHidesHostSecretsAndIsReadOnly() throws {
        let work = try makeWorkDir()
        let script = """
            for p in /root /home /var/lib /run /work/../root; do test -e $p && echo "visible $p"; done
            echo "shadow $(cat /etc/shadow 2>&1 | wc -c)"
            touch /usr/aegis-test 2>/dev/null && echo "usr writable"
            touch /aegis-test 2>/dev/null && echo "root writable"
            echo hi > /work/out.txt && echo "work writable"
            echo hi > /tmp/t && echo "tmp writable"
            echo "cwd $(pwd)"
            test -r /etc/passwd && echo "etc readable"
            """
        let (outcome, out, err) = try runAgent(["/bin/sh", "-c", script], workDir: work)
        XCTAssertEqual(outcome.exitCode, 0, err)
        XCTAssertFalse(out.contains("visible"), out)
        XCTAssertTrue(out.contains("shadow 0"), out)
        XCTAssertFalse(out.contains("usr writable"), out)
        XCTAssertFalse(out.contains("root writable"), out)
        XCTAssertTrue(out.contains("work writable"), out)
        XCTAssertTrue(out.contains("tmp writable"), out)
        XCTAssertTrue(out.contains("cwd /work"), out)
        XCTAssertTrue(out.contains("etc readable"), out)
        XCTAssertEqual(try String(contentsOfFile: work + "/out.txt", encoding: .utf8), "hi\n", "output reaches the host work dir")
    }

    func testLoopbackIsTheSandboxesOwn() throws {
        // A listener on the host's loopback must not be reachable from a default agent.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(listener, $0, len) } }
        listen(listener, 1)
        withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        let py =
            "import socket\ns=socket.socket()\ntry:\n s.connect(('127.0.0.1',\(port)));print('connected')\nexcept OSError as e:\n print('refused',e.errno)"
        let (outcome, out, err) = try runAgent(["python3", "-c", py])
        XCTAssertEqual(outcome.exitCode, 0, err)
        XCTAssertTrue(out.hasPrefix("refused 111"), "host loopback reachable from the sandbox: \(out)")
    }
}
