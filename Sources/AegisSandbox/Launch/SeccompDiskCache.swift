// SeccompDiskCache.swift — compiled seccomp programs kept on disk under the state root, so that
// short-lived processes (each `aegis-runtime create`) don't pay ~15 ms of libseccomp compilation
// per sandbox. An entry stores the profile's canonical JSON next to the BPF program and is used
// only when that JSON matches byte for byte, so a hash collision can never load a wrong filter.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSeccomp
import AegisSystem

struct SeccompDiskCache: Sendable {
    /// Directory holding `<key>.bpf` files (created on first store, mode 0700).
    let directory: String

    /// File layout: "AEGSBPF2", u32 installFlags, u32 prefixCount, u32 jsonLength, json,
    /// u32 warningsLength, warnings (joined by "\n"), u32 instructionCount, instructions (8 bytes
    /// each, native order). All integers little-endian.
    static let magic = Array("AEGSBPF2".utf8)

    /// The cached program for `profile`, or the result of `compile`, which is then stored.
    func program(for profile: LinuxSeccomp, compile: () throws -> SeccompProgram) throws -> SeccompProgram {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? Array(encoder.encode(profile)) else { return try compile() }
        let identity = json + Array("|libseccomp \(SeccompCompiler.libseccompVersion) optimize=2".utf8)
        let path = directory + "/" + Self.key(identity) + ".bpf"
        if let cached = Self.load(path, identity: identity) { return cached }
        let program = try compile()
        store(program, identity: identity, path: path)
        return program
    }

    /// Two independent 64-bit FNV-1a hashes, as 32 hex digits (a file name, not a security check).
    static func key(_ bytes: [UInt8]) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x84222325_cbf29ce4
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b &* 0x100_0000_01b3) ^ UInt64(byte)
        }
        return String(a, radix: 16) + String(b, radix: 16)
    }

    static func load(_ path: String, identity: [UInt8]) -> SeccompProgram? {
        guard let bytes = try? FileSystem.readBytes(path), bytes.count > 24, Array(bytes[0..<8]) == magic else { return nil }
        var off = 8
        func u32() -> Int? {
            guard off + 4 <= bytes.count else { return nil }
            defer { off += 4 }
            return Int(bytes[off]) | Int(bytes[off + 1]) << 8 | Int(bytes[off + 2]) << 16 | Int(bytes[off + 3]) << 24
        }
        guard let flags = u32(), let prefix = u32(), let jsonLength = u32(), off + jsonLength <= bytes.count,
            Array(bytes[off..<off + jsonLength]) == identity
        else { return nil }
        off += jsonLength
        guard let warningsLength = u32(), off + warningsLength <= bytes.count else { return nil }
        let warningText = String(decoding: bytes[off..<off + warningsLength], as: UTF8.self)
        off += warningsLength
        guard let count = u32(), count > 0, off + count * 8 == bytes.count else { return nil }
        let warnings = warningText.isEmpty ? [] : warningText.split(separator: "\n").map(String.init)
        return try? SeccompProgram(
            bytes: Array(bytes[off...]), enosysPrefixCount: prefix, installFlags: UInt32(flags),
            warnings: warnings)
    }

    func store(_ program: SeccompProgram, identity: [UInt8], path: String) {
        var out = Self.magic
        func u32(_ v: Int) { for s in [0, 8, 16, 24] { out.append(UInt8(truncatingIfNeeded: v >> s)) } }
        u32(Int(program.installFlags)); u32(program.enosysPrefixCount); u32(identity.count)
        out += identity
        let warnings = Array(program.warnings.joined(separator: "\n").utf8)
        u32(warnings.count)
        out += warnings
        u32(program.count)
        out += program.bytes
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { return }
        try? FileSystem.writeAtomically(path, out, mode: 0o600, syncDirectory: false)
    }
}
