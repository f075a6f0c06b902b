import AegisOCI
@testable import AegisSeccomp
import CAegisShim
import Foundation
import XCTest

final class SeccompCompilerTests: XCTestCase {
    func testDefaultProfileCompilesWithoutWarnings() throws {
        var warnings: [String] = []
        let start = DispatchTime.now().uptimeNanoseconds
        let program = try SeccompCompiler.compile(DefaultSeccompProfile.profile) { warnings.append($0) }
        let micros = (DispatchTime.now().uptimeNanoseconds - start) / 1000
        print(
            "default profile: \(program.count) instructions (prefix \(program.enosysPrefixCount)), compiled in \(micros) µs with libseccomp \(SeccompCompiler.libseccompVersion)"
        )
        XCTAssertEqual(warnings, [], "every name in the default profile should be known to libseccomp")
        XCTAssertEqual(program.warnings, warnings)
        XCTAssertGreaterThan(program.count, 50)
        XCTAssertLessThanOrEqual(program.count, 4096)
        XCTAssertGreaterThan(program.enosysPrefixCount, 0)
        XCTAssertEqual(program.bytes.count, program.count * 8)
        XCTAssertEqual(try SeccompProgram(bytes: program.bytes, enosysPrefixCount: program.enosysPrefixCount), program)
        // The prefix starts by loading seccomp_data.arch; the last instruction of the program returns.
        XCTAssertEqual(program.instructions[0].code, 0x20)
        XCTAssertEqual(program.instructions[0].k, 4)
        XCTAssertEqual(program.instructions.last?.code, 0x06)
        program.withUnsafeFilter { ptr, len in
            XCTAssertEqual(Int(len), program.count)
            XCTAssertEqual(ptr[0].k, 4)
        }
        program.withUnsafeFprog { XCTAssertEqual(Int($0.pointee.len), program.count) }
    }

    #if arch(x86_64)
    /// Runs the compiled default profile through a BPF interpreter for each ABI.
    func testDefaultProfileDecisions() throws {
        let program = try SeccompCompiler.compile(DefaultSeccompProfile.profile)
        func decide(_ nr: Int32, arch: UInt32 = Audit.x86_64, arg0: UInt64 = 0) throws -> UInt32 {
            var data = SeccompData(nr: nr, arch: arch)
            data.args[0] = arg0
            return try runBPF(program.instructions, data)
        }
        let maxNamed = try XCTUnwrap(
            DefaultSeccompProfile.profile.syscalls?.flatMap(\.names)
                .map { seccomp_syscall_resolve_name_arch(Audit.x86_64, $0) }.max())
        // x86_64
        XCTAssertEqual(try decide(0), Ret.allow, "read")
        XCTAssertEqual(try decide(59), Ret.allow, "execve")
        XCTAssertEqual(try decide(101), Ret.eperm, "ptrace")
        XCTAssertEqual(try decide(272), Ret.eperm, "unshare")
        XCTAssertEqual(try decide(425), Ret.eperm, "io_uring_setup")
        XCTAssertEqual(try decide(139), Ret.eperm, "sysfs: not named, below the maximum → default")
        XCTAssertEqual(try decide(435), Ret.enosys, "clone3")
        XCTAssertEqual(try decide(maxNamed), Ret.allow, "highest named syscall (fchmodat2) is allowed")
        XCTAssertEqual(try decide(maxNamed + 1), Ret.enosys, "first syscall above the profile")
        XCTAssertEqual(try decide(1000), Ret.enosys)
        XCTAssertEqual(try decide(-1), Ret.enosys, "nr -1 compares as 0xffffffff")
        XCTAssertEqual(try decide(56, arg0: 0x11), Ret.allow, "clone(SIGCHLD)")
        XCTAssertEqual(try decide(56, arg0: 0x003d_0f00), Ret.allow, "clone with thread flags")
        XCTAssertEqual(try decide(56, arg0: 0x1000_0011), Ret.eperm, "clone(CLONE_NEWUSER)")
        XCTAssertEqual(try decide(56, arg0: 0x0002_0011), Ret.eperm, "clone(CLONE_NEWNS)")
        XCTAssertEqual(try decide(56, arg0: 0x80 | 0x11), Ret.eperm, "clone(CLONE_NEWTIME)")
        XCTAssertEqual(try decide(135, arg0: 0), Ret.allow, "personality(PER_LINUX)")
        XCTAssertEqual(try decide(135, arg0: 0xffff_ffff), Ret.allow, "personality query")
        XCTAssertEqual(try decide(135, arg0: 0x0040_0000), Ret.eperm, "personality(ADDR_NO_RANDOMIZE)")
        // i386 (int 0x80 from any process)
        XCTAssertEqual(try decide(20, arch: Audit.i386), Ret.allow, "i386 getpid")
        XCTAssertEqual(try decide(102, arch: Audit.i386), Ret.allow, "i386 socketcall")
        XCTAssertEqual(try decide(26, arch: Audit.i386), Ret.eperm, "i386 ptrace")
        XCTAssertEqual(try decide(166, arch: Audit.i386), Ret.eperm, "i386 vm86")
        XCTAssertEqual(try decide(435, arch: Audit.i386), Ret.enosys, "i386 clone3")
        XCTAssertEqual(try decide(1000, arch: Audit.i386), Ret.enosys)
        // x32: AUDIT_ARCH_X86_64 with bit 30 in nr
        XCTAssertEqual(try decide(Audit.x32Bit | 39, arch: Audit.x86_64), Ret.allow, "x32 getpid")
        XCTAssertEqual(try decide(Audit.x32Bit | 521, arch: Audit.x86_64), Ret.eperm, "x32 ptrace")
        XCTAssertEqual(try decide(Audit.x32Bit | 435, arch: Audit.x86_64), Ret.enosys, "x32 clone3")
        XCTAssertEqual(try decide(Audit.x32Bit | 1000, arch: Audit.x86_64), Ret.enosys)
        // Other architectures are libseccomp's business (bad-arch action: kill).
        XCTAssertEqual(try decide(0, arch: Audit.aarch64), 0, "SECCOMP_RET_KILL_THREAD")
    }

    func testWithoutPrefixNewSyscallsGetTheDefaultAction() throws {
        let program = try SeccompCompiler.compile(DefaultSeccompProfile.profile, enosysForNewSyscalls: false)
        XCTAssertEqual(program.enosysPrefixCount, 0)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 1000, arch: Audit.x86_64)), Ret.eperm)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 435, arch: Audit.x86_64)), Ret.enosys)
        let with = try SeccompCompiler.compile(DefaultSeccompProfile.profile)
        XCTAssertEqual(
            Array(with.instructions[with.enosysPrefixCount...]).count, program.count,
            "the prefix is prepended to an unchanged libseccomp program")
    }

    func testX32WithoutX32InTheFilterIsLeftToLibseccomp() throws {
        let profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [LinuxSyscall(names: ["read", "getpid"], action: "SCMP_ACT_ALLOW")])
        let program = try SeccompCompiler.compile(profile)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 39, arch: Audit.x86_64)), Ret.allow)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 40, arch: Audit.x86_64)), Ret.enosys)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 1, arch: Audit.x86_64)), Ret.eperm)
        // x32 numbers are not ENOSYS'd by the prefix: libseccomp's bad-arch handling decides.
        let x32 = try runBPF(program.instructions, SeccompData(nr: Audit.x32Bit | 39, arch: Audit.x86_64))
        XCTAssertNotEqual(x32, Ret.enosys)
        XCTAssertNotEqual(x32, Ret.allow)
    }
    #endif

    func testAllowDefaultHasNoPrefix() throws {
        let profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ALLOW",
            syscalls: [LinuxSyscall(names: ["ptrace"], action: "SCMP_ACT_ERRNO")])
        let program = try SeccompCompiler.compile(profile)
        XCTAssertEqual(program.enosysPrefixCount, 0)
        #if arch(x86_64)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 1000, arch: Audit.x86_64)), Ret.allow)
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 101, arch: Audit.x86_64)), Ret.eperm)
        #endif
    }

    func testUnknownSyscallNameIsSkippedWithWarning() throws {
        let profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO",
            syscalls: [
                LinuxSyscall(names: ["read", "aegis_no_such_syscall", "write"], action: "SCMP_ACT_ALLOW")
            ])
        var warnings: [String] = []
        let program = try SeccompCompiler.compile(profile) { warnings.append($0) }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("linux.seccomp.syscalls[0]"), warnings[0])
        XCTAssertTrue(warnings[0].contains("aegis_no_such_syscall"), warnings[0])
        XCTAssertEqual(program.warnings, warnings)
        // The other names of the entry still apply.
        XCTAssertEqual(try runBPF(program.instructions, SeccompData(nr: 1, arch: seccomp_arch_native())), Ret.allow)
    }

    func testRuleEqualToDefaultIsSkipped() throws {
        // libseccomp rejects such a rule with EACCES; the compiler drops it.
        let base = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
            syscalls: [LinuxSyscall(names: ["read"], action: "SCMP_ACT_ALLOW")])
        var withDup = base
        withDup.syscalls?.append(LinuxSyscall(names: ["openat"], action: "SCMP_ACT_ERRNO", errnoRet: 1))
        let a = try SeccompCompiler.compile(base, enosysForNewSyscalls: false)
        let b = try SeccompCompiler.compile(withDup, enosysForNewSyscalls: false)
        XCTAssertEqual(a, b)
        #if arch(x86_64)
        // …but the name still counts for the ENOSYS maximum.
        let c = try SeccompCompiler.compile(withDup)
        XCTAssertEqual(try runBPF(c.instructions, SeccompData(nr: 257, arch: Audit.x86_64)), Ret.eperm, "openat")
        XCTAssertEqual(try runBPF(c.instructions, SeccompData(nr: 258, arch: Audit.x86_64)), Ret.enosys)
        #endif
    }

    func testErrorsNameTheField() {
        func error(_ profile: LinuxSeccomp) -> SeccompError? {
            do { _ = try SeccompCompiler.compile(profile); return nil } catch let e as SeccompError { return e } catch {
                XCTFail("unexpected \(error)"); return nil
            }
        }
        let read = ["read"]
        let cases: [(LinuxSeccomp, String, String)] = [
            (
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: [
                        LinuxSyscall(names: read, action: "SCMP_ACT_ALLOW"),
                        LinuxSyscall(names: ["write"], action: "SCMP_ACT_ERRNO", errnoRet: 70000),
                    ]),
                "linux.seccomp.syscalls[1].action", "out of range"
            ),
            (
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: [
                        LinuxSyscall(
                            names: read, action: "SCMP_ACT_ALLOW", args: [LinuxSeccompArg(index: 0, value: 1, op: "SCMP_CMP_BOGUS")])
                    ]),
                "linux.seccomp.syscalls[0].args[0].op", "SCMP_CMP_BOGUS"
            ),
            (
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: [
                        LinuxSyscall(names: read, action: "SCMP_ACT_ALLOW", args: [LinuxSeccompArg(index: 6, value: 1, op: "SCMP_CMP_EQ")])
                    ]),
                "linux.seccomp.syscalls[0].args[0].index", "0…5"
            ),
            (
                LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO",
                    syscalls: [
                        LinuxSyscall(
                            names: read, action: "SCMP_ACT_ALLOW",
                            args: [
                                LinuxSeccompArg(index: 0, value: 1, op: "SCMP_CMP_EQ"),
                                LinuxSeccompArg(index: 0, value: 2, op: "SCMP_CMP_EQ"),
                            ])
                    ]),
                "linux.seccomp.syscalls[0]", "seccomp_rule_add(read, SCMP_ACT_ALLOW): EINVAL (22)"
            ),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [LinuxSyscall(names: read, action: "SCMP_ACT_MAYBE")]),
                "linux.seccomp.syscalls[0].action", "SCMP_ACT_MAYBE"
            ),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [LinuxSyscall(names: read, action: "SCMP_ACT_ALLOW", errnoRet: 5)]),
                "linux.seccomp.syscalls[0].action", "only valid with"
            ),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", syscalls: [LinuxSyscall(names: [], action: "SCMP_ACT_ALLOW")]),
                "linux.seccomp.syscalls[0].names", "empty"
            ),
            (LinuxSeccomp(defaultAction: "SCMP_ACT_NOPE"), "linux.seccomp.defaultAction", "SCMP_ACT_NOPE"),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
                "linux.seccomp.architectures[1]", "SCMP_ARCH_VAX"
            ),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", flags: ["SECCOMP_FILTER_FLAG_NOPE"]),
                "linux.seccomp.flags[0]", "SECCOMP_FILTER_FLAG_NOPE"
            ),
            (
                LinuxSeccomp(defaultAction: "SCMP_ACT_ERRNO", listenerPath: "/run/listener.sock"),
                "linux.seccomp.listenerPath", "not supported"
            ),
        ]
        for (profile, field, fragment) in cases {
            guard let e = error(profile) else { XCTFail("no error for \(field) (\(fragment))"); continue }
            XCTAssertEqual(e.field, field, e.description)
            XCTAssertTrue(e.description.contains(fragment), "\(e.description) lacks \(fragment)")
        }
    }

    func testActionsAndFlags() throws {
        let profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_KILL_PROCESS", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            syscalls: [
                LinuxSyscall(names: ["read"], action: "SCMP_ACT_ALLOW"),
                LinuxSyscall(names: ["write"], action: "SCMP_ACT_ERRNO", errnoRet: 13),
                LinuxSyscall(names: ["open"], action: "SCMP_ACT_TRAP"),
                LinuxSyscall(names: ["close"], action: "SCMP_ACT_LOG"),
                LinuxSyscall(names: ["stat"], action: "SCMP_ACT_TRACE", errnoRet: 7),
                LinuxSyscall(names: ["fstat"], action: "SCMP_ACT_KILL"),
                LinuxSyscall(names: ["lstat"], action: "SCMP_ACT_KILL_THREAD"),
                LinuxSyscall(
                    names: ["mmap"], action: "SCMP_ACT_ALLOW",
                    args: [LinuxSeccompArg(index: 1, value: 0xff, valueTwo: 0x10, op: "SCMP_CMP_MASKED_EQ")]),
            ])
        let program = try SeccompCompiler.compile(profile)
        XCTAssertEqual(program.installFlags, 1 | 2 | 4)
        #if arch(x86_64)
        func decide(_ nr: Int32, arg1: UInt64 = 0) throws -> UInt32 {
            var d = SeccompData(nr: nr, arch: Audit.x86_64)
            d.args[1] = arg1
            return try runBPF(program.instructions, d)
        }
        XCTAssertEqual(try decide(0), Ret.allow)
        XCTAssertEqual(try decide(1), Ret.errno(13))
        XCTAssertEqual(try decide(2), 0x0003_0000)
        XCTAssertEqual(try decide(3), 0x7ffc_0000)
        XCTAssertEqual(try decide(4), 0x7ff0_0007)
        XCTAssertEqual(try decide(5), 0)
        XCTAssertEqual(try decide(6), 0)
        XCTAssertEqual(try decide(9, arg1: 0x310), Ret.allow, "mmap with (arg1 & 0xff) == 0x10")
        XCTAssertEqual(try decide(9, arg1: 0x311), 0x8000_0000)
        XCTAssertEqual(try decide(8), 0x8000_0000, "unnamed below the maximum: kill process")
        XCTAssertEqual(try decide(10), Ret.enosys, "above the maximum (9)")
        #endif
    }
}
