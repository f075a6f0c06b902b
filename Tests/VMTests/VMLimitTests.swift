// Resource limits proven on a real, full cgroup v2 kernel (Debian's 6.1 under qemu, see
// Tests/VM): memory.max + OOM kill, pids.max against a fork bomb, cpu.max throttling, swap and
// weight read back, controllers in a nested subtree, the "no internal processes" move, and the
// default profile's seccomp/namespace/capability checks on that kernel.
//
// One boot for the whole class. The host prepares OCI bundles (AgentProfile specs) under
// /var/tmp (visible in the guest through the 9p root); the guest script drives the real
// `aegis-runtime` binary and leaves its findings in /results.
import Foundation
import XCTest
import AegisOCI
import AegisSandbox

struct LimitRun: Sendable {
    var result: VMRunResult
    var files: [String: String]
    var setupError: String?
}

enum LimitFixture {
    static let agentUID: UInt32 = 40124

    static func runtimeBinary() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("aegis-runtime").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    static func compileProbe(to out: String) throws {
        let cc = ["/usr/bin/cc", "/opt/swift/usr/bin/clang", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }!
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-O2", "-D_GNU_SOURCE", "-o", out, VMBoots.repoRoot.appendingPathComponent("Sources/aegis-probe/probe.c").path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    }

    /// Writes bundle `name` with an agent spec; returns its directory.
    static func bundle(
        _ base: String, _ name: String, args: [String], resources: LinuxResources?,
        change: (inout Spec) -> Void = { _ in }
    ) throws -> String {
        let fm = FileManager.default
        let dir = base + "/bundles/" + name
        let work = base + "/work/" + name
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        chown(work, agentUID, agentUID)
        let request = AgentSandboxRequest(
            args: args, workDir: work, uid: agentUID, gid: agentUID,
            hostname: "vm-agent", resources: resources)
        var spec = AgentProfile.spec(request, rootfs: base + "/rootfs")
        change(&spec)
        try Data(try spec.jsonBytes(pretty: true)).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return dir
    }

    static func launch() -> LimitRun {
        let fm = FileManager.default
        let base = "/var/tmp/aegis-vmlimits-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let results = base + "/results"
        defer { try? fm.removeItem(atPath: base) }
        func failed(_ why: String) -> LimitRun {
            LimitRun(result: VMRunResult(status: -1, stdout: "", stderr: why, seconds: 0, resultFiles: [:]), files: [:], setupError: why)
        }
        guard let runtime = runtimeBinary() else { return failed("aegis-runtime not found next to the test bundle") }
        let supervisor = URL(fileURLWithPath: runtime).deletingLastPathComponent().appendingPathComponent("aegis-supervisor").path
        guard FileManager.default.isExecutableFile(atPath: supervisor) else {
            return failed("aegis-supervisor not found next to \(runtime)")
        }
        let initBinary = URL(fileURLWithPath: runtime).deletingLastPathComponent().appendingPathComponent("aegis-init").path
        guard FileManager.default.isExecutableFile(atPath: initBinary) else { return failed("aegis-init not found next to \(runtime)") }
        do {
            try fm.createDirectory(atPath: results, withIntermediateDirectories: true)
            try AgentProfile.prepareRootfs(at: base + "/rootfs")
            try compileProbe(to: base + "/aegis-probe")
            let mib: Int64 = 1 << 20
            _ = try bundle(
                base, "oom", args: ["python3", "-c", "b = b'a' * (256 << 20); print(len(b))"],
                resources: LinuxResources(memory: LinuxMemory(limit: 32 * mib, swap: 32 * mib)))
            // `sleep` is forked before the bomb: once the bomb holds every pid the main shell must
            // not need a fork to stay alive (its exit would end the sandbox before the sample).
            _ = try bundle(
                base, "forkbomb", args: ["/bin/sh", "-c", ": bomb-\(getpid()); sleep 60 & f() { f | f & }; f; wait"],
                resources: LinuxResources(pids: LinuxPids(limit: 32)))
            _ = try bundle(
                base, "cpu", args: ["timeout", "2", "/bin/sh", "-c", "while :; do :; done"],
                resources: LinuxResources(cpu: LinuxCPU(quota: 20000, period: 100000)))
            _ = try bundle(
                base, "readback", args: ["sleep", "30"],
                resources: LinuxResources(
                    memory: LinuxMemory(limit: 64 * mib, swap: 64 * mib),
                    cpu: LinuxCPU(shares: 1024), pids: LinuxPids(limit: 100)))
            _ = try bundle(base, "nested", args: ["/bin/true"], resources: LinuxResources(pids: LinuxPids(limit: 64)))
            _ = try bundle(base, "probe", args: ["/work/aegis-probe", "attempts"], resources: nil)
            _ = try bundle(
                base, "caps",
                args: [
                    "/bin/sh", "-c",
                    "/work/aegis-probe caps; /work/aegis-probe id; hostname; ls /proc | grep -cE '^[0-9]+$'; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
                ],
                resources: nil)
            // The device cgroup (a BPF program on the leaf) on a kernel with cgroup2 only: a root
            // container holding CAP_MKNOD makes a block node but can't open it; /dev/null works.
            _ = try bundle(
                base, "devices",
                args: [
                    "/bin/sh", "-c",
                    "mknod /dev/blk b 7 0 && ( (exec 3</dev/blk) 2>/dev/null && echo OPENED || echo DENIED ); echo x > /dev/null && echo NULL-OK",
                ],
                resources: nil
            ) { spec in
                spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
                spec.process!.capabilities = LinuxCapabilities(
                    bounding: ["CAP_MKNOD"], effective: ["CAP_MKNOD"], inheritable: [],
                    permitted: ["CAP_MKNOD"], ambient: [])
            }
            // PID 1 with --init is aegis-init from its sealed memfd.
            _ = try bundle(base, "init", args: ["/bin/sh", "-c", "cat /proc/1/comm; readlink /proc/1/exe"], resources: nil) { spec in
                spec.process!.user = User(uid: 0, gid: 0, additionalGids: [])
                spec.process!.capabilities = LinuxCapabilities(
                    bounding: ["CAP_SYS_PTRACE"], effective: ["CAP_SYS_PTRACE"], inheritable: [],
                    permitted: ["CAP_SYS_PTRACE"], ambient: [])
            }
            // The probe binary lives in each probe-using bundle's work dir.
            for name in ["probe", "caps"] {
                try fm.copyItem(atPath: base + "/aegis-probe", toPath: base + "/work/\(name)/aegis-probe")
            }
            // The binaries travel in the initramfs: the repository may live where the guest has its
            // own tmpfs (a clone under /tmp), and programs read over 9p start slowly under TCG.
            // Their Swift libraries come from /opt/swift through the binaries' RUNPATH.
            try guestScript(runtime: "/run/aegis-bin/aegis-runtime", base: base, marker: "bomb-\(getpid())")
                .write(toFile: base + "/checks.sh", atomically: true, encoding: .utf8)
            chmod(base + "/checks.sh", 0o755)
        } catch {
            return failed("test setup in \(base) failed: \(error)")
        }
        let launch = VMLaunch(
            work: URL(fileURLWithPath: base), tag: "limits",
            arguments: [
                "--timeout", "420", "--results", results, "--copy", base + "/checks.sh",
                "--copy", runtime + ":/run/aegis-bin/aegis-runtime",
                "--copy", supervisor + ":/run/aegis-bin/aegis-supervisor",
                "--copy", initBinary + ":/run/aegis-bin/aegis-init", "--", "/tmp/checks.sh",
            ])
        let result = launch.finish()
        var files: [String: String] = [:]
        for name in (try? fm.contentsOfDirectory(atPath: results)) ?? [] {
            files[name] = try? String(contentsOfFile: results + "/" + name, encoding: .utf8)
        }
        // The measured values, for the CI log.
        for name in files.keys.sorted() where !name.hasSuffix(".out") {
            print("vm-limits \(name): \(files[name]!.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        print("vm-limits boot-to-result: \(Int(result.seconds)) s")
        return LimitRun(result: result, files: files, setupError: nil)
    }

    /// The guest side: every check writes `<name>.*` files into /results.
    static func guestScript(runtime: String, base: String, marker: String) -> String {
        """
        #!/bin/sh
        R=\(runtime)
        ROOT=/run/aegis-vm
        B=\(base)/bundles
        cd /
        echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"

        # 1. memory.max 32 MiB, the agent touches 256 MiB: OOM kill reported as 137 + oomKilled.
        $R --root $ROOT run --bundle $B/oom --outcome /results/oom.outcome.json oom > /results/oom.out 2>&1
        echo $? > /results/oom.status

        # 2. pids.max 32 and a fork bomb: contained, the guest answers, cgroup.kill cleans up.
        $R --root $ROOT run --detach --bundle $B/forkbomb forkbomb > /results/forkbomb.out 2>&1
        echo $? > /results/forkbomb.status
        sleep 4
        CG=/sys/fs/cgroup/aegis/forkbomb
        cat $CG/pids.current > /results/forkbomb.pids_current
        cat $CG/pids.max > /results/forkbomb.pids_max
        grep '^max ' $CG/pids.events > /results/forkbomb.pids_events
        t0=$(date +%s%N); echo alive > /results/forkbomb.responsive; t1=$(date +%s%N)
        echo $(( (t1 - t0) / 1000000 )) > /results/forkbomb.responsive_ms
        $R --root $ROOT delete --force forkbomb > /results/forkbomb.delete.out 2>&1
        echo $? > /results/forkbomb.delete.status
        test -e $CG && echo present > /results/forkbomb.cgroup_after || echo absent > /results/forkbomb.cgroup_after
        pgrep -c -f \(marker) > /results/forkbomb.procs_after

        # 3. cpu.max 20000/100000 and a 2 s busy loop: throttled to ~20 % of one CPU.
        $R --root $ROOT run --bundle $B/cpu --outcome /results/cpu.outcome.json cpu > /results/cpu.out 2>&1
        echo $? > /results/cpu.status

        # 4. memory.swap.max (OCI swap = memory+swap → 0 here), cpu.weight from shares, read back.
        $R --root $ROOT run --detach --bundle $B/readback readback > /results/readback.out 2>&1
        CG=/sys/fs/cgroup/aegis/readback
        for f in memory.max memory.swap.max cpu.weight pids.max; do echo "$f=$(cat $CG/$f)"; done > /results/readback.values
        $R --root $ROOT delete --force readback >> /results/readback.out 2>&1

        # 5. Controllers enabled down a nested subtree; a runtime started inside a populated,
        #    non-root cgroup moves itself into <own>/supervisor first (no internal processes).
        mkdir -p /sys/fs/cgroup/svc
        sh -c "echo \\$\\$ > /sys/fs/cgroup/svc/cgroup.procs; exec $R --root $ROOT run --bundle $B/nested nested" > /results/nested.out 2>&1
        echo $? > /results/nested.status
        echo "svc_subtree=$(cat /sys/fs/cgroup/svc/cgroup.subtree_control)" > /results/nested.values
        echo "aegis_subtree=$(cat /sys/fs/cgroup/svc/aegis/cgroup.subtree_control 2>&1)" >> /results/nested.values
        echo "supervisor=$(test -d /sys/fs/cgroup/svc/supervisor && echo yes || echo no)" >> /results/nested.values
        echo "root_aegis_subtree=$(cat /sys/fs/cgroup/aegis/cgroup.subtree_control)" >> /results/nested.values

        # 6. The default profile's isolation on this kernel.
        $R --root $ROOT run --bundle $B/probe probe > /results/probe.out 2>&1
        echo $? > /results/probe.status
        $R --root $ROOT run --bundle $B/caps caps > /results/caps.out 2>&1
        echo $? > /results/caps.status
        # 7. The device allowlist and aegis-init.
        $R --root $ROOT run --bundle $B/devices devices > /results/devices.out 2>&1
        $R --root $ROOT run --init --bundle $B/init init > /results/init.out 2>&1
        ls $ROOT > /results/state_left 2>&1
        exit 0
        """
    }
}

final class VMLimitTests: XCTestCase {
    private static let run = LimitFixture.launch()

    override func setUpWithError() throws {
        try VMBoots.requireVM()
        if let e = Self.run.setupError { XCTFail(e) }
        XCTAssertEqual(Self.run.result.status, 0, "vm-run failed:\n\(Self.run.result.stderr)\n\(Self.run.result.stdout)")
    }

    private func file(_ name: String) -> String {
        (Self.run.files[name] ?? "<missing \(name)>").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func outcome(_ name: String) throws -> SandboxOutcome {
        let text = file(name)
        do { return try JSONDecoder().decode(SandboxOutcome.self, from: Data(text.utf8)) } catch {
            XCTFail("\(name): \(text)\nguest output:\n\(Self.run.result.stdout)")
            throw error
        }
    }

    func testMemoryLimitOOMKillsAndIsReported() throws {
        XCTAssertEqual(file("oom.status"), "137", file("oom.out"))
        let o = try outcome("oom.outcome.json")
        XCTAssertEqual(o.exitCode, 137)
        XCTAssertEqual(o.signal, 9)
        XCTAssertTrue(o.oomKilled)
        XCTAssertGreaterThanOrEqual(o.oomKillCount, 1, "memory.events oom_kill")
        if let peak = o.peakMemoryBytes { XCTAssertLessThanOrEqual(peak, 33 << 20, "memory.peak above memory.max") }
    }

    func testForkBombIsContainedAndCleanedUp() throws {
        XCTAssertEqual(file("forkbomb.status"), "0", file("forkbomb.out"))
        XCTAssertEqual(file("forkbomb.pids_max"), "32")
        let current = Int(file("forkbomb.pids_current")) ?? 999
        XCTAssertLessThanOrEqual(current, 32)
        XCTAssertGreaterThan(current, 1, "the bomb never forked")
        let maxEvents = Int(file("forkbomb.pids_events").split(separator: " ").last ?? "") ?? 0
        XCTAssertGreaterThan(maxEvents, 0, "pids.events max: forks were refused")
        XCTAssertEqual(file("forkbomb.responsive"), "alive")
        XCTAssertLessThan(Int(file("forkbomb.responsive_ms")) ?? 99999, 2000, "guest unresponsive under the bomb")
        XCTAssertEqual(file("forkbomb.delete.status"), "0", file("forkbomb.delete.out"))
        XCTAssertEqual(file("forkbomb.cgroup_after"), "absent")
        XCTAssertEqual(file("forkbomb.procs_after"), "0", "fork-bomb processes survived delete")
    }

    func testCPUMaxThrottles() throws {
        XCTAssertEqual(file("cpu.status"), "124", "timeout(1) ends the busy loop: \(file("cpu.out"))")
        let o = try outcome("cpu.outcome.json")
        let throttled = try XCTUnwrap(o.cpuNrThrottled, "cpu.stat nr_throttled missing: cpu controller not enabled")
        XCTAssertGreaterThan(throttled, 0)
        let usage = Double(try XCTUnwrap(o.cgroupCpuUsageUs))
        let ratio = usage / Double(o.wallTimeUs)
        // 20 ms per 100 ms period; generous bounds for TCG and start-up inside the wall time.
        XCTAssertGreaterThan(ratio, 0.08, "usage \(usage) µs over \(o.wallTimeUs) µs")
        XCTAssertLessThan(ratio, 0.32, "usage \(usage) µs over \(o.wallTimeUs) µs")
    }

    func testSwapAndWeightAreWrittenAndReadBack() throws {
        let values = file("readback.values")
        XCTAssertTrue(values.contains("memory.max=67108864"), values)
        XCTAssertTrue(values.contains("memory.swap.max=0"), values)
        XCTAssertTrue(values.contains("cpu.weight=100"), values)
        XCTAssertTrue(values.contains("pids.max=100"), values)
    }

    func testNestedSubtreeAndSelfMoveOutOfPopulatedCgroup() throws {
        XCTAssertEqual(file("nested.status"), "0", file("nested.out"))
        let values = file("nested.values")
        XCTAssertTrue(values.contains("supervisor=yes"), values)
        XCTAssertTrue(values.contains("pids"), "pids enabled in svc/cgroup.subtree_control: \(values)")
    }

    func testDeviceCgroupAndInitOnThisKernel() throws {
        XCTAssertEqual(file("devices.out"), "DENIED\nNULL-OK", "a block node outside the allowlist was opened")
        XCTAssertEqual(file("init.out"), "aegis-init\n/memfd:aegis-init (deleted)")
    }

    func testDefaultProfileIsolationOnThisKernel() throws {
        XCTAssertEqual(file("probe.status"), "0", file("probe.out"))
        var r: [String: String] = [:]
        for line in file("probe.out").split(separator: "\n") {
            let p = line.split(separator: " ", maxSplits: 1)
            if p.count == 2 { r[String(p[0])] = String(p[1]) }
        }
        for name in [
            "unshare", "mount", "ptrace", "keyctl", "bpf", "reboot", "init_module", "setns",
            "kexec_load", "open_by_handle_at", "userfaultfd", "perf_event_open", "clone_newuser",
        ] {
            XCTAssertEqual(r[name], "EPERM", "\(name) on the 6.1 kernel")
        }
        XCTAssertEqual(r["nr1000"], "ENOSYS")
        XCTAssertEqual(r["clone3"], "ENOSYS")
        let caps = file("caps.out")
        XCTAssertEqual(file("caps.status"), "0", caps)
        XCTAssertTrue(caps.contains("CapEff:\t0000000000000000"), caps)
        XCTAssertTrue(caps.contains("NoNewPrivs:\t1"), caps)
        XCTAssertTrue(caps.contains("Seccomp:\t2"), caps)
        XCTAssertTrue(caps.contains("uid \(LimitFixture.agentUID) "), caps)
        XCTAssertTrue(caps.contains("vm-agent"), caps)
        XCTAssertTrue(caps.hasSuffix("lo"), "only lo in /proc/net/dev: \(caps)")
        XCTAssertEqual(file("state_left"), "", "state directories left in the guest")
    }
}
