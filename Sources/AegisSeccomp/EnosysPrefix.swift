// The hand-built classic-BPF prefix that makes syscalls newer than the profile return ENOSYS.
import CAegisShim

/// Builds the "ENOSYS prefix" prepended to libseccomp's program (the idea of runc's ENOSYS stub):
/// a syscall whose number is above the highest number the profile names for the calling
/// architecture fails with ENOSYS, as it would on a kernel that predates it. Programs then take
/// their "old kernel" fallbacks (glibc: clone3 → clone, faccessat2 → faccessat) instead of
/// failing with the profile's default errno. Every syscall the profile names is ≤ that maximum,
/// so explicit rules keep their meaning.
///
/// Layout (offsets are relative, as in all classic BPF; `P` = first instruction of libseccomp's
/// program, which reloads `seccomp_data.arch` itself, so it can be entered at any point):
///
///     ld   [4]                        ; A = seccomp_data.arch
///     jeq  #ARCH_1, BLOCK_1           ; one dispatch per audit arch in the filter
///     …
///     ja   P                          ; other arch: libseccomp decides (bad-arch action)
///   BLOCK (plain arch, e.g. AUDIT_ARCH_I386):
///     ld   [0]                        ; A = seccomp_data.nr
///     jgt  #MAX, ENOSYS
///     ja   P
///   BLOCK (AUDIT_ARCH_X86_64, which x32 shares; x32 numbers carry __X32_SYSCALL_BIT 0x40000000):
///     ld   [0]
///     jset #0x40000000, X32
///     jgt  #MAX_X86_64, ENOSYS        ; (omitted when x86_64 has no maximum)
///     ja   P
///   X32:
///     jgt  #MAX_X32, ENOSYS           ; MAX_X32 includes the bit (omitted when x32 is not in the filter)
///     ja   P
///   ENOSYS:
///     ret  #SECCOMP_RET_ERRNO|ENOSYS
///   P: …libseccomp's program…
///
/// Conditional jumps have 8-bit offsets; the prefix is a few instructions per arch so they always
/// fit (checked). The jump to `P` uses `ja` (32-bit offset).
enum EnosysPrefix {
    static let x32SyscallBit: UInt32 = 0x4000_0000
    /// libseccomp's token for x32 (EM_X86_64 | __AUDIT_ARCH_LE); the kernel reports x32 syscalls
    /// as AUDIT_ARCH_X86_64 with the x32 bit set in `nr`.
    static let scmpArchX32: UInt32 = 0x4000_003e
    static let auditArchX86_64: UInt32 = 0xc000_003e
    static let enosys: UInt32 = 38
    static let retErrno: UInt32 = 0x0005_0000

    /// The prefix for a filter containing `arches` (libseccomp tokens) whose profile names `names`.
    /// Empty when no arch has a named syscall.
    static func build(arches: [UInt32], names: [String]) throws -> [sock_filter] {
        // Highest named syscall number per arch token (numbers < 0 are libseccomp pseudo-syscalls
        // for names that don't exist on that arch, or errors).
        var maxima: [UInt32: UInt32] = [:]
        for arch in arches {
            var best: Int32 = -1
            for name in Set(names) {
                var nr = seccomp_syscall_resolve_name_arch(arch, name)
                if nr < 0 { continue }
                if arch == scmpArchX32 { nr |= Int32(bitPattern: x32SyscallBit) }
                best = max(best, nr)
            }
            if best >= 0 { maxima[arch] = UInt32(best) }
        }

        // Blocks keyed by the audit arch the kernel reports.
        enum Block { case plain(audit: UInt32, max: UInt32), x86_64(max64: UInt32?, maxX32: UInt32?) }
        var blocks: [Block] = []
        let hasX86_64Family = arches.contains(auditArchX86_64) || arches.contains(scmpArchX32)
        if hasX86_64Family {
            let m64 = maxima[auditArchX86_64], m32 = maxima[scmpArchX32]
            if m64 != nil || m32 != nil { blocks.append(.x86_64(max64: m64, maxX32: m32)) }
        }
        for arch in arches where arch != auditArchX86_64 && arch != scmpArchX32 {
            if let m = maxima[arch] { blocks.append(.plain(audit: arch, max: m)) }
        }
        if blocks.isEmpty { return [] }

        var asm = Assembler()
        let program = asm.newLabel(), enosysLabel = asm.newLabel()
        let blockLabels = blocks.map { _ in asm.newLabel() }
        asm.emit(ld: 4)
        for (block, label) in zip(blocks, blockLabels) {
            switch block {
            case .plain(let audit, _): asm.emit(jump: 0x15, k: audit, jt: label, jf: nil)  // jeq
            case .x86_64: asm.emit(jump: 0x15, k: auditArchX86_64, jt: label, jf: nil)
            }
        }
        asm.emit(ja: program)
        for (block, label) in zip(blocks, blockLabels) {
            asm.place(label)
            asm.emit(ld: 0)
            switch block {
            case .plain(_, let m):
                asm.emit(jump: 0x25, k: m, jt: enosysLabel, jf: nil)  // jgt
                asm.emit(ja: program)
            case .x86_64(let m64, let m32):
                let x32 = asm.newLabel()
                asm.emit(jump: 0x45, k: x32SyscallBit, jt: x32, jf: nil)  // jset
                if let m64 { asm.emit(jump: 0x25, k: m64, jt: enosysLabel, jf: nil) }
                asm.emit(ja: program)
                asm.place(x32)
                if let m32 { asm.emit(jump: 0x25, k: m32, jt: enosysLabel, jf: nil) }
                asm.emit(ja: program)
            }
        }
        asm.place(enosysLabel)
        asm.emit(ret: retErrno | enosys)
        asm.place(program)
        return try asm.assemble()
    }
}

/// A minimal classic-BPF assembler with forward labels.
struct Assembler {
    struct Label: Hashable { let id: Int }
    private struct Item { var code: UInt16; var k: UInt32; var jt: Label?; var jf: Label?; var kLabel: Label? }
    private var items: [Item] = []
    private var positions: [Label: Int] = [:]
    private var nextLabel = 0

    mutating func newLabel() -> Label { defer { nextLabel += 1 }; return Label(id: nextLabel) }
    mutating func place(_ label: Label) { positions[label] = items.count }
    /// BPF_LD|BPF_W|BPF_ABS: A = 32-bit word at `offset` in seccomp_data.
    mutating func emit(ld offset: UInt32) { items.append(Item(code: 0x20, k: offset)) }
    /// BPF_JMP|<op>|BPF_K; a nil target means "next instruction".
    mutating func emit(jump code: UInt16, k: UInt32, jt: Label?, jf: Label?) {
        items.append(Item(code: code, k: k, jt: jt, jf: jf))
    }
    /// BPF_JMP|BPF_JA: unconditional, 32-bit offset.
    mutating func emit(ja target: Label) { items.append(Item(code: 0x05, k: 0, kLabel: target)) }
    /// BPF_RET|BPF_K.
    mutating func emit(ret value: UInt32) { items.append(Item(code: 0x06, k: value)) }

    func assemble() throws -> [sock_filter] {
        func offset(_ label: Label?, from index: Int) throws -> Int {
            guard let label else { return 0 }
            guard let pos = positions[label], pos > index else {
                throw SeccompError(field: "ENOSYS prefix", message: "internal error: unplaced or backward label")
            }
            return pos - index - 1
        }
        return try items.enumerated().map { index, item in
            let jt = try offset(item.jt, from: index), jf = try offset(item.jf, from: index)
            guard jt <= 255, jf <= 255 else {
                throw SeccompError(field: "ENOSYS prefix", message: "internal error: jump offset \(max(jt, jf)) exceeds 255")
            }
            let k = item.kLabel == nil ? item.k : UInt32(try offset(item.kLabel, from: index))
            return sock_filter(code: item.code, jt: UInt8(jt), jf: UInt8(jf), k: k)
        }
    }
}
