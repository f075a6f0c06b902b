// `run`: the runtime's exit status is the container's (128+N for a signal death, as shells and
// runc report it), SIGTERM to `run` reaches the container, and run deletes what it created.
import Foundation
import XCTest
import AegisOCI

final class RunTests: RuntimeTestCase {
    func testExitCodeIsTheContainers() throws {
        let id = newID("run3")
        let bundle = try makeBundle { $0.process?.args = ["sh", "-c", "echo out-\(id); exit 3"] }
        let r = try aegis(["run", "--bundle", bundle, id])
        XCTAssertFalse(r.signaled)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stdout.contains("out-\(id)"), "container stdout not passed through: \(r.stdout)")
        XCTAssertFalse(exists(stateDir(id)), "run left its state dir")
        XCTAssertFalse(exists(leafPath(id)), "run left its cgroup leaf")
    }

    /// A process killed by a signal: 128 + N. PID 1 can't be killed from inside its namespace, so
    /// the process runs under --init.
    func testSignalDeathIs128PlusN() throws {
        for (sig, name) in [(SIGKILL, "KILL"), (SIGTERM, "TERM")] {
            let id = newID("runsig")
            let bundle = try makeBundle("bundle-\(name)") { $0.process?.args = ["sh", "-c", "kill -\(name) $$; sleep 5"] }
            let r = try aegis(["run", "--init", "--bundle", bundle, id])
            XCTAssertFalse(r.signaled)
            XCTAssertEqual(r.status, 128 + sig, "SIG\(name): \(r.stderr)")
            XCTAssertFalse(exists(stateDir(id)))
            XCTAssertFalse(exists(leafPath(id)))
        }
    }

    /// SIGTERM sent to `aegis-runtime run` is forwarded to the container's process.
    func testSIGTERMToRunReachesContainer() throws {
        let id = newID("runterm"), m = newMarker()
        let bundle = try makeBundle {
            $0.process?.args = ["sh", "-c", ": \(m); trap \"echo got-term; exit 7\" TERM; echo ready; while :; do sleep 0.1; done"]
        }
        let run = try launch(["run", "--bundle", bundle, id])
        // Signal only once the trap is installed (PID 1 ignores SIGTERM without a handler).
        let ready = waitUntil(timeout: 10) {
            ((try? String(contentsOfFile: run.stdoutPath, encoding: .utf8)) ?? "").contains("ready")
        }
        XCTAssertTrue(ready, "container never printed ready")
        kill(run.process.processIdentifier, SIGTERM)
        let r = try finish(run, timeout: 10)
        XCTAssertFalse(r.signaled, "run itself died of signal \(r.status)")
        XCTAssertEqual(r.status, 7, r.stderr)
        XCTAssertTrue(r.stdout.contains("got-term"), "trap did not run: \(r.stdout)")
        XCTAssertEqual(processes(containing: m), [])
        XCTAssertFalse(exists(stateDir(id)))
        XCTAssertFalse(exists(leafPath(id)))
    }

    /// `run --detach` returns while the container runs; state/kill/delete find it afterwards.
    func testRunDetach() throws {
        let id = newID("rundet"), m = newMarker()
        let bundle = try makeBundle { $0.process?.args = ["sh", "-c", "trap \"exit 5\" TERM; sleep \(m) & wait"] }
        let r = try aegis(["run", "--detach", "--bundle", bundle, id], timeout: 10)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try status(id), "running")
        XCTAssertTrue(waitUntil(timeout: 5) { self.processes(containing: "sleep \(m)").count == 2 })
        XCTAssertEqual(try aegis(["kill", id]).status, 0)  // default signal: SIGTERM
        XCTAssertTrue(try waitForStatus(id, "stopped"))
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil })
        XCTAssertEqual(outcome(id)?["exitCode"] as? Int, 5)
        XCTAssertEqual(try aegis(["delete", id]).status, 0)
        XCTAssertFalse(exists(leafPath(id)))
    }

    // MARK: - seccomp names libseccomp can't resolve

    /// An unknown syscall name is skipped with a warning; the container runs.
    func testUnknownSyscallNameIsSkippedWithWarning() throws {
        let id = newID("scw")
        let bundle = try makeBundle { spec in
            spec.process?.args = ["sh", "-c", "echo ran-\(id)"]
            spec.linux?.seccomp?.syscalls?.append(LinuxSyscall(names: ["no_such_syscall_xyz"], action: "SCMP_ACT_ALLOW"))
        }
        let r = try aegis(["run", "--bundle", bundle, id])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ran-\(id)"))
        XCTAssertTrue(r.stderr.contains("warning") && r.stderr.contains("no_such_syscall_xyz"), "no warning: \(r.stderr)")
    }

    /// The same with the rule's action equal to the profile's default (SCMP_ACT_ERRNO): the name
    /// is still a spec mistake and deserves the warning.
    func testUnknownSyscallNameWarnsEvenWhenRuleMatchesDefaultAction() throws {
        let id = newID("scwd")
        let bundle = try makeBundle { spec in
            XCTAssertEqual(spec.linux?.seccomp?.defaultAction, "SCMP_ACT_ERRNO")
            spec.process?.args = ["sh", "-c", "echo ran-\(id)"]
            spec.linux?.seccomp?.syscalls?.append(LinuxSyscall(names: ["no_such_syscall_xyz"], action: "SCMP_ACT_ERRNO"))
        }
        let r = try aegis(["run", "--bundle", bundle, id])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ran-\(id)"))
        XCTAssertTrue(r.stderr.contains("no_such_syscall_xyz"), "no warning: \(r.stderr)")
    }

    /// Every create with such a profile warns, also when the compiled filter comes from the
    /// state root's seccomp cache (the second run below).
    func testUnknownSyscallWarningRepeatsWithCachedFilter() throws {
        let bundle = try makeBundle { spec in
            spec.process?.args = ["true"]
            spec.linux?.seccomp?.syscalls?.append(LinuxSyscall(names: ["no_such_syscall_xyz"], action: "SCMP_ACT_ALLOW"))
        }
        for attempt in 1...2 {
            let id = newID("scwc")
            let r = try aegis(["run", "--bundle", bundle, id])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("no_such_syscall_xyz"), "run \(attempt): no warning: \(r.stderr)")
        }
    }
}
