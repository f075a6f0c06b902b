// A tiny classic-BPF interpreter for seccomp programs, to check filter decisions without the kernel.
import CAegisShim
import XCTest

/// struct seccomp_data as the kernel lays it out (little-endian words).
struct SeccompData {
    var nr: Int32
    var arch: UInt32
    var args: [UInt64] = [0, 0, 0, 0, 0, 0]
    var instructionPointer: UInt64 = 0

    func word(at offset: UInt32) -> UInt32? {
        switch offset {
        case 0: return UInt32(bitPattern: nr)
        case 4: return arch
        case 8: return UInt32(truncatingIfNeeded: instructionPointer)
        case 12: return UInt32(truncatingIfNeeded: instructionPointer >> 32)
        case 16..<64 where offset % 4 == 0:
            let arg = args[Int(offset - 16) / 8]
            return (offset - 16) % 8 == 0 ? UInt32(truncatingIfNeeded: arg) : UInt32(truncatingIfNeeded: arg >> 32)
        default: return nil
        }
    }
}

enum BPFError: Error, CustomStringConvertible {
    case badInstruction(pc: Int, code: UInt16), outOfBounds(pc: Int), badLoad(pc: Int, offset: UInt32)
    var description: String {
        switch self {
        case .badInstruction(let pc, let code): return "unsupported opcode 0x\(String(code, radix: 16)) at \(pc)"
        case .outOfBounds(let pc): return "pc \(pc) ran off the program"
        case .badLoad(let pc, let offset): return "load of offset \(offset) at \(pc)"
        }
    }
}

/// Runs `program` on `data` and returns the SECCOMP_RET_* value, like the kernel's interpreter.
func runBPF(_ program: [sock_filter], _ data: SeccompData) throws -> UInt32 {
    var a: UInt32 = 0, x: UInt32 = 0
    var mem = [UInt32](repeating: 0, count: 16)
    var pc = 0
    while true {
        guard pc < program.count else { throw BPFError.outOfBounds(pc: pc) }
        let insn = program[pc]
        let k = insn.k
        pc += 1
        func jump(_ taken: Bool) { pc += Int(taken ? insn.jt : insn.jf) }
        switch insn.code {
        case 0x20: guard let w = data.word(at: k) else { throw BPFError.badLoad(pc: pc - 1, offset: k) }; a = w  // ld [k]
        case 0x00: a = k  // ld #k
        case 0x01: x = k  // ldx #k
        case 0x60: a = mem[Int(k)]  // ld M[k]
        case 0x61: x = mem[Int(k)]  // ldx M[k]
        case 0x02: mem[Int(k)] = a  // st M[k]
        case 0x03: mem[Int(k)] = x  // stx M[k]
        case 0x07: x = a  // tax
        case 0x87: a = x  // txa
        case 0x54: a &= k  // and #k
        case 0x44: a |= k  // or #k
        case 0x5c: a &= x  // and x
        case 0x05: pc += Int(k)  // ja
        case 0x15: jump(a == k)  // jeq #k
        case 0x25: jump(a > k)  // jgt #k
        case 0x35: jump(a >= k)  // jge #k
        case 0x45: jump(a & k != 0)  // jset #k
        case 0x1d: jump(a == x)
        case 0x2d: jump(a > x)
        case 0x3d: jump(a >= x)
        case 0x4d: jump(a & x != 0)
        case 0x06: return k  // ret #k
        case 0x16: return a  // ret a
        default: throw BPFError.badInstruction(pc: pc - 1, code: insn.code)
        }
    }
}

enum Ret {
    static let allow: UInt32 = 0x7fff_0000
    static func errno(_ e: Int32) -> UInt32 { 0x0005_0000 | UInt32(e) }
    static let eperm = errno(1)
    static let enosys = errno(38)
}

enum Audit {
    static let x86_64: UInt32 = 0xc000_003e
    static let i386: UInt32 = 0x4000_0003
    static let aarch64: UInt32 = 0xc000_00b7
    static let x32Bit: Int32 = 0x4000_0000
}
