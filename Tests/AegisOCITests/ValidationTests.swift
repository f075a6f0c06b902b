import XCTest
import Glibc
import Foundation
@testable import AegisOCI

final class ValidationTests: XCTestCase {
    private func base(_ change: (inout Spec) -> Void) throws -> Spec {
        var spec = try validBaseline()
        change(&spec)
        return spec
    }

    func testRuncDefaultFailsOnlyOnTerminal() throws {
        assertInvalid(
            try decodeRuncDefault(), path: "process.terminal",
            message: "use passthrough stdio; --console-socket is not supported")
        XCTAssertNoThrow(try validBaseline().validate())
    }

    func testTopLevelRequirements() throws {
        assertInvalid(try base { $0.ociVersion = "0.9" }, path: "ociVersion", message: "unsupported version \"0.9\"")
        assertInvalid(try base { $0.ociVersion = "2.0.0" }, path: "ociVersion", message: "expected 1.x")
        assertInvalid(try base { $0.process = nil }, path: "process", message: "required")
        assertInvalid(try base { $0.process?.args = [] }, path: "process.args", message: "at least the program")
        assertInvalid(try base { $0.process?.args = nil }, path: "process.args", message: "at least the program")
        assertInvalid(try base { $0.process?.cwd = "work" }, path: "process.cwd", message: "absolute path, got \"work\"")
        assertInvalid(try base { $0.process?.cwd = "" }, path: "process.cwd", message: "absolute path")
        assertInvalid(try base { $0.root = nil }, path: "root", message: "required")
        assertInvalid(try base { $0.root?.path = "" }, path: "root.path", message: "must not be empty")
        assertInvalid(try base { $0.linux = nil }, path: "linux", message: "required")
        assertInvalid(try base { $0.process?.env = ["A=1", "NOEQUALS"] }, path: "process.env[1]", message: "KEY=VALUE")
        assertInvalid(try base { $0.process?.env = ["=x"] }, path: "process.env[0]", message: "KEY=VALUE")
        assertInvalid(try base { $0.process?.commandLine = "cmd /c" }, path: "process.commandLine", message: "Windows-only")
        assertInvalid(try base { $0.process?.user.umask = 0o1000 }, path: "process.user.umask", message: "at most 0777")
        XCTAssertNoThrow(try base { $0.process?.user.umask = 0o077 }.validate())
    }

    func testNamespaces() throws {
        func withTypes(_ types: [String]) throws -> Spec {
            try base { $0.linux?.namespaces = types.map { LinuxNamespace(type: $0) } }
        }
        assertInvalid(try withTypes(["mount", "foo"]), path: "linux.namespaces[1].type", message: "unknown namespace type \"foo\"")
        assertInvalid(try withTypes(["mount", "pid", "time"]), path: "linux.namespaces[2].type", message: "not supported")
        assertInvalid(
            try withTypes(["mount", "pid", "ipc", "pid"]), path: "linux.namespaces[3].type",
            message: "duplicate namespace type \"pid\"")
        XCTAssertNoThrow(
            try base {
                $0.linux?.namespaces = [LinuxNamespace(type: "pid")]; $0.hostname = nil
            }.validate(),
            "unlisted namespaces are inherited")
        XCTAssertNoThrow(try base { $0.linux?.namespaces?[0] = LinuxNamespace(type: "pid", path: "/proc/1/ns/pid") }.validate())
        assertInvalid(
            try base {
                $0.linux?.namespaces?.append(LinuxNamespace(type: "user", path: "/proc/1/ns/user"))
                $0.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)]
                $0.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)]
            }, path: "linux.uidMappings", message: "keeps its own mappings")
        assertInvalid(
            try base { $0.linux?.namespaces?[1] = LinuxNamespace(type: "network", path: "run/netns/x") },
            path: "linux.namespaces[1].path", message: "must be an absolute path")
        XCTAssertNoThrow(try base { $0.linux?.namespaces?[1] = LinuxNamespace(type: "network", path: "/run/netns/x") }.validate())
        assertInvalid(
            try base {
                $0.linux?.namespaces?[1] = LinuxNamespace(type: "network", path: "/run/netns/x")
                $0.linux?.namespaces?.append(LinuxNamespace(type: "user"))
                $0.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)]
                $0.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)]
            }, path: "linux.namespaces[1].path", message: "together with a new user namespace is not supported")
        XCTAssertNoThrow(try withTypes(["pid", "network", "mount", "ipc", "uts", "cgroup"]).validate())
        // Every accepted type's CLONE_NEW* flag matches the kernel UAPI header on this machine.
        let header = try defines(in: "/usr/include/linux/sched.h", prefix: "CLONE_NEW")
        let names = [
            "mount": "CLONE_NEWNS", "user": "CLONE_NEWUSER", "network": "CLONE_NEWNET", "pid": "CLONE_NEWPID",
            "ipc": "CLONE_NEWIPC", "uts": "CLONE_NEWUTS", "cgroup": "CLONE_NEWCGROUP", "time": "CLONE_NEWTIME",
        ]
        XCTAssertEqual(Set(LinuxNamespace.cloneFlags.keys), Set(names.keys))
        for (type, macro) in names {
            XCTAssertEqual(LinuxNamespace(type: type).cloneFlag, try XCTUnwrap(header[macro], macro), type)
        }
    }

    func testHostnameNeedsUTSNamespace() throws {
        assertInvalid(
            try base { $0.linux?.namespaces?.removeAll { $0.type == "uts" } },
            path: "hostname", message: "requires a uts namespace")
        assertInvalid(
            try base {
                $0.hostname = nil; $0.domainname = "d"; $0.linux?.namespaces?.removeAll { $0.type == "uts" }
            },
            path: "domainname", message: "requires a uts namespace")
        XCTAssertNoThrow(
            try base {
                $0.hostname = nil; $0.linux?.namespaces?.removeAll { $0.type == "uts" }
            }.validate())
    }

    func testIDMappings() throws {
        let map = LinuxIDMapping(containerID: 0, hostID: 100_000, size: 65536)
        assertInvalid(try base { $0.linux?.uidMappings = [map] }, path: "linux.uidMappings", message: "require a user namespace")
        assertInvalid(try base { $0.linux?.gidMappings = [map] }, path: "linux.gidMappings", message: "require a user namespace")
        func userNS(_ change: (inout Spec) -> Void) throws -> Spec {
            try base {
                $0.linux?.namespaces?.append(LinuxNamespace(type: "user"))
                $0.linux?.uidMappings = [map]
                $0.linux?.gidMappings = [map]
                change(&$0)
            }
        }
        XCTAssertNoThrow(try userNS { _ in }.validate())
        assertInvalid(
            try userNS { $0.linux?.gidMappings = [map, LinuxIDMapping(containerID: 70000, hostID: 1, size: 0)] },
            path: "linux.gidMappings[1].size", message: "greater than 0")
        assertInvalid(try userNS { $0.linux?.uidMappings = nil }, path: "linux.uidMappings", message: "requires at least one mapping")
        assertInvalid(
            try userNS { $0.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: UInt32.max, size: 2)] },
            path: "linux.uidMappings[0].size", message: "past ID 4294967295")
    }

    func testMounts() throws {
        assertInvalid(
            try base { $0.mounts?[3].destination = "dev/shm" }, path: "mounts[3].destination",
            message: "absolute path, got \"dev/shm\"")
        assertInvalid(
            try base { $0.mounts?[1].options = ["nosuid", "tmpcopyup"] }, path: "mounts[1].options[1]",
            message: "\"tmpcopyup\" is not supported")
        assertInvalid(
            try base { $0.mounts?.append(Mount(destination: "/x", source: "/y", options: ["rbind", "ridmap"])) },
            path: "mounts[7].options[1]", message: "ID-mapped mounts are not implemented")
        assertInvalid(
            try base { $0.mounts?.append(Mount(destination: "/x", source: "/y", options: ["rbind", "rro"])) },
            path: "mounts[7].options[1]", message: "mount_setattr")
        assertInvalid(
            try base { $0.mounts?.append(Mount(destination: "/x", source: "x", options: ["nosuid"])) },
            path: "mounts[7].type", message: "a mount type is required")
        assertInvalid(
            try base { $0.mounts?.append(Mount(destination: "/x", options: ["rbind"])) },
            path: "mounts[7].source", message: "required for a bind mount")
        assertInvalid(
            try base {
                $0.mounts?.append(
                    Mount(
                        destination: "/x", source: "/y", options: ["bind"],
                        gidMappings: [LinuxIDMapping(containerID: 0, hostID: 1, size: 1)]))
            }, path: "mounts[7].gidMappings", message: "ID-mapped mounts are not supported")
        XCTAssertNoThrow(try base { $0.mounts?.append(Mount(destination: "/x", source: "/y", options: ["rbind", "ro"])) }.validate())
    }

    func testUnhonouredFieldsAreNamed() throws {
        let cases: [(String, (inout Spec) -> Void)] = [
            ("process.apparmorProfile", { $0.process?.apparmorProfile = "docker-default" }),
            ("process.selinuxLabel", { $0.process?.selinuxLabel = "system_u:system_r:container_t:s0" }),
            ("process.ioPriority", { $0.process?.ioPriority = .object(["class": .string("IOPRIO_CLASS_RT")]) }),
            ("process.scheduler", { $0.process?.scheduler = .object(["policy": .string("SCHED_FIFO")]) }),
            ("process.execCPUAffinity", { $0.process?.execCPUAffinity = .object(["final": .string("1")]) }),
            ("linux.mountLabel", { $0.linux?.mountLabel = "system_u:object_r:container_file_t:s0" }),
            ("linux.intelRdt", { $0.linux?.intelRdt = .object(["closID": .string("g")]) }),
            ("linux.personality", { $0.linux?.personality = .object(["domain": .string("LINUX32")]) }),
            ("linux.timeOffsets", { $0.linux?.timeOffsets = .object(["boottime": .object(["secs": .number("5")])]) }),
            ("linux.netDevices", { $0.linux?.netDevices = .object(["eth1": .object(["name": .string("e")])]) }),
            ("linux.resources.network", { $0.linux?.resources?.network = .object(["classID": .number("1")]) }),
            ("linux.resources.rdma", { $0.linux?.resources?.rdma = .object(["mlx5_1": .object(["hcaHandles": .number("3")])]) }),
            ("linux.resources.memory.kernel", { $0.linux?.resources?.memory = LinuxMemory(kernel: 1 << 20) }),
            ("linux.resources.memory.kernelTCP", { $0.linux?.resources?.memory = LinuxMemory(kernelTCP: 1 << 20) }),
            ("linux.resources.memory.swappiness", { $0.linux?.resources?.memory = LinuxMemory(swappiness: 0) }),
            ("linux.resources.memory.disableOOMKiller", { $0.linux?.resources?.memory = LinuxMemory(disableOOMKiller: true) }),
            ("linux.resources.cpu.realtimeRuntime", { $0.linux?.resources?.cpu = LinuxCPU(realtimeRuntime: 950_000) }),
            ("linux.resources.cpu.realtimePeriod", { $0.linux?.resources?.cpu = LinuxCPU(realtimePeriod: 1_000_000) }),
            ("linux.resources.cpu.idle", { $0.linux?.resources?.cpu = LinuxCPU(idle: 1) }),
            ("linux.resources.cpu.burst", { $0.linux?.resources?.cpu = LinuxCPU(burst: 1000) }),
            (
                "linux.seccomp.listenerPath",
                {
                    $0.linux?.seccomp = LinuxSeccomp(defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/run/seccomp.sock")
                }
            ),
        ]
        for (path, change) in cases {
            assertInvalid(try base(change), path: path, message: "not supported")
        }
        // Empty placeholders and default values ask for nothing and pass.
        XCTAssertNoThrow(
            try base {
                $0.hooks = Hooks(prestart: [])
                $0.linux?.sysctl = [:]
                $0.linux?.devices = []
                $0.linux?.resources?.blockIO = .object([:])
                $0.linux?.resources?.unified = [:]
                $0.linux?.resources?.memory = LinuxMemory(disableOOMKiller: false, useHierarchy: true)
                $0.linux?.resources?.cpu = LinuxCPU(burst: 0, cpus: "", idle: 0)
            }.validate())
    }

    func testCgroupV2ResourceFieldsAreCheckedForShape() throws {
        XCTAssertNoThrow(
            try base {
                $0.linux?.resources?.memory = LinuxMemory(reservation: 1 << 20)
                $0.linux?.resources?.cpu = LinuxCPU(cpus: "0-1,3", mems: "0")
                $0.linux?.resources?.blockIO = .object([
                    "weight": .number("500"),
                    "throttleReadBpsDevice": .array([.object(["major": .number("8"), "minor": .number("0"), "rate": .number("1048576")])]),
                ])
                $0.linux?.resources?.hugepageLimits = .array([.object(["pageSize": .string("2MB"), "limit": .number("4194304")])])
                $0.linux?.resources?.unified = ["memory.high": "1073741824", "io.bfq.weight": "100"]
            }.validate())
        assertInvalid(
            try base { $0.linux?.resources?.cpu = LinuxCPU(cpus: "0-1;rm") }, path: "linux.resources.cpu.cpus", message: "expected a list")
        assertInvalid(
            try base { $0.linux?.resources?.blockIO = .object(["weight": .number("5")]) },
            path: "linux.resources.blockIO.weight", message: "10...1000")
        assertInvalid(
            try base { $0.linux?.resources?.blockIO = .object(["leafWeight": .number("50")]) },
            path: "linux.resources.blockIO.leafWeight", message: "cgroup v1 only")
        assertInvalid(
            try base { $0.linux?.resources?.blockIO = .object(["throttleWriteIOPSDevice": .array([.object(["major": .number("8")])])]) },
            path: "linux.resources.blockIO.throttleWriteIOPSDevice[0].minor", message: "required")
        assertInvalid(
            try base { $0.linux?.resources?.hugepageLimits = .array([.object(["pageSize": .string("2XB"), "limit": .number("1")])]) },
            path: "linux.resources.hugepageLimits[0].pageSize", message: "such as")
        assertInvalid(
            try base { $0.linux?.resources?.unified = ["cgroup.procs": "1"] }, path: "linux.resources.unified.cgroup.procs",
            message: "not cgroup.*")
        assertInvalid(
            try base { $0.linux?.resources?.unified = ["memory.high/../x": "1"] }, path: "linux.resources.unified.memory.high/../x",
            message: "controller")
    }

    func testHooksAreChecked() throws {
        XCTAssertNoThrow(try base { $0.hooks = Hooks(prestart: [], poststop: [Hook(path: "/bin/true", timeout: 5)]) }.validate())
        assertInvalid(try base { $0.hooks = Hooks(poststop: [Hook(path: "true")]) }, path: "hooks.poststop[0].path", message: "absolute")
        assertInvalid(
            try base { $0.hooks = Hooks(createRuntime: [Hook(path: "/bin/true", timeout: 0)]) },
            path: "hooks.createRuntime[0].timeout", message: "greater than 0")
        assertInvalid(
            try base { $0.hooks = Hooks(startContainer: [Hook(path: "/bin/true", env: ["NOEQUALS"])]) },
            path: "hooks.startContainer[0].env[0]", message: "KEY=VALUE")
    }

    func testOOMScoreSysctlsAndCgroupsPathAreCheckedByName() throws {
        assertInvalid(try base { $0.process?.oomScoreAdj = 1001 }, path: "process.oomScoreAdj", message: "must be in -1000...1000")
        XCTAssertNoThrow(try base { $0.process?.oomScoreAdj = -500 }.validate())
        assertInvalid(
            try base { $0.linux?.sysctl = ["vm.swappiness": "1"] }, path: "linux.sysctl.vm.swappiness",
            message: "not a namespaced sysctl")
        assertInvalid(try base { $0.linux?.sysctl = ["net..x": "1"] }, path: "linux.sysctl.net..x", message: "not a sysctl name")
        assertInvalid(
            try base {
                $0.linux?.sysctl = ["kernel.sem": "1 2 3 4"]
                $0.linux?.namespaces?.removeAll { $0.type == "ipc" }
            }, path: "linux.sysctl.kernel.sem", message: "needs a ipc namespace")
        XCTAssertNoThrow(
            try base { $0.linux?.sysctl = ["net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20"] }.validate())
        assertInvalid(try base { $0.linux?.cgroupsPath = "/a/../../b" }, path: "linux.cgroupsPath", message: "must not contain")
        assertInvalid(try base { $0.linux?.cgroupsPath = "system.slice:aegis:x" }, path: "linux.cgroupsPath", message: "systemd")
        XCTAssertNoThrow(try base { $0.linux?.cgroupsPath = "/rtvtest/x" }.validate())
    }

    func testDeviceRulesAreKeptAndReported() throws {
        // runc's default deny-all rule is accepted and does not allow all devices.
        let spec = try validBaseline()
        XCTAssertNoThrow(try spec.validate())
        XCTAssertEqual(spec.linux?.resources?.allowsAllDevices, false)
        let allowAll = try base {
            $0.linux?.resources?.devices?.append(LinuxDeviceCgroup(allow: true, access: "rwm"))
        }
        XCTAssertNoThrow(try allowAll.validate())
        XCTAssertEqual(allowAll.linux?.resources?.allowsAllDevices, true)
        let narrow = try base {
            $0.linux?.resources?.devices?.append(LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rwm"))
        }
        XCTAssertEqual(narrow.linux?.resources?.allowsAllDevices, false)
        assertInvalid(
            try base { $0.linux?.resources?.devices?.append(LinuxDeviceCgroup(allow: true, type: "x")) },
            path: "linux.resources.devices[1].type", message: "unknown device type \"x\"")
        assertInvalid(
            try base { $0.linux?.resources?.devices?.append(LinuxDeviceCgroup(allow: true, access: "rwx")) },
            path: "linux.resources.devices[1].access", message: "invalid access \"rwx\"")
    }

    func testMemoryAndCPULimits() throws {
        func memory(_ m: LinuxMemory) throws -> Spec { try base { $0.linux?.resources?.memory = m } }
        func cpu(_ c: LinuxCPU) throws -> Spec { try base { $0.linux?.resources?.cpu = c } }
        let path = "linux.resources.memory.swap"
        assertInvalid(try memory(LinuxMemory(swap: 1 << 30)), path: path, message: "requires memory.limit")
        assertInvalid(try memory(LinuxMemory(limit: 1 << 30, swap: 1 << 29)), path: path, message: "less than memory.limit")
        assertInvalid(try memory(LinuxMemory(limit: -1, swap: 1 << 29)), path: path, message: "finite memory.limit")
        assertInvalid(try memory(LinuxMemory(limit: -5)), path: "linux.resources.memory.limit", message: "got -5")
        XCTAssertNoThrow(try memory(LinuxMemory(limit: 1 << 30, swap: -1)).validate())
        XCTAssertNoThrow(try memory(LinuxMemory(limit: 1 << 30, swap: 1 << 30)).validate())
        XCTAssertNoThrow(try memory(LinuxMemory(limit: 1 << 30, swap: 1 << 31)).validate())

        assertInvalid(try cpu(LinuxCPU(shares: 1)), path: "linux.resources.cpu.shares", message: "2...262144, got 1")
        assertInvalid(try cpu(LinuxCPU(shares: 262_145)), path: "linux.resources.cpu.shares", message: "got 262145")
        assertInvalid(try cpu(LinuxCPU(quota: 500)), path: "linux.resources.cpu.quota", message: "at least 1000")
        assertInvalid(try cpu(LinuxCPU(quota: 50_000, period: 2_000_000)), path: "linux.resources.cpu.period", message: "1000...1000000")
        XCTAssertNoThrow(try cpu(LinuxCPU(shares: 2, quota: 50_000)).validate(), "quota without period is fine")
        XCTAssertNoThrow(try cpu(LinuxCPU(shares: 262_144, quota: -1, period: 100_000)).validate())

        assertInvalid(try base { $0.linux?.resources?.pids = LinuxPids(limit: -2) }, path: "linux.resources.pids.limit", message: "got -2")
        XCTAssertNoThrow(try base { $0.linux?.resources?.pids = LinuxPids(limit: 64) }.validate())
    }

    func testSeccompNames() throws {
        func seccomp(_ s: LinuxSeccomp) throws -> Spec { try base { $0.linux?.seccomp = s } }
        let rules = (0..<3).map { LinuxSyscall(names: ["s\($0)"], action: "SCMP_ACT_ALLOW") }
        XCTAssertNoThrow(
            try seccomp(
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    flags: ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], syscalls: rules)
            ).validate())
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_NOPE")), path: "linux.seccomp.defaultAction",
            message: "unknown seccomp action \"SCMP_ACT_NOPE\"")
        assertInvalid(
            try seccomp(
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: rules + [LinuxSyscall(names: ["open"], action: "SCMP_ACT_FOO")])),
            path: "linux.seccomp.syscalls[3].action", message: "unknown seccomp action \"SCMP_ACT_FOO\"")
        assertInvalid(
            try seccomp(
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: [LinuxSyscall(names: ["open"], action: "SCMP_ACT_NOTIFY")])),
            path: "linux.seccomp.syscalls[0].action", message: "SCMP_ACT_NOTIFY is not supported")
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"])),
            path: "linux.seccomp.architectures[1]", message: "unknown seccomp architecture \"SCMP_ARCH_Z80\"")
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", flags: ["SECCOMP_FILTER_FLAG_MAGIC"])),
            path: "linux.seccomp.flags[0]", message: "unknown seccomp flag")
        let badOp = LinuxSyscall(
            names: ["personality"], action: "SCMP_ACT_ALLOW",
            args: [
                LinuxSeccompArg(index: 0, value: 8, op: "SCMP_CMP_EQ"),
                LinuxSeccompArg(index: 0, value: 8, op: "SCMP_CMP_SIMILAR"),
            ])
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [badOp])),
            path: "linux.seccomp.syscalls[0].args[1].op", message: "unknown seccomp operator \"SCMP_CMP_SIMILAR\"")
        let badIndex = LinuxSyscall(names: ["x"], action: "SCMP_ACT_ALLOW", args: [LinuxSeccompArg(index: 6, value: 0, op: "SCMP_CMP_EQ")])
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [badIndex])),
            path: "linux.seccomp.syscalls[0].args[0].index", message: "0...5")
        assertInvalid(
            try seccomp(LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [LinuxSyscall(names: [], action: "SCMP_ACT_ALLOW")])),
            path: "linux.seccomp.syscalls[0].names", message: "must not be empty")
    }

    func testRlimits() throws {
        func rlimits(_ r: [POSIXRlimit]) throws -> Spec { try base { $0.process?.rlimits = r } }
        assertInvalid(
            try rlimits([POSIXRlimit(type: "RLIMIT_NOFILE", hard: 10, soft: 10), POSIXRlimit(type: "RLIMIT_FOO", hard: 1, soft: 1)]),
            path: "process.rlimits[1].type", message: "unknown rlimit type \"RLIMIT_FOO\"")
        assertInvalid(
            try rlimits([POSIXRlimit(type: "RLIMIT_NOFILE", hard: 10, soft: 11)]),
            path: "process.rlimits[0].soft", message: "exceeds hard limit")
        assertInvalid(
            try rlimits([POSIXRlimit(type: "RLIMIT_CORE", hard: 0, soft: 0), POSIXRlimit(type: "RLIMIT_CORE", hard: 1, soft: 1)]),
            path: "process.rlimits[1].type", message: "duplicate rlimit type")
        // The resource numbers match glibc's <sys/resource.h>.
        let glibc: [String: Int32] = [
            "RLIMIT_CPU": Int32(RLIMIT_CPU.rawValue), "RLIMIT_FSIZE": Int32(RLIMIT_FSIZE.rawValue),
            "RLIMIT_DATA": Int32(RLIMIT_DATA.rawValue), "RLIMIT_STACK": Int32(RLIMIT_STACK.rawValue),
            "RLIMIT_CORE": Int32(RLIMIT_CORE.rawValue), "RLIMIT_RSS": Int32(__RLIMIT_RSS.rawValue),
            "RLIMIT_NPROC": Int32(__RLIMIT_NPROC.rawValue), "RLIMIT_NOFILE": Int32(RLIMIT_NOFILE.rawValue),
            "RLIMIT_MEMLOCK": Int32(__RLIMIT_MEMLOCK.rawValue), "RLIMIT_AS": Int32(RLIMIT_AS.rawValue),
            "RLIMIT_LOCKS": Int32(__RLIMIT_LOCKS.rawValue), "RLIMIT_SIGPENDING": Int32(__RLIMIT_SIGPENDING.rawValue),
            "RLIMIT_MSGQUEUE": Int32(__RLIMIT_MSGQUEUE.rawValue), "RLIMIT_NICE": Int32(__RLIMIT_NICE.rawValue),
            "RLIMIT_RTPRIO": Int32(__RLIMIT_RTPRIO.rawValue), "RLIMIT_RTTIME": Int32(__RLIMIT_RTTIME.rawValue),
        ]
        XCTAssertEqual(POSIXRlimit.knownTypes, glibc)
        XCTAssertEqual(POSIXRlimit.knownTypes.count, Int(__RLIMIT_NLIMITS.rawValue))
    }

    func testCapabilities() throws {
        assertInvalid(
            try base { $0.process?.capabilities?.permitted?.append("CAP_FLY") },
            path: "process.capabilities.permitted[3]", message: "unknown capability \"CAP_FLY\"")
        assertInvalid(
            try base { $0.process?.capabilities?.inheritable = ["cap_kill"] },
            path: "process.capabilities.inheritable[0]", message: "unknown capability")
        XCTAssertNoThrow(try base { $0.process?.capabilities?.bounding = LinuxCapabilities.knownNames }.validate())
        // The name table matches the kernel UAPI header installed on this machine.
        var fromHeader: [UInt64: String] = [:]
        for (name, n) in try defines(in: "/usr/include/linux/capability.h", prefix: "CAP_") where name != "CAP_LAST_CAP" {
            fromHeader[n] = name
        }
        XCTAssertEqual(fromHeader.count, LinuxCapabilities.knownNames.count)
        for (n, name) in LinuxCapabilities.knownNames.enumerated() {
            XCTAssertEqual(fromHeader[UInt64(n)], name, "capability \(n)")
            XCTAssertEqual(LinuxCapabilities.number(of: name), n)
        }
    }

    func testRootfsPropagationAndPaths() throws {
        assertInvalid(
            try base { $0.linux?.rootfsPropagation = "sideways" }, path: "linux.rootfsPropagation", message: "unknown propagation")
        XCTAssertNoThrow(try base { $0.linux?.rootfsPropagation = "rshared" }.validate())
        XCTAssertNoThrow(try base { $0.linux?.rootfsPropagation = "unbindable" }.validate())
        assertInvalid(
            try base { $0.linux?.devices = [LinuxDevice(path: "/dev/../x", type: "c", major: 1, minor: 1)] },
            path: "linux.devices[0].path", message: "without \"..\"")
        assertInvalid(
            try base { $0.linux?.devices = [LinuxDevice(path: "/dev/x", type: "q", major: 1, minor: 1)] },
            path: "linux.devices[0].type", message: "unknown device type")
        assertInvalid(
            try base { $0.linux?.devices = [LinuxDevice(path: "/dev/x", type: "c", minor: 1)] },
            path: "linux.devices[0].major", message: "required")
        XCTAssertNoThrow(try base { $0.linux?.devices = [LinuxDevice(path: "/dev/fuse", type: "c", major: 10, minor: 229)] }.validate())
        XCTAssertNoThrow(try base { $0.linux?.rootfsPropagation = "rslave" }.validate())
        assertInvalid(try base { $0.linux?.maskedPaths?.append("proc/x") }, path: "linux.maskedPaths[10]", message: "absolute path")
        assertInvalid(try base { $0.linux?.readonlyPaths = ["sys"] }, path: "linux.readonlyPaths[0]", message: "absolute path")
    }

    func testFirstErrorInDocumentOrderWins() throws {
        let spec = try base {
            $0.process?.cwd = "relative"
            $0.linux?.namespaces?.append(LinuxNamespace(type: "bogus"))
        }
        assertInvalid(spec, path: "process.cwd", message: "absolute")
    }

    /// `#define NAME value` lines of a C header whose value is a decimal or 0x number.
    private func defines(in header: String, prefix: String) throws -> [String: UInt64] {
        let text = try String(contentsOfFile: header, encoding: .utf8)
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 3, parts[0] == "#define", parts[1].hasPrefix(prefix) else { continue }
            let v = parts[2]
            if v.hasPrefix("0x"), let n = UInt64(v.dropFirst(2), radix: 16) {
                out[String(parts[1])] = n
            } else if let n = UInt64(v) {
                out[String(parts[1])] = n
            }
        }
        return out
    }
}
