// OCI `linux.seccomp` → libseccomp filter context → classic-BPF program.
import Glibc
import CAegisShim
import AegisOCI
import AegisSystem

/// Compiles an OCI seccomp profile (runtime spec config-linux.md § Seccomp) into a classic-BPF
/// program with libseccomp (≥ 2.5), the way runc does:
///
/// - `seccomp_init(defaultAction)`; `SCMP_FLTATR_CTL_NNP` is cleared (the sandbox sets
///   no_new_privs itself, before installing the filter).
/// - every `architectures` entry (`SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`, `SCMP_ARCH_X32`,
///   `SCMP_ARCH_AARCH64`, …) is added; the native architecture is always present and nothing is
///   removed.
/// - each `syscalls[i]` name becomes one `seccomp_rule_add_array` with the entry's action and
///   argument comparisons. Names libseccomp can't resolve are skipped with a warning (runc
///   behaviour); entries whose action equals the default action are skipped (libseccomp rejects
///   them with EACCES).
/// - optionally an "ENOSYS prefix" (see `EnosysPrefix`) is prepended: syscalls numbered above the
///   highest one the profile names, per architecture, return ENOSYS instead of the default action,
///   like runc's ENOSYS stub, so glibc's fallbacks (clone3 → clone, faccessat2 → faccessat) and
///   syscalls newer than the profile behave as on an older kernel.
public enum SeccompCompiler {
    /// Compiles `profile`.
    ///
    /// - Parameters:
    ///   - enosysForNewSyscalls: prepend the ENOSYS prefix (ignored when the default action is
    ///     `SCMP_ACT_ALLOW` or `SCMP_ACT_LOG`, where unknown syscalls are allowed anyway).
    ///   - warn: receives each warning (also recorded in `SeccompProgram.warnings`).
    /// - Returns: the program (1…4096 instructions) plus the seccomp(2) flags from `flags`.
    /// - Throws: `SeccompError` naming the field: unknown action/arch/op/flag, errno out of range
    ///   (0…4095), argument index > 5, `SCMP_ACT_NOTIFY`/`listenerPath` (not supported), a failed
    ///   libseccomp call (with its errno), or a program longer than 4096 instructions.
    public static func compile(
        _ profile: LinuxSeccomp, enosysForNewSyscalls: Bool = true,
        warn: (String) -> Void = { _ in }
    ) throws -> SeccompProgram {
        var warnings: [String] = []

        if profile.listenerPath != nil {
            throw SeccompError(
                field: "linux.seccomp.listenerPath",
                message: "seccomp user notification (SCMP_ACT_NOTIFY) is not supported")
        }
        let defaultAction = try action(
            profile.defaultAction, errnoRet: profile.defaultErrnoRet,
            field: "linux.seccomp.defaultAction")
        let installFlags = try flags(profile.flags ?? [])

        guard let ctx = seccomp_init(defaultAction) else {
            throw SeccompError(
                field: "linux.seccomp.defaultAction",
                message: "seccomp_init(\(profile.defaultAction)) failed")
        }
        defer { seccomp_release(ctx) }

        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        if rc < 0 {
            throw SeccompError(
                field: "linux.seccomp",
                message: "seccomp_attr_set(SCMP_FLTATR_CTL_NNP, 0): \(Errno(-rc))")
        }
        // A binary tree of syscall numbers instead of a linear list: ~3x fewer instructions run per
        // syscall for a Docker-size allowlist (libseccomp ≥ 2.5, SCMP_FLTATR_CTL_OPTIMIZE = 2).
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        if rc < 0 {
            throw SeccompError(
                field: "linux.seccomp",
                message: "seccomp_attr_set(SCMP_FLTATR_CTL_OPTIMIZE, 2): \(Errno(-rc))")
        }

        var arches: [UInt32] = [seccomp_arch_native()]
        for (i, name) in (profile.architectures ?? []).enumerated() {
            let field = "linux.seccomp.architectures[\(i)]"
            let token = try architecture(name, field: field)
            if arches.contains(token) { continue }
            rc = seccomp_arch_add(ctx, token)
            if rc < 0 && rc != -EEXIST {
                throw SeccompError(field: field, message: "seccomp_arch_add(\(name)): \(Errno(-rc))")
            }
            arches.append(token)
        }

        for (i, entry) in (profile.syscalls ?? []).enumerated() {
            let field = "linux.seccomp.syscalls[\(i)]"
            if entry.names.isEmpty {
                throw SeccompError(field: "\(field).names", message: "empty list of syscall names")
            }
            let act = try action(entry.action, errnoRet: entry.errnoRet, field: "\(field).action")
            var cmps: [scmp_arg_cmp] = []
            for (j, arg) in (entry.args ?? []).enumerated() {
                cmps.append(try comparison(arg, field: "\(field).args[\(j)]"))
            }
            for name in entry.names {
                let nr = seccomp_syscall_resolve_name(name)
                if nr == __NR_SCMP_ERROR {
                    let message = "\(field): unknown syscall \"\(name)\" on this architecture (libseccomp \(libseccompVersion)), skipped"
                    warnings.append(message)
                    warn(message)
                    continue
                }
                if act == defaultAction { continue }  // libseccomp refuses rules equal to the default
                rc = cmps.withUnsafeBufferPointer {
                    seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress)
                }
                if rc < 0 {
                    throw SeccompError(
                        field: field,
                        message: "seccomp_rule_add(\(name), \(entry.action)): \(Errno(-rc))")
                }
            }
        }

        let body = try export(ctx)
        var prefix: [sock_filter] = []
        if enosysForNewSyscalls && !(defaultAction == actAllow || defaultAction == actLog) {
            let names = (profile.syscalls ?? []).flatMap(\.names)
            prefix = try EnosysPrefix.build(arches: arches, names: names)
        }
        let all = prefix + body
        guard all.count <= bpfMaxInstructions else {
            throw SeccompError(
                field: "linux.seccomp",
                message: "the compiled filter has \(all.count) instructions, more than the kernel's limit of \(bpfMaxInstructions)")
        }
        return SeccompProgram(
            instructions: all, enosysPrefixCount: prefix.count,
            installFlags: installFlags, warnings: warnings)
    }

    /// "2.5.4": the libseccomp this process is linked against.
    public static var libseccompVersion: String { libseccompVersionString }

    // MARK: - Translation of OCI names

    /// The libseccomp action value for an OCI action name (`SCMP_ACT_ERRNO` uses `errnoRet`,
    /// default EPERM; `SCMP_ACT_TRACE` passes `errnoRet`, default EPERM, to the tracer).
    static func action(_ name: String, errnoRet: UInt32?, field: String) throws -> UInt32 {
        func errnoData() throws -> UInt32 {
            let value = errnoRet ?? UInt32(EPERM)
            // The kernel clamps SECCOMP_RET_DATA for ERRNO to MAX_ERRNO (4095); refuse rather than clamp.
            guard value <= 4095 else {
                throw SeccompError(field: field, message: "errnoRet \(value) is out of range 0…4095 for \(name)")
            }
            return value
        }
        func noErrno(_ value: UInt32) throws -> UInt32 {
            if let errnoRet {
                throw SeccompError(
                    field: field,
                    message: "errnoRet \(errnoRet) is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not \(name)")
            }
            return value
        }
        switch name {
        case "SCMP_ACT_ALLOW": return try noErrno(actAllow)
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | (try errnoData())
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return try noErrno(0x0000_0000)
        case "SCMP_ACT_KILL_PROCESS": return try noErrno(0x8000_0000)
        case "SCMP_ACT_TRAP": return try noErrno(0x0003_0000)
        case "SCMP_ACT_TRACE": return 0x7ff0_0000 | (try errnoData())
        case "SCMP_ACT_LOG": return try noErrno(actLog)
        case "SCMP_ACT_NOTIFY":
            throw SeccompError(field: field, message: "SCMP_ACT_NOTIFY (seccomp user notification) is not supported")
        default:
            throw SeccompError(field: field, message: "unknown seccomp action \"\(name)\"")
        }
    }

    /// The libseccomp arch token for `SCMP_ARCH_<NAME>` (resolved by libseccomp from the lower-cased
    /// suffix, e.g. `SCMP_ARCH_X86_64` → "x86_64"). Equal to the kernel's AUDIT_ARCH_* value for
    /// every architecture except x32.
    static func architecture(_ name: String, field: String) throws -> UInt32 {
        let prefix = "SCMP_ARCH_"
        guard name.hasPrefix(prefix), name.count > prefix.count else {
            throw SeccompError(field: field, message: "unknown architecture \"\(name)\" (expected SCMP_ARCH_*)")
        }
        let suffix = String(name.dropFirst(prefix.count)).lowercased()
        if suffix == "native" { return seccomp_arch_native() }
        let token = seccomp_arch_resolve_name(suffix)
        guard token != 0 else {
            throw SeccompError(field: field, message: "architecture \"\(name)\" is unknown to libseccomp \(libseccompVersion)")
        }
        return token
    }

    /// An argument comparison. For SCMP_CMP_MASKED_EQ `value` is the mask and `valueTwo` the value
    /// the masked argument must equal (runc/libseccomp convention).
    static func comparison(_ arg: LinuxSeccompArg, field: String) throws -> scmp_arg_cmp {
        guard arg.index <= 5 else {
            throw SeccompError(field: "\(field).index", message: "argument index \(arg.index) is out of range 0…5")
        }
        let ops: [String: scmp_compare] = [
            "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE,
            "SCMP_CMP_EQ": SCMP_CMP_EQ, "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT,
            "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
        ]
        guard let op = ops[arg.op] else {
            throw SeccompError(field: "\(field).op", message: "unknown comparison operator \"\(arg.op)\"")
        }
        return scmp_arg_cmp(arg: UInt32(arg.index), op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
    }

    /// seccomp(2) flags for the OCI `flags` names.
    static func flags(_ names: [String]) throws -> UInt32 {
        var bits: UInt32 = 0
        for (i, name) in names.enumerated() {
            switch name {
            case "SECCOMP_FILTER_FLAG_TSYNC": bits |= 1
            case "SECCOMP_FILTER_FLAG_LOG": bits |= 2
            case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": bits |= 4
            default:
                throw SeccompError(field: "linux.seccomp.flags[\(i)]", message: "unknown seccomp filter flag \"\(name)\"")
            }
        }
        return bits
    }

    // MARK: - Export

    /// `seccomp_export_bpf` into a memfd, read back as instructions.
    static func export(_ ctx: scmp_filter_ctx) throws -> [sock_filter] {
        let fd = Syscall.memfdCreate("aegis-seccomp", allowSealing: false)
        guard fd >= 0 else {
            throw SeccompError(field: "linux.seccomp", message: "memfd_create: \(Errno.current)")
        }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc >= 0 else {
            throw SeccompError(field: "linux.seccomp", message: "seccomp_export_bpf: \(Errno(-rc))")
        }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw SeccompError(field: "linux.seccomp", message: "seccomp_export_bpf wrote no program (size \(size))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SeccompError(
                    field: "linux.seccomp",
                    message: "reading the exported filter: \(n < 0 ? Errno.current.description : "short read")")
            }
            done += n
        }
        return try SeccompProgram(bytes: bytes).instructions
    }
}

let actAllow: UInt32 = 0x7fff_0000
let actLog: UInt32 = 0x7ffc_0000
/// BPF_MAXINSNS (<linux/bpf_common.h>).
let bpfMaxInstructions = 4096

let libseccompVersionString: String = {
    guard let v = seccomp_version() else { return "unknown" }
    return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
}()
