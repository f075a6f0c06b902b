// OCI fields the runtime honours in the container process: process.oomScoreAdj and namespaced
// linux.sysctl, written before the filesystem set-up inside the container's namespaces.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SandboxConformanceTests: SandboxTestCase {

    func testOOMScoreAdjAndNamespacedSysctlsApplyInsideOnly() throws {
        let hostShmmax = try String(contentsOfFile: "/proc/sys/kernel/shmmax", encoding: .utf8)
        let hostForward = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8)
        var spec = try rootShellSpec(
            "cat /proc/self/oom_score_adj /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
            rootfs: tempDir + "/root-conf")
        spec.process!.oomScoreAdj = 345
        let wanted = hostForward.hasPrefix("1") ? "0" : "1"
        spec.linux!.sysctl = ["kernel.shmmax": "123456789", "net.ipv4.ip_forward": wanted]
        XCTAssertEqual(try runToCompletion(spec), "345\n123456789\n\(wanted)\n")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/kernel/shmmax", encoding: .utf8), hostShmmax, "the host's sysctl changed")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8), hostForward)
    }

    func testUnwritableSysctlFailsAtCreateNamingIt() throws {
        var spec = try rootShellSpec("true", rootfs: tempDir + "/root-conf2")
        spec.linux!.sysctl = ["net.ipv4.no_such_key": "1"]
        XCTAssertThrowsError(try runToCompletion(spec)) { error in
            XCTAssertEqual((error as? SandboxError)?.step, "sysctl", "\(error)")
            XCTAssertTrue("\(error)".contains("/proc/sys/net/ipv4/no_such_key"), "\(error)")
        }
    }
}

final class SandboxHookTests: SandboxTestCase {
    func sh(_ script: String, timeout: Int? = nil) -> Hook { Hook(path: "/bin/sh", args: ["sh", "-c", script], timeout: timeout) }

    func agentSpec(_ script: String, workDir: String, rootfs: String) throws -> Spec {
        try AgentProfile.prepareRootfs(at: rootfs)
        return AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/bin/sh", "-c", script], workDir: workDir,
                uid: Self.agentUID, gid: Self.agentUID), rootfs: rootfs)
    }

    func testHooksRunInOrderWithStateAndInTheRightNamespaces() throws {
        let work = try makeWorkDir()
        chmod(work, 0o777)
        let log = tempDir + "/hooks.log"
        var spec = try agentSpec("echo ran > /work/ran", workDir: work, rootfs: tempDir + "/root-hooks")
        spec.hooks = Hooks(
            prestart: [sh("cat > \(tempDir)/prestart.json; echo prestart >> \(log)")],
            createRuntime: [sh("echo createRuntime >> \(log)")],
            createContainer: [sh("cat /proc/sys/kernel/hostname > /work/cc-hostname")],
            startContainer: [sh("test ! -e /work/ran && echo startContainer > /work/sc")],
            poststart: [sh("cat > \(tempDir)/poststart.json; echo poststart >> \(log)")],
            poststop: [sh("echo poststop >> \(log)")])
        let id = "hooks-\(UInt32.random(in: 0...UInt32.max))"
        let record = try runtime.create(
            id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, deferStart: true))
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "prestart\ncreateRuntime\n")
        // The container's uts namespace (hostname "agent") and mount namespace (/work).
        XCTAssertEqual(
            try String(contentsOfFile: work + "/cc-hostname", encoding: .utf8), "agent\n",
            "createContainer ran outside the container's namespaces")
        let prestart = try JSONDecoder().decode(
            ContainerState.self, from: Data(contentsOf: URL(fileURLWithPath: tempDir + "/prestart.json")))
        XCTAssertEqual(prestart.id, id)
        XCTAssertEqual(prestart.status, .created)
        XCTAssertEqual(prestart.pid, record.pid)
        XCTAssertEqual(prestart.bundle, tempDir)
        try runtime.start(id)
        XCTAssertEqual(try String(contentsOfFile: work + "/sc", encoding: .utf8), "startContainer\n")
        let poststart = try JSONDecoder().decode(
            ContainerState.self, from: Data(contentsOf: URL(fileURLWithPath: tempDir + "/poststart.json")))
        XCTAssertEqual(poststart.status, .running)
        _ = try runtime.wait(id, timeout: .seconds(10))
        try runtime.delete(id)
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "prestart\ncreateRuntime\npoststart\npoststop\n")
        XCTAssertEqual(try String(contentsOfFile: work + "/ran", encoding: .utf8), "ran\n")
    }

    func testFailingPrestartDeletesTheContainerBeforeItRuns() throws {
        let work = try makeWorkDir()
        var spec = try agentSpec("echo ran > /work/ran", workDir: work, rootfs: tempDir + "/root-hooks2")
        spec.hooks = Hooks(prestart: [sh("exit 3")], poststop: [sh("touch \(tempDir)/poststop-ran")])
        let id = "hookfail-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertThrowsError(try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))) {
            XCTAssertTrue("\($0)".contains("hooks.prestart[0] /bin/sh: exit status 3"), "\($0)")
        }
        XCTAssertThrowsError(try runtime.record(id), "the container still exists")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/ran"), "the process ran despite the failed hook")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.cgroups.leafPath(id: id)))
        // A hook that outlives its timeout is killed and fails the same way.
        spec.hooks = Hooks(createRuntime: [sh("sleep 30", timeout: 1)])
        let started = ContinuousClock.now
        XCTAssertThrowsError(try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))) {
            XCTAssertTrue("\($0)".contains("killed after its timeout of 1 s"), "\($0)")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
    }

    func testFailingPoststartIsAWarningAndTheRestRuns() throws {
        let work = try makeWorkDir()
        var spec = try agentSpec("true", workDir: work, rootfs: tempDir + "/root-hooks3")
        spec.hooks = Hooks(poststart: [Hook(path: "/bin/false"), sh("touch \(tempDir)/second-poststart")])
        let id = "hookwarn-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, deferStart: true))
        XCTAssertNoThrow(try runtime.start(id))
        XCTAssertTrue(FileManager.default.fileExists(atPath: tempDir + "/second-poststart"))
    }
}

final class SandboxNamespaceJoinTests: SandboxTestCase {
    /// Every namespace type joined by path (OCI linux.namespaces[].path): the container's
    /// /proc/PID/ns links equal those of a process that `unshare` put in new ones.
    func testEveryNamespaceTypeCanBeJoinedByPath() throws {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        holder.arguments = ["--ipc", "--uts", "--net", "--pid", "--mount", "--cgroup", "--fork", "--kill-child", "sleep", "60"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let kinds = ["ipc": "ipc", "uts": "uts", "network": "net", "pid": "pid", "mount": "mnt", "cgroup": "cgroup"]
        func link(_ pid: Int32, _ ns: String) -> String? {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(ns)")
        }
        // unshare has switched once its ns links differ from ours (pid: pid_for_children).
        let deadline = ContinuousClock.now + .seconds(5)
        while link(holder.processIdentifier, "uts") == link(getpid(), "uts") && ContinuousClock.now < deadline { usleep(20_000) }
        let rootfs = tempDir + "/root-join"
        try AgentProfile.prepareRootfs(at: rootfs)
        // The program lives in the rootfs itself (not in a bind mount): the joined mount namespace
        // must still be pivoted into the rootfs.
        try? FileManager.default.removeItem(atPath: rootfs + "/busybox")
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/busybox")
        var spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["/busybox", "sleep", "30"], workDir: try makeWorkDir(), uid: Self.agentUID,
                gid: Self.agentUID, hostname: "joined-uts"), rootfs: rootfs)
        spec.linux!.namespaces = kinds.map { type, ns in
            LinuxNamespace(type: type, path: "/proc/\(holder.processIdentifier)/ns/\(ns == "pid" ? "pid_for_children" : ns)")
        }
        let id = "join-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        let record = try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        for (_, ns) in kinds {
            let want = link(holder.processIdentifier, ns == "pid" ? "pid_for_children" : ns)
            XCTAssertNotNil(want)
            XCTAssertEqual(link(record.pid, ns), want, "\(ns) not joined")
            XCTAssertNotEqual(link(record.pid, ns), link(getpid(), ns), "\(ns) is still the test's own")
        }
        // The hostname was set in the joined uts namespace.
        let holderHostname = Process()
        holderHostname.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        holderHostname.arguments = ["-t", "\(holder.processIdentifier)", "-u", "hostname"]
        let pipe = Pipe()
        holderHostname.standardOutput = pipe
        try holderHostname.run()
        holderHostname.waitUntilExit()
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "joined-uts\n")
        try runtime.kill(id, signal: SIGKILL)
    }
}

final class SandboxDeviceNodeTests: SandboxTestCase {

    func testLinuxDevicesAreCreatedWithOwnerModeAndAllowedByTheDeviceCgroup() throws {
        var spec = try rootShellSpec(
            "stat -c '%F %t:%T %a %u:%g' /dev/zero2 /dev/sub/fifo; head -c 3 /dev/zero2 | od -An -tx1",
            rootfs: tempDir + "/root-devnodes")
        spec.linux!.devices = [
            LinuxDevice(path: "/dev/zero2", type: "c", major: 1, minor: 5, fileMode: 0o644, uid: 7, gid: 8),
            LinuxDevice(path: "/dev/sub/fifo", type: "p", fileMode: 0o600),
        ]
        XCTAssertEqual(try runToCompletion(spec), "character special file 1:5 644 7:8\nfifo 0:0 600 0:0\n 00 00 00\n")
    }

    func testSharedRootPropagationIsApplied() throws {
        var spec = try rootShellSpec(
            "awk '$5 == \"/\"' /proc/self/mountinfo | grep -o 'shared:[0-9]*' | cut -d: -f1", rootfs: tempDir + "/root-prop")
        spec.linux!.rootfsPropagation = "rshared"
        XCTAssertEqual(try runToCompletion(spec), "shared\n")
        spec.linux!.rootfsPropagation = "unbindable"
        spec.process!.args = ["/bin/sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo | grep -o unbindable"]
        XCTAssertEqual(try runToCompletion(spec), "unbindable\n")
    }
}

final class SandboxResourceFileTests: SandboxTestCase {
    func testOCIResourcesMapToCgroupV2Files() throws {
        let r = LinuxResources(
            memory: LinuxMemory(reservation: 1 << 20),
            cpu: LinuxCPU(cpus: "0-1", mems: "0"),
            blockIO: .object([
                "weight": .number("500"),
                "weightDevice": .array([.object(["major": .number("8"), "minor": .number("0"), "weight": .number("1000")])]),
                "throttleWriteIOPSDevice": .array([.object(["major": .number("8"), "minor": .number("16"), "rate": .number("300")])]),
            ]),
            hugepageLimits: .array([.object(["pageSize": .string("2MB"), "limit": .number("4194304")])]),
            unified: ["memory.high": "1073741824"])
        let files = try ResourceFiles.limits(r).files.map { "\($0.file)=\($0.value)" }
        XCTAssertEqual(
            files,
            [
                "memory.low=1048576", "cpuset.cpus=0-1", "cpuset.mems=0", "io.weight=default 4950",
                "io.weight=8:0 10000", "io.max=8:16 wiops=300", "hugetlb.2MB.max=4194304", "memory.high=1073741824",
            ])
        XCTAssertEqual(try ResourceFiles.limits(r).requiredControllers, ["memory", "cpuset", "io", "hugetlb"])
    }

    /// hugetlb is the one controller this host's cgroup2 hierarchy offers: the limit lands in the leaf.
    func testHugepageLimitIsWrittenToTheLeaf() throws {
        guard (try? String(contentsOfFile: runtime.cgroups.root + "/cgroup.controllers", encoding: .utf8))?.contains("hugetlb") == true
        else {
            throw XCTSkip("no hugetlb controller in this cgroup2 hierarchy (the VM tests cover the others)")
        }
        let rootfs = tempDir + "/root-huge"
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(
            AgentSandboxRequest(
                args: ["sleep", "30"], workDir: try makeWorkDir(), uid: Self.agentUID,
                gid: Self.agentUID), rootfs: rootfs)
        spec.linux!.resources!.hugepageLimits = .array([.object(["pageSize": .string("2MB"), "limit": .number("4194304")])])
        let id = "huge-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        let record = try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        let value = try String(contentsOfFile: try XCTUnwrap(record.cgroupPath) + "/hugetlb.2MB.max", encoding: .utf8)
        XCTAssertEqual(value, "4194304\n")
        try runtime.kill(id, signal: SIGKILL)
    }
}

final class SandboxLabelTests: SandboxTestCase {
    func testSELinuxLabelsAreDroppedWithAWarningOnlyWithoutSELinux() throws {
        var spec = AgentProfile.spec(AgentSandboxRequest(args: ["true"], workDir: "/tmp", uid: 1, gid: 1), rootfs: "/x")
        spec.linux!.mountLabel = "system_u:object_r:container_file_t:s0"
        spec.process!.selinuxLabel = "system_u:system_r:container_t:s0"
        let out = SandboxRuntime.withoutSELinuxLabels(spec)
        if access("/sys/fs/selinux/enforce", F_OK) == 0 {
            XCTAssertEqual(out, spec, "with SELinux enabled the labels stay (and validation refuses them)")
        } else {
            XCTAssertNil(out.linux!.mountLabel)
            XCTAssertNil(out.process!.selinuxLabel)
            XCTAssertNoThrow(try out.validate())
        }
        XCTAssertThrowsError(try spec.validate(), "labels are never accepted as if applied")
    }
}

final class SandboxCreateFailureTests: SandboxTestCase {
    /// Without an init (the OCI CLI's default) the identity is set before the exec FIFO: a uid the
    /// user namespace doesn't map fails `create`, naming the step, and leaves nothing behind.
    func testCredentialFailureIsReportedByCreate() throws {
        let rootfs = tempDir + "/root-cred"
        try AgentProfile.prepareRootfs(at: rootfs)
        var spec = AgentProfile.spec(AgentSandboxRequest(args: ["true"], workDir: try makeWorkDir(), uid: 5, gid: 0), rootfs: rootfs)
        spec.process!.user = User(uid: 5, gid: 0, additionalGids: [])
        spec.linux!.namespaces!.append(LinuxNamespace(type: "user"))
        spec.linux!.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 400_000, size: 1)]
        spec.linux!.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 400_000, size: 1)]
        spec.mounts = spec.mounts!.filter { $0.type != "sysfs" }
        let id = "cred-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertThrowsError(
            try runtime.create(
                id: id, spec: spec, bundle: tempDir,
                options: SandboxCreateOptions(stdio: .logFiles, useInit: false, deferStart: true))
        ) {
            XCTAssertEqual(($0 as? SandboxError)?.step, "setuid", "\($0)")
        }
        XCTAssertThrowsError(try runtime.record(id))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runtime.cgroups.leafPath(id: id)))
    }
}

final class SandboxInheritedNamespaceTests: SandboxTestCase {
    /// No namespaces listed: every one is the runtime's (OCI: unlisted namespaces are inherited);
    /// the rootfs is chroot'ed into, and anything that would mount in the host's namespace is refused.
    func testUnlistedNamespacesAreInheritedAndNothingIsMounted() throws {
        let rootfs = tempDir + "/inherit-rootfs"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/busybox")
        var spec = Spec(
            process: Process(user: User(uid: 0, gid: 0), args: ["/busybox", "ls", "/"], env: ["PATH=/"], cwd: "/"),
            root: Root(path: rootfs), linux: Linux(namespaces: []))
        let id = "inherit-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        let record = try runtime.create(
            id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles, deferStart: true))
        for ns in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
            XCTAssertEqual(
                try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(record.pid)/ns/\(ns)"),
                try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(ns)"), "\(ns) not inherited")
        }
        try runtime.start(id)
        _ = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(10)))
        XCTAssertEqual(
            try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8), "busybox\n", "not chroot'ed")
        spec.mounts = [Mount(destination: "/proc", type: "proc", source: "proc")]
        XCTAssertThrowsError(
            try runtime.create(id: id + "-m", spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))
        ) {
            XCTAssertTrue("\($0)".contains("mounts: needs a mount namespace of the container's own"), "\($0)")
        }
    }
}

final class SandboxHostNamespaceTests: SandboxTestCase {
    /// "Joining" the runtime's own or the host's namespace would make the mount set-up pivot the
    /// host's root, or a sysctl or hostname change the host: refused by path, nothing changed.
    func testJoiningTheRuntimesOrTheHostsNamespaceIsRefused() throws {
        let rootfs = tempDir + "/hostns-rootfs"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/busybox")
        let hostname = try String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8)
        let cases: [(type: String, ns: String, change: (inout Spec) -> Void)] = [
            ("mount", "mnt", { $0.mounts = [Mount(destination: "/tmp", type: "tmpfs", source: "tmpfs")] }),
            ("network", "net", { $0.linux!.sysctl = ["net.ipv4.conf.lo.accept_local": "1"] }),
            ("uts", "uts", { $0.hostname = "pwned-by-test" }),
            ("ipc", "ipc", { $0.linux!.sysctl = ["kernel.shm_rmid_forced": "1"] }),
            ("pid", "pid", { _ in }),
        ]
        for holder in ["self", "thread-self", "\(getpid())", "1"] {
            for c in cases {
                var spec = Spec(
                    process: Process(user: User(uid: 0, gid: 0), args: ["/busybox", "true"], env: ["PATH=/"], cwd: "/"),
                    root: Root(path: rootfs),
                    linux: Linux(
                        namespaces: [LinuxNamespace(type: "mount"), LinuxNamespace(type: c.type, path: "/proc/\(holder)/ns/\(c.ns)")]
                            .filter { !($0.type == "mount" && c.type == "mount" && $0.path == nil) }))
                c.change(&spec)
                let id = "hostns-\(UInt32.random(in: 0...UInt32.max))"
                XCTAssertThrowsError(
                    try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles)),
                    "\(c.type) of \(holder)"
                ) {
                    // PID 1's namespaces may not even be openable here (EACCES in some sandboxes): refused either way.
                    let refused =
                        "\($0)".contains("a joined namespace must be the container's")
                        || (holder == "1" && "\($0)".contains("open namespace (linux.namespaces path) /proc/1/ns/"))
                    XCTAssertTrue(refused, "\(c.type) of \(holder): \($0)")
                }
                XCTAssertThrowsError(try runtime.record(id))
            }
        }
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8), hostname)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/usr/bin"), "the runtime's root moved")
    }

    /// Without a mount namespace the container is only chroot'ed: capabilities that leave a chroot
    /// or mount on the host are refused.
    func testChrootOnlySandboxRefusesChrootAndAdminCapabilities() throws {
        let rootfs = tempDir + "/chroot-rootfs"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        for cap in ["CAP_SYS_CHROOT", "CAP_SYS_ADMIN"] {
            let spec = Spec(
                process: Process(
                    user: User(uid: 0, gid: 0), args: ["/busybox", "true"], env: ["PATH=/"], cwd: "/",
                    capabilities: LinuxCapabilities(bounding: [cap], effective: [cap], inheritable: [], permitted: [cap], ambient: [])),
                root: Root(path: rootfs), linux: Linux(namespaces: [LinuxNamespace(type: "pid")]))
            XCTAssertThrowsError(
                try runtime.create(
                    id: "chroot-\(cap.lowercased())", spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))
            ) {
                XCTAssertTrue("\($0)".contains("\(cap) with no mount namespace"), "\($0)")
            }
        }
    }
}
