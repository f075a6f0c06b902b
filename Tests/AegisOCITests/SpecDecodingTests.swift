import XCTest
import Glibc
import Foundation
@testable import AegisOCI
import AegisProtocol

final class SpecDecodingTests: XCTestCase {
    func testDecodesRuncDefaultConfig() throws {
        let spec = try decodeRuncDefault()
        XCTAssertEqual(spec.ociVersion, "1.0.2-dev")
        let process = try XCTUnwrap(spec.process)
        XCTAssertEqual(process.terminal, true)
        XCTAssertEqual(process.user, User(uid: 0, gid: 0))
        XCTAssertEqual(process.args, ["sh"])
        XCTAssertEqual(process.env?.last, "TERM=xterm")
        XCTAssertEqual(process.cwd, "/")
        XCTAssertEqual(process.capabilities?.bounding, ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        XCTAssertNil(process.capabilities?.inheritable)
        XCTAssertEqual(process.rlimits, [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)])
        XCTAssertEqual(process.rlimits?.first?.resource, Int32(RLIMIT_NOFILE.rawValue))
        XCTAssertEqual(process.noNewPrivileges, true)
        XCTAssertEqual(spec.root, Root(path: "rootfs", readonly: true))
        XCTAssertEqual(spec.hostname, "runc")
        XCTAssertEqual(
            spec.mounts?.map(\.destination),
            ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"])
        XCTAssertEqual(spec.mounts?[2].options, ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        XCTAssertNil(spec.mounts?[0].options)
        let linux = try XCTUnwrap(spec.linux)
        XCTAssertEqual(linux.resources?.devices, [LinuxDeviceCgroup(allow: false, access: "rwm")])
        XCTAssertEqual(linux.resources?.allowsAllDevices, false)
        XCTAssertEqual(linux.namespaces?.map(\.type), ["pid", "network", "ipc", "uts", "mount", "cgroup"])
        XCTAssertEqual(linux.maskedPaths?.count, 10)
        XCTAssertEqual(linux.readonlyPaths?.last, "/proc/sysrq-trigger")
        XCTAssertNil(spec.hooks)
        XCTAssertNil(linux.seccomp)
    }

    func testRoundTripOfRuncDefault() throws {
        let spec = try decodeRuncDefault()
        for pretty in [false, true] {
            let bytes = try spec.jsonBytes(pretty: pretty)
            XCTAssertEqual(try Spec.decode(bytes), spec)
        }
        // Foundation's JSONDecoder reads what we write, too (JSONValue's generic decoding path).
        let viaFoundation = try JSONDecoder().decode(Spec.self, from: Data(try spec.jsonBytes()))
        XCTAssertEqual(viaFoundation, spec)
    }

    /// A spec built in Swift with every kind of field set survives encode → decode, and the encoded
    /// JSON uses the OCI key names.
    func testRoundTripOfFullSpecUsesOCIKeyNames() throws {
        let spec = fullSpec()
        let bytes = try spec.jsonBytes(pretty: true)
        XCTAssertEqual(try Spec.decode(bytes), spec)
        XCTAssertEqual(try Spec.decode(Data(bytes)), spec)

        guard case .object(let top) = try JSONValue.parse(bytes),
            case .object(let linux)? = top["linux"],
            case .array(let uidMaps)? = linux["uidMappings"],
            case .object(let map0)? = uidMaps.first,
            case .object(let process)? = top["process"],
            case .object(let resources)? = linux["resources"],
            case .object(let memory)? = resources["memory"],
            case .object(let seccomp)? = linux["seccomp"]
        else {
            return XCTFail("unexpected encoded shape: \(String(decoding: bytes, as: UTF8.self))")
        }
        XCTAssertEqual(Set(map0.keys), ["containerID", "hostID", "size"])
        XCTAssertNotNil(process["noNewPrivileges"])
        XCTAssertNotNil(process["oomScoreAdj"])
        XCTAssertNotNil(memory["disableOOMKiller"])
        XCTAssertNotNil(memory["kernelTCP"])
        XCTAssertNotNil(seccomp["defaultErrnoRet"])
        XCTAssertNotNil(top["domainname"])
        XCTAssertNil(process["commandLine"], "nil optionals are omitted")
        // 2^64-1 survives exactly (it does not fit a Double).
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains("18446744073709551615"))
    }

    func testTypeErrorNamesJSONPath() throws {
        let e = loadError(#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"uts"},{"type":3}]}}"#)
        XCTAssertEqual(e?.reason, .invalidField(path: "linux.namespaces[2].type", detail: "expected string, found number 3"))
        XCTAssertEqual(e?.description, "bundle/config.json: linux.namespaces[2].type: expected string, found number 3")
    }

    func testMissingRequiredFieldNamesObjectAndKey() {
        let e = loadError(#"{"ociVersion":"1.0.0","root":{"readonly":true}}"#)
        XCTAssertEqual(e?.reason, .invalidField(path: "root", detail: "missing required field \"path\""))
        let top = loadError(#"{"process":{"args":["sh"],"cwd":"/"}}"#)
        XCTAssertEqual(top?.reason, .invalidField(path: "(top level)", detail: "missing required field \"ociVersion\""))
    }

    func testNullAndWrongContainerKinds() {
        XCTAssertEqual(
            loadError(#"{"ociVersion":null}"#)?.reason,
            .invalidField(path: "ociVersion", detail: "expected string, found null"))
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1.0.0","mounts":{"destination":"/x"}}"#)?.reason,
            .invalidField(path: "mounts", detail: "expected array, found object"))
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1.0.0","process":{"args":"sh","cwd":"/"}}"#)?.reason,
            .invalidField(path: "process.args", detail: "expected array, found string"))
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1.0.0","root":{"path":"r","readonly":"yes"}}"#)?.reason,
            .invalidField(path: "root.readonly", detail: "expected boolean, found string"))
        XCTAssertEqual(loadError("[]")?.reason, .invalidField(path: "(top level)", detail: "expected object, found array"))
    }

    func testIntegerRangeAndFractionErrorsKeepThePath() {
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1","process":{"user":{"uid":-1,"gid":0},"cwd":"/"}}"#)?.reason,
            .invalidField(path: "process.user.uid", detail: "expected integer in 0...4294967295, found -1"))
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1","process":{"cwd":"/","rlimits":[{"type":"RLIMIT_CPU","hard":1.5,"soft":1}]}}"#)?.reason,
            .invalidField(path: "process.rlimits[0].hard", detail: "expected integer, found number 1.5"))
        XCTAssertEqual(
            loadError(
                #"{"ociVersion":"1","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551616,"op":"SCMP_CMP_EQ"}]}]}}}"#
            )?.reason,
            .invalidField(
                path: "linux.seccomp.syscalls[0].args[0].value",
                detail: "expected integer in 0...18446744073709551615, found 18446744073709551616"))
    }

    func testDictionaryKeysInPathsAreQuoted() {
        XCTAssertEqual(
            loadError(#"{"ociVersion":"1","annotations":{"org.example.key":5}}"#)?.reason,
            .invalidField(path: #"annotations["org.example.key"]"#, detail: "expected string, found number 5"))
    }

    func testMalformedJSONGivesLineAndColumn() throws {
        let json = "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {,}\n}\n"
        let e = try XCTUnwrap(loadError(json))
        let thirdLine = json.split(separator: "\n", omittingEmptySubsequences: false)[2]
        let column = thirdLine.distance(from: thirdLine.startIndex, to: thirdLine.firstIndex(of: ",")!) + 1
        guard case .malformed(let line, let col, let detail) = e.reason else { return XCTFail("\(e)") }
        XCTAssertEqual(line, 3)
        XCTAssertEqual(col, column)
        XCTAssertTrue(detail.contains("','"), detail)
        XCTAssertTrue(e.description.hasPrefix("bundle/config.json: malformed JSON at line 3, column \(column): "), e.description)
    }

    func testMalformedVariants() throws {
        func position(_ json: String) -> (Int, Int, String)? {
            guard case .malformed(let l, let c, let d)? = loadError(json)?.reason else { return nil }
            return (l, c, d)
        }
        // Truncated document: the error is at the end of input.
        let truncated = position("{\n\"ociVersion\": \"1\"")
        XCTAssertEqual(truncated?.0, 2)
        XCTAssertTrue(truncated?.2.contains("end of input") ?? false)
        // Trailing comma in an array: reported at the ']'.
        XCTAssertEqual(position(#"{"mounts": [1,]}"#).map { [$0.0, $0.1] }, [1, 15])
        // Columns count characters, not bytes: "é" is two bytes.
        XCTAssertEqual(position("{\"é\": tru}").map { [$0.0, $0.1] }, [1, 10])
        // Garbage after the document, an unterminated string, a bad escape, a leading zero.
        XCTAssertTrue(position(#"{"ociVersion":"1"} x"#)?.2.contains("after the end") ?? false)
        XCTAssertTrue(position(#"{"ociVersion":"1"#)?.2.contains("unterminated string") ?? false)
        XCTAssertTrue(position(#"{"ociVersion":"\q"}"#)?.2.contains("invalid escape") ?? false)
        XCTAssertTrue(position(#"{"n": 01}"#)?.2.contains("leading zero") ?? false)
        XCTAssertTrue(position("")?.2.contains("empty document") ?? false)
        XCTAssertTrue(position(String(repeating: "[", count: 600))?.2.contains("nesting deeper") ?? false)
    }

    func testStringEscapesAndUnicode() throws {
        let v = try JSONValue.parse(Array(#"["a\"b\\c\/d\u00e9\ud83d\ude00\n\t"]"#.utf8))
        XCTAssertEqual(v, .array([.string("a\"b\\c/dé😀\n\t")]))
        XCTAssertThrowsError(try JSONValue.parse(Array(#"["\ud83d"]"#.utf8)))
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xFF, 0x22]), "invalid UTF-8 in a string")
        XCTAssertThrowsError(try JSONValue.parse(Array("\"a\nb\"".utf8)), "raw control character in a string")
        XCTAssertEqual(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("true".utf8)), .bool(true))
    }

    func testLoadReadsConfigFromBundleDirectory() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        try writeFile(dir + "/config.json", runcDefaultConfig)
        XCTAssertEqual(try Spec.load(bundle: dir), try decodeRuncDefault())
        XCTAssertEqual(try Spec.load(bundle: dir + "/"), try decodeRuncDefault())
    }

    func testLoadErrorsNameFileAndErrno() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        XCTAssertThrowsError(try Spec.load(bundle: dir)) { error in
            let e = error as? SpecLoadError
            XCTAssertEqual(e?.reason, .unreadable(step: "open", errno: ENOENT))
            XCTAssertTrue(
                e?.description.hasPrefix("cannot read \(dir)/config.json: open: ENOENT (errno 2: ") ?? false,
                "\(error)")
        }
        XCTAssertEqual(mkdir(dir + "/config.json", 0o755), 0)
        XCTAssertThrowsError(try Spec.load(bundle: dir)) { error in
            XCTAssertEqual((error as? SpecLoadError)?.reason, .unreadable(step: "read", errno: EISDIR), "\(error)")
        }
        rmdir(dir + "/config.json")
        try writeFile(dir + "/config.json", "{\n\"ociVersion\": 1.0\n}")
        XCTAssertThrowsError(try Spec.load(bundle: dir)) { error in
            XCTAssertEqual("\(error)", "\(dir)/config.json: ociVersion: expected string, found number 1.0")
        }
    }

    func testMissingUserAndCwdDecodeAsGoZeroValues() throws {
        let spec = try Spec.decode(Array(#"{"ociVersion":"1.0.0","process":{"args":["true"]}}"#.utf8))
        XCTAssertEqual(spec.process?.user, User(uid: 0, gid: 0))
        XCTAssertEqual(spec.process?.cwd, "")
    }

    func testUnknownKeysAreIgnored() throws {
        // config.md § Extensibility: runtimes MUST ignore unknown properties.
        let spec = try Spec.decode(Array(#"{"ociVersion":"1.0.0","vm":{"x":1},"root":{"path":"r","extra":true}}"#.utf8))
        XCTAssertEqual(spec, Spec(ociVersion: "1.0.0", root: Root(path: "r")))
    }
}

/// A spec with at least one value in every struct, for round-trip tests.
func fullSpec() -> Spec {
    Spec(
        ociVersion: "1.2.0",
        process: SpecProcess(
            terminal: false, consoleSize: ConsoleSize(height: 24, width: 80),
            user: User(uid: 1000, gid: 1000, umask: 0o022, additionalGids: [5, 10], username: "agent"),
            args: ["/bin/agent", "--flag"], commandLine: nil, env: ["A=b"], cwd: "/work",
            capabilities: LinuxCapabilities(
                bounding: ["CAP_KILL"], effective: ["CAP_KILL"], inheritable: [],
                permitted: ["CAP_KILL"], ambient: []),
            rlimits: [POSIXRlimit(type: "RLIMIT_NOFILE", hard: 4096, soft: 1024)],
            noNewPrivileges: true, apparmorProfile: "p", oomScoreAdj: -500, selinuxLabel: "l",
            ioPriority: .object(["class": .string("IOPRIO_CLASS_IDLE"), "priority": .number("4")]),
            scheduler: .object(["policy": .string("SCHED_BATCH")]), execCPUAffinity: .object(["initial": .string("0-3")])),
        root: Root(path: "/var/lib/rootfs", readonly: false),
        hostname: "agent", domainname: "example",
        mounts: [
            Mount(
                destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"],
                uidMappings: [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)])
        ],
        hooks: Hooks(prestart: [Hook(path: "/bin/true", args: ["true"], env: ["X=1"], timeout: 5)]),
        annotations: ["org.example.tenant": "t1"],
        linux: Linux(
            namespaces: [LinuxNamespace(type: "pid"), LinuxNamespace(type: "network", path: "/proc/1/ns/net")],
            uidMappings: [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)],
            gidMappings: [LinuxIDMapping(containerID: 0, hostID: 100000, size: 65536)],
            sysctl: ["net.ipv4.ip_forward": "1"],
            resources: LinuxResources(
                devices: [LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rw")],
                memory: LinuxMemory(
                    limit: 1 << 30, reservation: 1 << 29, swap: 1 << 31, kernel: -1, kernelTCP: -1,
                    swappiness: 60, disableOOMKiller: false, useHierarchy: true, checkBeforeUpdate: true),
                cpu: LinuxCPU(
                    shares: 1024, quota: 50000, burst: 0, period: 100000, realtimeRuntime: 0,
                    realtimePeriod: 0, cpus: "0-1", mems: "0", idle: 0),
                pids: LinuxPids(limit: 128), blockIO: .object(["weight": .number("500")]),
                hugepageLimits: .array([]), network: .object(["classID": .null]), rdma: .object([:]), unified: ["memory.high": "1G"]),
            cgroupsPath: "/aegis/t1",
            seccomp: LinuxSeccomp(
                defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: ["SCMP_ARCH_X86_64"],
                flags: ["SECCOMP_FILTER_FLAG_LOG"],
                syscalls: [
                    LinuxSyscall(
                        names: ["ioctl"], action: "SCMP_ACT_ALLOW",
                        args: [LinuxSeccompArg(index: 1, value: 18_446_744_073_709_551_615, valueTwo: 7, op: "SCMP_CMP_MASKED_EQ")])
                ]),
            rootfsPropagation: "rslave", maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"], mountLabel: "m",
            intelRdt: .object(["closID": .string("x")]), personality: .object(["domain": .string("LINUX32")]),
            devices: [LinuxDevice(path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0)],
            timeOffsets: .object(["monotonic": .object(["secs": .number("1")])]),
            netDevices: .object(["eth1": .object([:])])))
}
