// Self-fencing: a sandbox's supervisor kills its cgroup once the lease file's mtime is older than
// the grace (or the file is gone), without any help from the process that created the sandbox.
// Real sandboxes (`sleep 60` under the agent profile), real cgroups, real lease files.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxFencingTests: SandboxTestCase {
    // MARK: helpers

    static func realtimeNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Creates (or refreshes) a lease file; returns its path.
    @discardableResult
    func touchLease(_ path: String) -> String {
        if utimensat(AT_FDCWD, path, nil, 0) != 0 {
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            XCTAssertGreaterThanOrEqual(fd, 0, "create lease \(path): errno \(errno)")
            close(fd)
        }
        return path
    }

    func mtimeNs(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SandboxError.system("stat", path) }
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// Starts `sleep 60` as an agent (with init), optionally under a lease.
    func startSleeper(
        _ id: String, on rt: SandboxRuntime? = nil, lease: String?, graceMs: Int = 1500,
        deferStart: Bool = false, track: Bool = true
    ) throws -> SandboxRecord {
        let rt = rt ?? runtime!
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(
            args: ["sleep", "60"], workDir: try makeWorkDir(), uid: Self.agentUID,
            gid: Self.agentUID, hostname: "fence-test")
        if track { createdIDs.append(id) }
        return try rt.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(
                stdio: .logFiles, useInit: true, deferStart: deferStart,
                leaseFile: lease, leaseGraceMs: graceMs))
    }

    func populated(_ record: SandboxRecord) throws -> Bool {
        let path = try XCTUnwrap(record.cgroupPath) + "/cgroup.events"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.contains("populated 1")
    }

    /// Polls cgroup.events every 2 ms until `populated 0`; returns that moment (CLOCK_REALTIME ns),
    /// or nil when `limitNs` passes first.
    func waitUntilEmpty(_ record: SandboxRecord, limitNs: Int64) throws -> Int64? {
        while Self.realtimeNs() < limitNs {
            if try !populated(record) { return Self.realtimeNs() }
            usleep(2000)
        }
        return nil
    }

    /// The supervisor's executable and command line (to tell the exec'ed one from the forked copy).
    func supervisorImage(_ record: SandboxRecord) -> (exe: String, cmdline: [String]) {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(record.supervisorPid)/exe")) ?? ""
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(record.supervisorPid)/cmdline"))) ?? Data()
        return (exe, raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
    }

    /// Waits up to 10 s for the supervisor to have exec'ed aegis-supervisor (and its cmdline to be readable).
    func waitForExecedSupervisor(_ record: SandboxRecord) -> (exe: String, cmdline: [String]) {
        var image = supervisorImage(record)
        // Up to 10 s: the exec follows the 50 ms fast path, but a loaded machine (a build on both
        // cores) delayed it past 2 s once; the cmdline is read only after the exe says it happened.
        for _ in 0..<1000 where !image.exe.hasSuffix("/aegis-supervisor") || image.cmdline.isEmpty {
            usleep(10_000)
            image = supervisorImage(record)
        }
        return image
    }

    /// Stops refreshing (the caller already did) and checks that the fence fires after the
    /// deadline (last mtime + grace) and within `slackMs`; returns deadline → empty in ms.
    @discardableResult
    func expectFenced(
        _ record: SandboxRecord, on rt: SandboxRuntime? = nil, lease: String, graceMs: Int,
        slackMs: Int64 = 1500, file: StaticString = #filePath, line: UInt = #line
    ) throws -> Double {
        let rt = rt ?? runtime!
        let deadline = try mtimeNs(lease) + Int64(graceMs) * 1_000_000
        let empty = try waitUntilEmpty(record, limitNs: deadline + (slackMs + 3000) * 1_000_000)
        let emptyAt = try XCTUnwrap(
            empty, "sandbox \(record.id) still populated \(slackMs + 3000) ms after the deadline", file: file, line: line)
        let latencyMs = Double(emptyAt - deadline) / 1e6
        XCTAssertGreaterThanOrEqual(latencyMs, 0, "fenced before the lease lapsed", file: file, line: line)
        XCTAssertLessThanOrEqual(latencyMs, Double(slackMs), "fence later than grace + \(slackMs) ms", file: file, line: line)
        let outcome = try XCTUnwrap(try rt.wait(record.id, timeout: .seconds(5)), "no outcome", file: file, line: line)
        XCTAssertEqual(outcome.fenced, true, "outcome: \(outcome)", file: file, line: line)
        XCTAssertEqual(outcome.signal, SIGKILL, file: file, line: line)
        XCTAssertEqual(outcome.exitCode, 128 + SIGKILL, file: file, line: line)
        XCTAssertNil(outcome.fenceError, "cgroup.kill failed: \(String(describing: outcome.fenceError))", file: file, line: line)
        let procs = try String(contentsOfFile: try XCTUnwrap(record.cgroupPath) + "/cgroup.procs", encoding: .utf8)
        XCTAssertEqual(procs, "", "processes left in the cgroup", file: file, line: line)
        return latencyMs
    }

    // MARK: tests

    func testFreshLeaseKeepsRunningAndLapsedLeaseFencesWithExecedSupervisor() throws {
        let lease = touchLease(tempDir + "/lease")
        let fenced = try startSleeper("fence-exec-\(getpid())", lease: lease)
        let free = try startSleeper("nolease-\(getpid())", lease: nil)
        // sleep 60 outlives the exec delay: the supervisor is now aegis-supervisor, lease in argv.
        XCTAssertNotNil(runtime.supervisorPath, "aegis-supervisor not found next to the test bundle")
        let image = waitForExecedSupervisor(fenced)
        XCTAssertTrue(image.exe.hasSuffix("/aegis-supervisor"), image.exe)
        // argv: … LEASE_GRACE_MS LEASE_FILE at 7 and 8 of 13 (aegis-supervisor/main.c)
        let leaseArgs = { (argv: [String]) in argv.count == 13 ? Array(argv[7...8]) : argv }
        XCTAssertEqual(leaseArgs(image.cmdline), ["1500", lease], "\(image.cmdline)")
        XCTAssertEqual(leaseArgs(waitForExecedSupervisor(free).cmdline), ["0", "-"], "no lease arguments without a lease")
        XCTAssertEqual(try runtime.record(fenced.id).leaseFile, lease)

        // Refreshed every 200 ms for 3 s (twice the grace): it keeps running.
        let until = Self.realtimeNs() + 3_000_000_000
        while Self.realtimeNs() < until {
            touchLease(lease)
            usleep(200_000)
        }
        touchLease(lease)
        XCTAssertEqual(try runtime.state(fenced.id).status, .running)
        XCTAssertTrue(try populated(fenced))

        // No more refreshes: fenced within grace + 1.5 s, by the supervisor alone.
        try expectFenced(fenced, lease: lease, graceMs: 1500)
        let outcome = try XCTUnwrap(runtime.outcome(fenced.id))
        let age = try XCTUnwrap(outcome.leaseAgeMs)
        XCTAssertGreaterThanOrEqual(age, 1500, "age is truncated to whole ms: > grace means >= grace here")
        XCTAssertLessThan(age, 3000)

        // The sandbox without a lease is unaffected, and its outcome says nothing about fencing.
        XCTAssertEqual(try runtime.state(free.id).status, .running)
        XCTAssertTrue(try populated(free))
        try runtime.kill(free.id, signal: SIGKILL)
        let freeOutcome = try XCTUnwrap(try runtime.wait(free.id, timeout: .seconds(10)))
        XCTAssertNil(freeOutcome.fenced)
        XCTAssertNil(freeOutcome.leaseAgeMs)
    }

    func testDeletedLeaseFileFences() throws {
        let lease = touchLease(tempDir + "/lease-deleted")
        let record = try startSleeper("fence-deleted-\(getpid())", lease: lease, graceMs: 30_000)
        XCTAssertTrue(waitForExecedSupervisor(record).exe.hasSuffix("/aegis-supervisor"))
        usleep(300_000)
        XCTAssertEqual(try runtime.state(record.id).status, .running)
        let removedAt = Self.realtimeNs()
        XCTAssertEqual(unlink(lease), 0)
        // A missing lease is lapsed at once: the next check (≤ 1 s) fences, long before the grace.
        let emptyAt = try XCTUnwrap(
            try waitUntilEmpty(record, limitNs: removedAt + 3_000_000_000), "not fenced after the lease was deleted")
        XCTAssertLessThanOrEqual(Double(emptyAt - removedAt) / 1e6, 1500)
        let outcome = try XCTUnwrap(try runtime.wait(record.id, timeout: .seconds(5)))
        XCTAssertEqual(outcome.fenced, true)
        XCTAssertEqual(outcome.leaseErrno, ENOENT)
        XCTAssertNil(outcome.leaseAgeMs)
        XCTAssertEqual(try String(contentsOfFile: try XCTUnwrap(record.cgroupPath) + "/cgroup.procs", encoding: .utf8), "")
    }

    func testForkedSupervisorFencesToo() throws {
        // No aegis-supervisor executable: the forked copy of this process supervises throughout.
        let forked = try SandboxRuntime(stateRoot: tempDir + "/state-forked", cgroupParent: cgroupParent, supervisorPath: nil)
        let id = "fence-forked-\(getpid())"
        defer { try? forked.delete(id, force: true) }
        let lease = touchLease(tempDir + "/lease-forked")
        let record = try startSleeper(id, on: forked, lease: lease, track: false)
        usleep(200_000)
        let image = supervisorImage(record)
        XCTAssertFalse(image.exe.hasSuffix("/aegis-supervisor"), image.exe)
        XCTAssertFalse(image.exe.isEmpty, "supervisor gone before the lease lapsed")
        try expectFenced(record, on: forked, lease: lease, graceMs: 1500)
    }

    func testShortJobUnderAFreshLeaseEndsNormally() throws {
        let lease = touchLease(tempDir + "/lease-short")
        let outcome = try runAgentWithLease(["/bin/sh", "-c", "exit 3"], lease: lease)
        XCTAssertEqual(outcome.exitCode, 3)
        XCTAssertEqual(outcome.fenced, false, "a lease was given: the outcome says it did not fence")
        XCTAssertNil(outcome.leaseAgeMs)
    }

    func testPausedOrKilledRefresherProcessLetsSandboxesFence() throws {
        // The lease is kept by another process (as the daemon would): SIGSTOP one, SIGKILL the other.
        var records: [SandboxRecord] = [], leases: [String] = [], refreshers: [Foundation.Process] = []
        defer {
            for p in refreshers where p.isRunning {
                kill(p.processIdentifier, SIGKILL); kill(p.processIdentifier, SIGCONT); p.waitUntilExit()
            }
        }
        for name in ["stopped", "killed"] {
            let lease = touchLease(tempDir + "/lease-\(name)")
            let p = Foundation.Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "while touch \"$0\"; do sleep 0.2; done", lease]
            try p.run()
            refreshers.append(p)
            leases.append(lease)
            records.append(try startSleeper("fence-\(name)-\(getpid())", lease: lease))
        }
        usleep(2_500_000)  // longer than the grace: the refreshers keep them alive
        for r in records { XCTAssertEqual(try runtime.state(r.id).status, .running, r.id) }
        kill(refreshers[0].processIdentifier, SIGSTOP)
        kill(refreshers[1].processIdentifier, SIGKILL)
        usleep(300_000)  // a `touch` child already running may still land
        for (r, lease) in zip(records, leases) { try expectFenced(r, lease: lease, graceMs: 1500) }
    }

    func testCreatedButNotStartedSandboxFencesToo() throws {
        // deferStart: the supervisor also relays the start-up channel while watching the lease.
        let lease = touchLease(tempDir + "/lease-created")
        let record = try startSleeper("fence-created-\(getpid())", lease: lease, graceMs: 1000, deferStart: true)
        XCTAssertEqual(try runtime.state(record.id).status, .created)
        try expectFenced(record, lease: lease, graceMs: 1000)
    }

    func testCreateRefusesAMissingLapsedOrRelativeLease() throws {
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["true"], workDir: try makeWorkDir(), uid: Self.agentUID,
                gid: Self.agentUID), rootfs: rootfs)
        let stale = touchLease(tempDir + "/lease-stale")
        var times = [timespec(tv_sec: time(nil) - 10, tv_nsec: 0), timespec(tv_sec: time(nil) - 10, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, stale, &times, 0), 0)
        let cases: [(String, Int, SandboxError.Kind, String)] = [
            (tempDir + "/no-such-lease", 1500, .system, "ENOENT"),
            (stale, 1500, .wrongState, "lapsed"),
            ("relative/lease", 1500, .invalidSpec, "absolute"),
            (stale, 0, .invalidSpec, "leaseGraceMs"),
        ]
        for (i, (path, grace, kind, text)) in cases.enumerated() {
            let id = "refused-\(i)-\(getpid())"
            XCTAssertThrowsError(
                try runtime.create(
                    id: id, spec: spec, bundle: tempDir,
                    options: SandboxCreateOptions(
                        stdio: .logFiles, useInit: true,
                        leaseFile: path, leaseGraceMs: grace))
            ) { e in
                let err = e as? SandboxError
                XCTAssertEqual(err?.kind, kind, "\(e)")
                XCTAssertTrue("\(e)".contains(text), "\(e)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.stateDirectory(id)), "state dir left behind")
        }
    }

    /// Fence latency: deadline (last mtime + grace) → cgroup empty, over 10 sandboxes one after
    /// another (grace 500 ms). Prints the distribution; the bound is the ≤ 1 s check period.
    func testFenceLatencyDistribution() throws {
        var latencies: [Double] = []
        for i in 0..<10 {
            let lease = touchLease(tempDir + "/lease-latency-\(i)")
            let record = try startSleeper("latency-\(i)-\(getpid())", lease: lease, graceMs: 500)
            latencies.append(try expectFenced(record, lease: lease, graceMs: 500, slackMs: 1000))
            try runtime.delete(record.id, force: true)
        }
        let sorted = latencies.sorted()
        let median = (sorted[4] + sorted[5]) / 2
        let text = sorted.map { String(format: "%.1f", $0) }.joined(separator: " ")
        print(
            "fence latency (deadline -> cgroup empty), ms: median \(String(format: "%.1f", median)) min \(String(format: "%.1f", sorted.first!)) max \(String(format: "%.1f", sorted.last!)) [\(text)]"
        )
        // The supervisor wakes 1 ms past the deadline: a median near the 1 s check period would
        // mean the deadline wake-up is broken (measured: 3.8-6.7 ms).
        XCTAssertLessThan(median, 200)
    }

    /// runAgent with a lease (the helper in SandboxTestSupport has no lease parameter).
    func runAgentWithLease(_ args: [String], lease: String) throws -> SandboxOutcome {
        let id = "leased-\(UInt32.random(in: 0...UInt32.max))"
        let rootfs = tempDir + "/agent-root"
        try AgentProfile.prepareRootfs(at: rootfs)
        let req = AgentSandboxRequest(args: args, workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID)
        createdIDs.append(id)
        try runtime.create(
            id: id, spec: AgentProfile.spec(req, rootfs: rootfs), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, useInit: true, leaseFile: lease, leaseGraceMs: 5000))
        return try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
    }
}
