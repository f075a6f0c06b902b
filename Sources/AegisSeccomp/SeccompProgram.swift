// A compiled seccomp filter: classic-BPF instructions ready for seccomp(2).
import CAegisShim

/// A classic-BPF seccomp program (kernel Documentation/userspace-api/seccomp_filter.rst), as
/// installed with `seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)`.
///
/// Layout: `[ENOSYS prefix (optional, `enosysPrefixCount` instructions)] + [libseccomp's program]`.
/// The kernel caps a program at `BPF_MAXINSNS` (4096) instructions; `SeccompCompiler` refuses to
/// produce a longer one.
public struct SeccompProgram: Sendable, Equatable {
    /// The instructions in host byte order (`struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k).
    public let instructions: [sock_filter]
    /// How many leading instructions are the hand-built ENOSYS prefix (0: none).
    public let enosysPrefixCount: Int
    /// `SECCOMP_FILTER_FLAG_*` bits from `linux.seccomp.flags`, to pass to seccomp(2) at install.
    public let installFlags: UInt32
    /// Warnings produced while compiling (e.g. syscall names unknown to libseccomp, skipped).
    public let warnings: [String]

    /// Number of instructions (≤ 4096).
    public var count: Int { instructions.count }

    /// Size of one serialized instruction in bytes.
    public static let instructionSize = 8

    public init(
        instructions: [sock_filter], enosysPrefixCount: Int = 0, installFlags: UInt32 = 0,
        warnings: [String] = []
    ) {
        self.instructions = instructions
        self.enosysPrefixCount = enosysPrefixCount
        self.installFlags = installFlags
        self.warnings = warnings
    }

    /// Parses the raw form (`count * 8` bytes, host byte order), as written by
    /// `seccomp_export_bpf` or by `bytes`. Throws `SeccompError` when the size is not a multiple of 8.
    public init(
        bytes: [UInt8], enosysPrefixCount: Int = 0, installFlags: UInt32 = 0,
        warnings: [String] = []
    ) throws {
        guard bytes.count % Self.instructionSize == 0 else {
            throw SeccompError(
                field: "seccomp program",
                message: "\(bytes.count) bytes is not a multiple of \(Self.instructionSize)")
        }
        var insns: [sock_filter] = []
        insns.reserveCapacity(bytes.count / Self.instructionSize)
        var i = 0
        while i < bytes.count {
            let code = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            let k =
                UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16
                | UInt32(bytes[i + 7]) << 24
            // sock_filter is host-endian; every Linux target Swift supports here is little-endian.
            insns.append(sock_filter(code: code, jt: bytes[i + 2], jf: bytes[i + 3], k: k))
            i += Self.instructionSize
        }
        self.init(
            instructions: insns, enosysPrefixCount: enosysPrefixCount, installFlags: installFlags,
            warnings: warnings)
    }

    /// The raw form: 8 bytes per instruction, host (little-endian) byte order — what the kernel
    /// reads through `sock_fprog.filter`.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(instructions.count * Self.instructionSize)
        for insn in instructions {
            out.append(UInt8(truncatingIfNeeded: insn.code))
            out.append(UInt8(truncatingIfNeeded: insn.code >> 8))
            out.append(insn.jt)
            out.append(insn.jf)
            for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: insn.k >> UInt32(shift))) }
        }
        return out
    }

    /// Calls `body` with a pointer to the first instruction and the instruction count, suitable for
    /// `struct aegis_spawn_config.seccomp_filter` / `.seccomp_len` (`const struct sock_filter *`,
    /// `unsigned short`). The pointer is valid only during `body`.
    public func withUnsafeFilter<R>(_ body: (UnsafePointer<sock_filter>, UInt16) throws -> R) rethrows -> R {
        try instructions.withUnsafeBufferPointer { buf in
            // A compiled program always has ≥ 1 instruction and ≤ 4096 (checked by the compiler).
            try body(buf.baseAddress!, UInt16(truncatingIfNeeded: buf.count))
        }
    }

    /// Calls `body` with a `struct sock_fprog` describing the program (for seccomp(2) directly).
    /// The pointer is valid only during `body`.
    public func withUnsafeFprog<R>(_ body: (UnsafePointer<sock_fprog>) throws -> R) rethrows -> R {
        try withUnsafeFilter { ptr, len in
            var prog = sock_fprog(len: len, filter: UnsafeMutablePointer(mutating: ptr))
            return try withUnsafePointer(to: &prog) { try body($0) }
        }
    }

    public static func == (a: SeccompProgram, b: SeccompProgram) -> Bool {
        guard a.enosysPrefixCount == b.enosysPrefixCount, a.installFlags == b.installFlags,
            a.warnings == b.warnings, a.instructions.count == b.instructions.count
        else { return false }
        for (x, y) in zip(a.instructions, b.instructions)
        where x.code != y.code || x.jt != y.jt || x.jf != y.jf || x.k != y.k { return false }
        return true
    }
}
