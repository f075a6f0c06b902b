// Hex.swift — lowercase hexadecimal of bytes (digests, fingerprints, token hashes, request IDs),
// one table lookup per nibble; no Foundation formatting on hot paths.

/// Lowercase hexadecimal text of bytes.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two lowercase hex digits per byte, most significant nibble first ([0x0a, 0xff] → "0aff").
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 16 lowercase hex digits of `value`, big-endian (0x1f → "000000000000001f").
    public static func lowercase(_ value: UInt64) -> String {
        lowercase((0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) })
    }
}
