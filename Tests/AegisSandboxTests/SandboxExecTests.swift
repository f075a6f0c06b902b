// exec into running sandboxes: the exec'd process sees the container's root, hostname, pid and
// network namespaces and cgroup, has exactly its confinement, passes its exit status through, is
// killed at its timeout; failures (unknown, stopped, reused pid, failing step) leave nothing.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxExecTests: SandboxTestCase {
    /// Facts the container's process writes at start, before it sleeps.
    static let recordFacts =
        "cat /proc/self/status > /work/c.status; hostname > /work/c.hostname; cat /proc/self/cgroup > /work/c.cgroup; "
        + "cat /proc/net/dev > /work/c.netdev; touch /work/c.ready; exec sleep 600"

    struct Running {
        var id: String
        var record: SandboxRecord
        var work: String
        var rootfs: String
        /// A token in /exec-marker of the container's rootfs only.
        var marker: String
    }

    /// An agent-profile spec running `recordFacts` (hostname "exec-host").
    func factsSpec(rootfs: String, work: String) throws -> Spec {
        try AgentProfile.prepareRootfs(at: rootfs)
        chmod(work, 0o777)
        return AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/bin/sh", "-c", Self.recordFacts], workDir: work, uid: Self.agentUID,
                gid: Self.agentUID, hostname: "exec-host"), rootfs: rootfs)
    }

    /// Creates a sandbox from `spec` (default: `factsSpec`) and waits until its facts are written.
    func startRunning(_ edit: (inout Spec) -> Void = { _ in }, useInit: Bool = true) throws -> Running {
        let id = "exec-\(UInt32.random(in: 0...UInt32.max))"
        let rootfs = tempDir + "/root-\(id)", work = try makeWorkDir()
        var spec = try factsSpec(rootfs: rootfs, work: work)
        edit(&spec)
        let marker = "marker-\(UInt64.random(in: 0...UInt64.max))"
        try marker.write(toFile: rootfs + "/exec-marker", atomically: false, encoding: .utf8)
        createdIDs.append(id)
        let record = try runtime.create(
            id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: useInit))
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: work + "/c.ready") { usleep(10_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/c.ready"), "the container did not start")
        return Running(id: id, record: record, work: work, rootfs: rootfs, marker: marker)
    }

    /// Runs `sh -c script` in sandbox `id`; returns the result and its stdout (stderr appended).
    func run(
        _ id: String, _ script: String, user: User? = nil, cwd: String? = nil, timeout: Duration? = .seconds(30)
    ) throws -> (SandboxExecResult, String) {
        let path = tempDir + "/out-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let result = try runtime.exec(
            id,
            SandboxExecOptions(
                args: ["/bin/sh", "-c", script], cwd: cwd, user: user, stdio: .descriptors(stdin: -1, stdout: fd, stderr: fd),
                timeout: timeout))
        return (result, try String(contentsOfFile: path, encoding: .utf8))
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The lines of a /proc/PID/status text that name identity and confinement.
    func confinement(_ status: String) -> [String] {
        let keys = [
            "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:",
        ]
        return status.split(separator: "\n").map(String.init).filter { line in keys.contains { line.hasPrefix($0) } }
    }

    func value(_ key: String, in status: String) -> String? {
        status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map {
            $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Interface names of a /proc/net/dev text.
    func interfaces(_ netdev: String) -> [String] {
        netdev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
            .sorted()
    }

    /// Descriptors open in this process.
    func openDescriptors() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []) }

    /// Pids of this process's children (zombies included).
    func children() -> [Int32] {
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == me
        }
    }

    func cgroupProcs(_ r: SandboxRecord) -> [String] {
        text(r.cgroupPath! + "/cgroup.procs").split(separator: "\n").map(String.init).sorted()
    }

    // MARK: - what it sees

    func testExecSeesTheContainersRootHostnamePidNetworkAndCgroup() throws {
        let c = try startRunning()
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/exec-marker"))
        let (r1, marker) = try run(c.id, "cat /exec-marker")
        XCTAssertEqual(r1.exitCode, 0, marker)
        XCTAssertEqual(marker, c.marker, "not the container's root")
        XCTAssertEqual(try run(c.id, "hostname").1, "exec-host\n")
        XCTAssertEqual(try run(c.id, "hostname").1, text(c.work + "/c.hostname"))

        // The container's /proc shows pids of its namespace only: NSpid has one entry, $$.
        let (r2, pids) = try run(c.id, "echo $$; grep NSpid /proc/$$/status")
        let lines = pids.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, pids)
        XCTAssertEqual(lines.last, "NSpid:\t" + (lines.first ?? ""), pids)
        XCTAssertNotEqual(lines.first, String(r2.pid), "the host's pid")
        XCTAssertLessThan(Int(lines[0]) ?? 1_000_000, 100, "a pid of the container's namespace")

        let netdev = try run(c.id, "cat /proc/net/dev").1
        XCTAssertEqual(interfaces(netdev), interfaces(text(c.work + "/c.netdev")))
        XCTAssertEqual(interfaces(netdev), ["lo"])
        XCTAssertEqual(try run(c.id, "cat /proc/self/cgroup").1, text(c.work + "/c.cgroup"))
    }

    func testExecJoinsEveryNamespaceAndTheCgroupSeenFromTheHost() throws {
        let c = try startRunning()
        let child = try runtime.startExec(
            c.id, SandboxExecOptions(args: ["sleep", "30"], stdio: .descriptors(stdin: -1, stdout: -1, stderr: -1)))
        for ns in ["mnt", "pid", "ipc", "uts", "net", "cgroup", "user"] {
            let theirs = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(c.record.pid)/ns/\(ns)")
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/ns/\(ns)"), theirs, ns)
        }
        let nspid = value("NSpid", in: text("/proc/\(child.pid)/status"))?.split(separator: "\t").map(String.init) ?? []
        XCTAssertEqual(nspid.count, 2, "not a child of the container's pid namespace: \(nspid)")
        XCTAssertEqual(nspid.first, String(child.pid))
        XCTAssertEqual(text("/proc/\(child.pid)/cgroup"), text("/proc/\(c.record.pid)/cgroup"))
        XCTAssertTrue(cgroupProcs(c.record).contains(String(child.pid)), "not in the sandbox's leaf")
        XCTAssertEqual(text("/proc/\(child.pid)/oom_score_adj"), text("/proc/\(c.record.pid)/oom_score_adj"))
        try child.signal(SIGKILL)
        let result = child.wait()
        XCTAssertEqual(result.signal, SIGKILL)
        XCTAssertEqual(result.exitCode, 128 + SIGKILL)
        XCTAssertFalse(result.timedOut)
    }

    // MARK: - confinement

    func testAgentExecHasTheContainersIdentityCapabilitiesNoNewPrivsAndSeccomp() throws {
        let c = try startRunning()
        let status = try run(c.id, "cat /proc/self/status").1
        let container = text(c.work + "/c.status")
        XCTAssertEqual(confinement(status), confinement(container))
        XCTAssertEqual(value("NoNewPrivs", in: status), "1")
        XCTAssertEqual(value("Seccomp", in: status), "2")
        XCTAssertEqual(value("CapEff", in: status), "0000000000000000")
        XCTAssertEqual(value("Uid", in: status), "\(Self.agentUID)\t\(Self.agentUID)\t\(Self.agentUID)\t\(Self.agentUID)")
        XCTAssertEqual(value("Gid", in: status), "\(Self.agentUID)\t\(Self.agentUID)\t\(Self.agentUID)\t\(Self.agentUID)")
    }

    func testRootContainerWithCapabilitiesWithoutInit() throws {
        let c = try startRunning(
            { spec in
                spec.process!.user = User(uid: 0, gid: 0, additionalGids: [44, 45])
                spec.process!.capabilities = LinuxCapabilities(
                    bounding: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"], effective: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
                    inheritable: ["CAP_NET_BIND_SERVICE"], permitted: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
                    ambient: ["CAP_NET_BIND_SERVICE"])
                spec.process!.rlimits = [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 321, soft: 123)]
            }, useInit: false)
        let status = try run(c.id, "cat /proc/self/status").1
        let container = text(c.work + "/c.status")
        XCTAssertEqual(confinement(status), confinement(container))
        XCTAssertNotEqual(value("CapEff", in: status), "0000000000000000")
        XCTAssertEqual(value("CapAmb", in: status), "0000000000000400")
        XCTAssertEqual(value("Groups", in: status), "44 45")
        XCTAssertEqual(value("Seccomp", in: status), "2")
        XCTAssertEqual(try run(c.id, "ulimit -n; ulimit -H -n").1, "123\n321\n")
    }

    func testUserNamespaceIsJoined() throws {
        let c = try startRunning { spec in
            spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
            spec.linux!.namespaces!.append(LinuxNamespace(type: "user"))
            spec.linux!.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 300_000, size: 65536)]
            spec.linux!.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 300_000, size: 65536)]
        }
        let (result, out) = try run(c.id, "cat /proc/self/uid_map; cat /proc/self/status")
        XCTAssertEqual(result.exitCode, 0, out)
        XCTAssertEqual(out.split(separator: "\n").first?.split(separator: " ").map(String.init), ["0", "300000", "65536"])
        XCTAssertEqual(confinement(out), confinement(text(c.work + "/c.status")))
        XCTAssertEqual(value("Uid", in: out), "0\t0\t0\t0")
        let child = try runtime.startExec(
            c.id, SandboxExecOptions(args: ["sleep", "30"], stdio: .descriptors(stdin: -1, stdout: -1, stderr: -1)))
        XCTAssertEqual(
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/ns/user"),
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(c.record.pid)/ns/user"))
        XCTAssertEqual(value("Uid", in: text("/proc/\(child.pid)/status")), "300000\t300000\t300000\t300000", "host view")
        XCTAssertEqual(child.wait(timeout: .milliseconds(10)).timedOut, true)
    }

    func testUserOverrideChangesOnlyTheIdentity() throws {
        let c = try startRunning()
        let status = try run(c.id, "cat /proc/self/status", user: User(uid: 1234, gid: 1235)).1
        XCTAssertEqual(value("Uid", in: status), "1234\t1234\t1234\t1234")
        XCTAssertEqual(value("Gid", in: status), "1235\t1235\t1235\t1235")
        let container = text(c.work + "/c.status")
        for key in ["CapBnd", "CapEff", "CapPrm", "NoNewPrivs", "Seccomp"] {
            XCTAssertEqual(value(key, in: status), value(key, in: container), key)
        }
        XCTAssertEqual(try run(c.id, "pwd", cwd: "/tmp").1, "/tmp\n")
        XCTAssertEqual(try run(c.id, "pwd").1, "/work\n", "the container's cwd by default")
    }

    func testChrootOnlyContainerExecStaysInItsRoot() throws {
        let busybox = try XCTUnwrap(["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let id = "exec-chroot-\(UInt32.random(in: 0...UInt32.max))"
        let rootfs = tempDir + "/root-\(id)"
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: busybox, toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "cat", "ls", "sleep"] {
            try FileManager.default.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "chroot-marker".write(toFile: rootfs + "/exec-marker", atomically: false, encoding: .utf8)
        let spec = Spec(
            process: AegisOCI.Process(
                user: User(uid: Self.agentUID, gid: Self.agentUID), args: ["/bin/sh", "-c", "exec sleep 600"], env: ["PATH=/bin"], cwd: "/",
                capabilities: LinuxCapabilities(bounding: [], effective: [], inheritable: [], permitted: [], ambient: []),
                noNewPrivileges: true),
            root: Root(path: rootfs, readonly: false),
            linux: Linux(namespaces: ["pid", "ipc", "uts", "network"].map { LinuxNamespace(type: $0) }))
        createdIDs.append(id)
        // Without an init: `run --init` of a chroot-only spec ends in SIGSEGV today (see the report).
        let record = try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))
        guard try runtime.state(id).status == .running else {
            return XCTFail("\(String(describing: runtime.outcome(id))) \(text(runtime.stateDirectory(id) + "/stderr.log"))")
        }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(record.pid)/root"), rootfs)
        XCTAssertEqual(try run(id, "cat /exec-marker").1, "chroot-marker")
        XCTAssertEqual(try run(id, "ls /").1, "bin\nexec-marker\n")
        XCTAssertNotEqual(try run(id, "cat /etc/hostname").0.exitCode, 0, "the host's files are reachable")
    }

    // MARK: - status and timeout

    func testExitCodesAndSignalsPassThrough() throws {
        let c = try startRunning()
        let fds = openDescriptors(), kids = children()
        let exited = try run(c.id, "exit 3").0
        XCTAssertEqual(exited.exitCode, 3)
        XCTAssertEqual(exited.signal, 0)
        XCTAssertFalse(exited.timedOut)
        let killed = try run(c.id, "kill -KILL $$").0
        XCTAssertEqual(killed.exitCode, 137)
        XCTAssertEqual(killed.signal, SIGKILL)
        XCTAssertEqual(try run(c.id, "kill -TERM $$").0.exitCode, 128 + SIGTERM)
        XCTAssertEqual(openDescriptors(), fds, "a descriptor of the exec path stayed open")
        XCTAssertEqual(children(), kids, "an exec'd process was not reaped")
    }

    func testTimeoutKillsTheProcessAndItsGroup() throws {
        let c = try startRunning()
        let before = cgroupProcs(c.record)
        let started = Date()
        let (result, out) = try run(c.id, "sleep 100 & sleep 100; echo after", timeout: .milliseconds(500))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.signal, SIGKILL)
        XCTAssertEqual(result.exitCode, 137)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertFalse(out.contains("after"))
        var after = cgroupProcs(c.record)
        for _ in 0..<100 where after != before {
            usleep(10_000)
            after = cgroupProcs(c.record)
        }
        XCTAssertEqual(after, before, "the exec'd process group was left in the sandbox")
    }

    // MARK: - failures leave nothing

    func testUnknownStoppedAndCreatedSandboxesAreRefusedLeavingNothing() throws {
        let id = "exec-ended-\(UInt32.random(in: 0...UInt32.max))"
        _ = try runAgent(["/bin/true"], id: id)
        let created = "exec-created-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(created)
        try runtime.create(
            id: created, spec: try factsSpec(rootfs: tempDir + "/root-created", work: try makeWorkDir()), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, deferStart: true))
        // After the creates: the runtime keeps aegis-init's memfd open once it made it.
        let fds = openDescriptors(), kids = children()
        XCTAssertThrowsError(try runtime.exec("no-such-sandbox", SandboxExecOptions(args: ["true"]))) { e in
            XCTAssertEqual((e as? SandboxError)?.kind, .notFound, "\(e)")
        }
        XCTAssertThrowsError(try runtime.exec(id, SandboxExecOptions(args: ["true"]))) { e in
            XCTAssertEqual((e as? SandboxError)?.kind, .wrongState, "\(e)")
            XCTAssertTrue("\(e)".contains("stopped"), "\(e)")
        }
        XCTAssertThrowsError(try runtime.exec(created, SandboxExecOptions(args: ["true"]))) { e in
            XCTAssertEqual((e as? SandboxError)?.kind, .wrongState, "\(e)")
        }
        XCTAssertEqual(openDescriptors(), fds)
        XCTAssertEqual(children(), kids)
    }

    func testReusedPidIsNeverJoined() throws {
        let c = try startRunning()
        let procs = cgroupProcs(c.record)
        // Another process now holds the recorded pid (the container "ended"): a host `sleep`.
        let host = Foundation.Process()
        host.executableURL = URL(fileURLWithPath: "/bin/sleep")
        host.arguments = ["30"]
        try host.run()
        defer { host.terminate(); host.waitUntilExit() }
        // A copy of the state under another state root, as a second runtime would find it.
        let other = try SandboxRuntime(stateRoot: tempDir + "/state-copy", cgroupParent: cgroupParent)
        let copy = other.stateDirectory(c.id)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: runtime.stateDirectory(c.id) + "/exec.json", toPath: copy + "/exec.json")
        for (pid, start) in [(c.record.pid, c.record.pidStartTime + 1), (host.processIdentifier, c.record.pidStartTime)] {
            var forged = c.record
            forged.pid = pid
            forged.pidStartTime = start
            try JSONEncoder().encode(forged).write(to: URL(fileURLWithPath: copy + "/state.json"))
            let fds = openDescriptors(), kids = children()
            XCTAssertThrowsError(try other.exec(c.id, SandboxExecOptions(args: ["/bin/sh", "-c", "touch /work/joined"]))) { e in
                XCTAssertEqual((e as? SandboxError)?.kind, .wrongState, "\(e)")
            }
            XCTAssertEqual(openDescriptors(), fds)
            XCTAssertEqual(children(), kids)
        }
        XCTAssertEqual(cgroupProcs(c.record), procs)
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.work + "/joined"))
    }

    func testFailingStepIsNamedAndLeavesNothing() throws {
        let c = try startRunning()
        let procs = cgroupProcs(c.record)
        let fds = openDescriptors(), kids = children()
        XCTAssertThrowsError(try runtime.exec(c.id, SandboxExecOptions(args: ["/nonexistent/tool"]))) { e in
            XCTAssertEqual((e as? SandboxError)?.step, "exec lookup", "\(e)")
            XCTAssertTrue("\(e)".contains("ENOENT") && "\(e)".contains("/nonexistent/tool"), "\(e)")
        }
        XCTAssertThrowsError(try runtime.exec(c.id, SandboxExecOptions(args: ["true"], cwd: "/no/such/dir"))) { e in
            XCTAssertEqual((e as? SandboxError)?.step, "chdir cwd", "\(e)")
        }
        XCTAssertThrowsError(try runtime.exec(c.id, SandboxExecOptions(args: ["true"], stdio: .logFiles))) { e in
            XCTAssertEqual((e as? SandboxError)?.kind, .unsupported, "\(e)")
        }
        XCTAssertEqual(openDescriptors(), fds)
        XCTAssertEqual(children(), kids)
        XCTAssertEqual(cgroupProcs(c.record), procs)
    }

    // MARK: - aegis-runtime exec

    /// Runs the aegis-runtime built next to the test bundle on this test's state root.
    func cli(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let path = try XCTUnwrap(SandboxRuntime.locateHelper("aegis-runtime", environment: "AEGIS_RUNTIME"), "aegis-runtime not built")
        let p = Foundation.Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--root", runtime.stateRoot] + args
        let out = Pipe(), err = Pipe()
        (p.standardOutput, p.standardError, p.standardInput) = (out, err, FileHandle.nullDevice)
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testRuntimeCLIExec() throws {
        let c = try startRunning()
        let script = "echo $FOO; pwd; id -u; id -g; echo ${HOME}; exit 5"
        let r = try cli(["exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1234:1235", c.id, "sh", "-c", script])
        XCTAssertEqual(r.status, 5, r.err)
        XCTAssertEqual(r.out, "bar\n/tmp\n1234\n1235\n/work\n", "--env adds to the container's environment")
        let processJSON = tempDir + "/process.json"
        try #"{"args": ["sh", "-c", "echo $X; id -u"], "env": ["X=from-process-json"], "cwd": "/", "user": {"uid": 77, "gid": 77}}"#
            .write(toFile: processJSON, atomically: false, encoding: .utf8)
        let p = try cli(["exec", "--process", processJSON, c.id])
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertEqual(p.out, "from-process-json\n77\n")
        let killed = try cli(["exec", c.id, "sh", "-c", "kill -KILL $$"])
        XCTAssertEqual(killed.status, 137)
        for (flags, mention) in [(["--tty"], "--tty"), (["--cap", "CAP_SYS_ADMIN"], "--cap")] {
            let refused = try cli(["exec"] + flags + [c.id, "true"])
            XCTAssertEqual(refused.status, 1)
            XCTAssertTrue(refused.err.contains(mention), refused.err)
        }
        // Signals reach the process (forwarded through its pidfd).
        let path = try XCTUnwrap(SandboxRuntime.locateHelper("aegis-runtime", environment: "AEGIS_RUNTIME"))
        let fwd = Foundation.Process()
        fwd.executableURL = URL(fileURLWithPath: path)
        let trap = "trap 'exit 42' TERM; touch /work/exec-ready; while :; do sleep 0.05; done"
        fwd.arguments = ["--root", runtime.stateRoot, "exec", c.id, "sh", "-c", trap]
        try fwd.run()
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: c.work + "/exec-ready") { usleep(10_000) }
        kill(fwd.processIdentifier, SIGTERM)
        fwd.waitUntilExit()
        XCTAssertEqual(fwd.terminationStatus, 42)
        XCTAssertEqual(fwd.terminationReason, .exit)
        let unknown = try cli(["exec", "no-such-sandbox", "true"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.err.contains("does not exist"), unknown.err)
    }

    func testExecJSONIsPrivateAndSmall() throws {
        let c = try startRunning()
        var st = stat()
        XCTAssertEqual(stat(runtime.stateDirectory(c.id) + "/exec.json", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertLessThan(st.st_size, 32 * 1024)
    }
}
