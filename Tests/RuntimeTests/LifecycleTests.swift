// The OCI lifecycle through the CLI (runtime.md § Lifecycle, § Operations): create → start →
// kill → stopped → delete, with the state, the exec FIFO, the cgroup leaf and outcome.json checked
// at each step; orphans without a pid namespace; a starter that dies.
import Foundation
import XCTest
import AegisOCI

final class LifecycleTests: RuntimeTestCase {
    func testCreateStartKillDelete() throws {
        let id = newID("lc"), m = newMarker()
        let bundle = try makeBundle { spec in
            // PID 1 ignores signals it has no handler for: the trap makes SIGTERM end it with 42.
            spec.process?.args = ["sh", "-c", "trap \"exit 42\" TERM; echo hello-\(m); sleep \(m) & wait"]
            spec.annotations = ["org.aegis.test": "lifecycle-\(m)"]
        }
        let pidFile = tempDir + "/pid"

        // create: its stdout is a pipe nobody reads and the container keeps open; create must not
        // wait for it.
        let pipe = Pipe()
        defer { try? pipe.fileHandleForReading.close() }
        let launched = try launch(["create", "--bundle", bundle, "--pid-file", pidFile, id], stdout: pipe)
        let created = try finish(launched, timeout: 10)
        XCTAssertEqual(created.status, 0, "create: \(created.stderr)")
        XCTAssertLessThan(created.seconds, 1.0, "create waited for its stdout pipe (or took too long)")

        var st = try state(id)
        XCTAssertEqual(Set(st.keys), ["ociVersion", "id", "status", "pid", "bundle", "annotations"])
        XCTAssertEqual(st["id"] as? String, id)
        XCTAssertEqual(st["status"] as? String, "created")
        XCTAssertEqual(st["bundle"] as? String, bundle)
        XCTAssertEqual(st["ociVersion"] as? String, try Spec.load(bundle: bundle).ociVersion)
        XCTAssertEqual(st["annotations"] as? [String: String], ["org.aegis.test": "lifecycle-\(m)"])
        let pid = try XCTUnwrap(st["pid"] as? Int).asPid
        XCTAssertGreaterThan(pid, 0)
        XCTAssertTrue(pidAlive(pid), "created container process \(pid) is not alive")
        XCTAssertEqual(cgroupOf(pid), relativeLeaf(id), "/proc/\(pid)/cgroup does not name the leaf")
        XCTAssertTrue(exists(leafPath(id)))
        XCTAssertTrue(exists(stateDir(id) + "/exec.fifo"), "no exec.fifo between create and start")
        XCTAssertEqual(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "\(pid)")
        XCTAssertEqual(processes(containing: "sleep \(m)"), [], "the process ran before start")

        // start
        let started = try aegis(["start", id])
        XCTAssertEqual(started.status, 0, "start: \(started.stderr)")
        st = try state(id)
        XCTAssertEqual(st["status"] as? String, "running")
        XCTAssertEqual((st["pid"] as? Int)?.asPid, pid)
        XCTAssertFalse(exists(stateDir(id) + "/exec.fifo"), "exec.fifo still there after start")
        // PID 1 (sh, whose command line holds the marker too) and its child sleep.
        XCTAssertTrue(waitUntil(timeout: 5) { self.processes(containing: "sleep \(m)").count == 2 }, "sleep \(m) not running")
        XCTAssertTrue(processes(containing: "sleep \(m)").contains(pid))
        for p in processes(containing: "sleep \(m)") {
            XCTAssertEqual(cgroupOf(p), relativeLeaf(id), "process \(p) outside the leaf")
        }
        XCTAssertNil(outcome(id), "outcome.json before the container ended")

        // kill SIGTERM → the trap exits 42
        let killed = try aegis(["kill", id, "SIGTERM"])
        XCTAssertEqual(killed.status, 0, "kill: \(killed.stderr)")
        XCTAssertTrue(try waitForStatus(id, "stopped"), "not stopped after SIGTERM")
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil }, "no outcome.json")
        let o = try XCTUnwrap(outcome(id))
        XCTAssertEqual(o["exitCode"] as? Int, 42)
        XCTAssertEqual(o["signal"] as? Int, 0)
        XCTAssertEqual(processes(containing: "sleep \(m)"), [], "the pid namespace's other process outlived PID 1")
        // The pipe create was given was the container's stdout (so the timing above meant something).
        let fd = pipe.fileHandleForReading.fileDescriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buf, buf.count)
        XCTAssertTrue(
            n > 0 && String(decoding: buf[0..<n], as: UTF8.self).contains("hello-\(m)"), "container stdout did not reach the pipe")

        // kill on a stopped container fails, naming it.
        let again = try aegis(["kill", id, "SIGTERM"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains(id), again.stderr)

        // delete
        let deleted = try aegis(["delete", id])
        XCTAssertEqual(deleted.status, 0, "delete: \(deleted.stderr)")
        XCTAssertFalse(exists(stateDir(id)), "state dir still there")
        XCTAssertFalse(exists(leafPath(id)), "cgroup leaf still there")
        let gone = try aegis(["state", id])
        XCTAssertNotEqual(gone.status, 0)
        XCTAssertTrue(gone.stderr.contains("does not exist"), gone.stderr)
    }

    /// With --init the runtime's init is PID 1 and forwards SIGTERM to the process, whose signal
    /// death is recorded as 128+15.
    func testInitForwardsKillAndRecordsSignal() throws {
        let id = newID("lci"), m = newMarker()
        let bundle = try makeBundle { $0.process?.args = ["sleep", m] }
        let created = try aegis(["create", "--init", "--bundle", bundle, id])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(try aegis(["start", id]).status, 0)
        XCTAssertTrue(waitUntil(timeout: 5) { !self.processes(containing: "sleep \(m)").isEmpty })
        let initPid = try XCTUnwrap(state(id)["pid"] as? Int).asPid
        XCTAssertFalse(processes(containing: "sleep \(m)").contains(initPid), "the process is PID 1 despite --init")
        XCTAssertEqual(try aegis(["kill", id, "TERM"]).status, 0)
        XCTAssertTrue(try waitForStatus(id, "stopped"))
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil })
        XCTAssertEqual(outcome(id)?["exitCode"] as? Int, 128 + Int(SIGTERM))
        XCTAssertEqual(outcome(id)?["signal"] as? Int, Int(SIGTERM))
        XCTAssertEqual(try aegis(["delete", id]).status, 0)
        XCTAssertFalse(exists(leafPath(id)))
    }

    /// Without its own pid namespace the container's orphans are not killed by PID 1's exit; delete
    /// must kill them (cgroup.kill) and remove the leaf.
    func testDeleteKillsOrphansWithoutPidNamespace() throws {
        let id = newID("orph"), m = newMarker()
        let bundle = try makeBundle { spec in
            spec.linux?.namespaces?.removeAll { $0.type == "pid" }
            spec.process?.args = ["sh", "-c", "sleep \(m) & exit 0"]
        }
        XCTAssertEqual(try aegis(["create", "--bundle", bundle, id]).status, 0)
        XCTAssertEqual(try aegis(["start", id]).status, 0)
        XCTAssertTrue(try waitForStatus(id, "stopped"))
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil })
        XCTAssertEqual(outcome(id)?["exitCode"] as? Int, 0)
        let orphans = processes(containing: "sleep \(m)")
        XCTAssertEqual(orphans.count, 1, "the orphan should still run before delete")
        for o in orphans { XCTAssertEqual(cgroupOf(o), relativeLeaf(id)) }

        let deleted = try aegis(["delete", id])
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        XCTAssertEqual(processes(containing: "sleep \(m)"), [], "orphan survived delete")
        XCTAssertFalse(exists(leafPath(id)), "cgroup leaf survived delete")
        XCTAssertFalse(exists(stateDir(id)))
    }

    /// `run` deletes the container when its process ends, orphans included.
    func testRunCleansUpOrphansWithoutPidNamespace() throws {
        let id = newID("orphr"), m = newMarker()
        let bundle = try makeBundle { spec in
            spec.linux?.namespaces?.removeAll { $0.type == "pid" }
            spec.process?.args = ["sh", "-c", "sleep \(m) & exit 0"]
        }
        let r = try aegis(["run", "--bundle", bundle, id])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(processes(containing: "sleep \(m)"), [], "orphan survived run")
        XCTAssertFalse(exists(leafPath(id)))
        XCTAssertFalse(exists(stateDir(id)))
    }

    /// The container doesn't depend on the process that started it: `run` killed with SIGKILL
    /// leaves it running, its supervisor still records the outcome, and delete cleans up.
    func testContainerSurvivesKilledStarter() throws {
        let id = newID("orphst"), m = newMarker()
        let bundle = try makeBundle { $0.process?.args = ["sh", "-c", ": \(m); sleep 2; exit 0"] }
        let pidFile = tempDir + "/run.pid"
        let run = try launch(["run", "--bundle", bundle, "--pid-file", pidFile, id])
        XCTAssertTrue(waitUntil(timeout: 10) { self.exists(pidFile) }, "run never wrote its pid file")
        let pidText = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try XCTUnwrap(Int32(pidText))
        kill(run.process.processIdentifier, SIGKILL)
        let r = try finish(run, timeout: 5)
        XCTAssertTrue(r.signaled && r.status == SIGKILL, "run was not killed by SIGKILL: \(r)")

        let st = try state(id)
        XCTAssertEqual(st["status"] as? String, "running")
        XCTAssertEqual((st["pid"] as? Int)?.asPid, pid)
        XCTAssertTrue(pidAlive(pid), "container process died with its starter")
        XCTAssertTrue(try waitForStatus(id, "stopped", timeout: 15), "container never stopped")
        XCTAssertTrue(waitUntil(timeout: 5) { self.outcome(id) != nil }, "no outcome.json after the starter died")
        XCTAssertEqual(outcome(id)?["exitCode"] as? Int, 0)
        XCTAssertEqual(outcome(id)?["signal"] as? Int, 0)

        let deleted = try aegis(["delete", id])
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        XCTAssertFalse(exists(stateDir(id)))
        XCTAssertFalse(exists(leafPath(id)))
        XCTAssertEqual(processes(containing: m), [])
    }
}

extension Int {
    var asPid: Int32 { Int32(clamping: self) }
}
