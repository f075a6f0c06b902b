// Quantity.swift — CPU and memory quantities as the CLI's quota flags take them, and the short
// human forms the tables print. Suffixes follow Kubernetes resource quantities
// (k8s.io/apimachinery resource.Quantity): "m" = 1/1000 CPU; k, M, G, T, P = powers of 1000;
// Ki, Mi, Gi, Ti, Pi = powers of 1024. A bare memory number is bytes.
import AegisProtocol

/// Parses a CPU quantity into millicores: "2" → 2000, "0.5" → 500, "1.25" → 1250, "500m" → 500.
/// At most `Bounds.maxCPUMillis` (1 000 000 cores).
/// - Throws: `ClientError` for an empty/zero value, more than 3 decimals, or garbage; a negative or
///   too large value gets the allowed range.
public func parseCPUMillis(_ text: String, flag: String = "cpu") throws -> Int64 {
    let s = text.trimmingWhitespace()
    func bad(_ why: String) -> ClientError { ClientError("\(flag) \"\(text)\": \(why) (examples: 2, 0.5, 500m)") }
    let outOfRange = ClientError("\(flag) \"\(text)\": out of range: CPU is \(Bounds.cpuRangeText)")
    guard !s.isEmpty else { throw bad("empty") }
    if isNegativeNumber(s) { throw outOfRange }
    let millis: Int64
    if s.hasSuffix("m") {
        let digits = s.dropLast()
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw bad("not a whole number of millicores")
        }
        guard let v = Int64(digits) else { throw outOfRange }
        millis = v
    } else {
        millis = try parseDecimal(s, scale: 1000, bad: bad, tooLarge: outOfRange)
    }
    guard millis > 0 else { throw bad("must be more than 0") }
    guard millis <= Bounds.maxCPUMillis else { throw outOfRange }
    return millis
}

/// Parses a memory quantity into bytes: "1024" → 1024, "256M" → 256 000 000, "256Mi" → 268 435 456,
/// "1.5Gi" → 1 610 612 736, "8G" → 8 000 000 000. Also accepts the spellings "KB/MB/GB/TB" (as
/// k/M/G/T), "KiB/MiB/GiB/TiB", and "512B". At most `Bounds.maxMemoryBytes` (1 PiB).
/// - Throws: `ClientError` for an unknown suffix, a value that is zero, or fractional bytes; a
///   negative or too large value gets the allowed range.
public func parseMemoryBytes(_ text: String, flag: String = "memory") throws -> Int64 {
    var s = text.trimmingWhitespace()
    func bad(_ why: String) -> ClientError { ClientError("\(flag) \"\(text)\": \(why) (examples: 256Mi, 1Gi, 512M, 1073741824)") }
    let outOfRange = ClientError("\(flag) \"\(text)\": out of range: memory is more than 0 and at most \(Bounds.maxMemoryText)")
    guard !s.isEmpty else { throw bad("empty") }
    if isNegativeNumber(s) { throw outOfRange }
    if s.hasSuffix("B") { s.removeLast() } // "MiB" → "Mi", "MB" → "M", "512B" → "512"
    let units: [(String, Int64)] = [
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("Pi", 1 << 50),
        ("k", 1_000), ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ]
    var multiplier: Int64 = 1
    for (suffix, m) in units where s.hasSuffix(suffix) {
        multiplier = m
        s.removeLast(suffix.count)
        break
    }
    guard let first = s.first, first.isNumber else { throw bad("not a number") }
    if let unit = s.firstIndex(where: { $0.isLetter }) { throw bad("unknown unit \"\(s[unit...])\"") }
    // Exact arithmetic: scale the decimal by the multiplier without going through Double.
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), !parts[0].isEmpty else {
        throw bad("not a number")
    }
    guard let whole = Int64(parts[0]) else { throw outOfRange }
    var (bytes, o1) = whole.multipliedReportingOverflow(by: multiplier)
    guard !o1 else { throw outOfRange }
    if parts.count == 2, !parts[1].isEmpty {
        let frac = parts[1]
        guard frac.count <= 9, let f = Int64(frac) else { throw bad("too many decimals") }
        var denom: Int64 = 1
        for _ in 0..<frac.count { denom *= 10 }
        let (scaled, o2) = f.multipliedReportingOverflow(by: multiplier)
        guard !o2 else { throw outOfRange }
        guard scaled % denom == 0 else { throw bad("is not a whole number of bytes") }
        let (sum, o3) = bytes.addingReportingOverflow(scaled / denom)
        guard !o3 else { throw outOfRange }
        bytes = sum
    }
    guard bytes > 0 else { throw bad("must be more than 0") }
    guard bytes <= Bounds.maxMemoryBytes else { throw outOfRange }
    return bytes
}

/// "-1", "-0.5", "-2Gi": a minus sign before a number.
private func isNegativeNumber(_ s: String) -> Bool {
    guard s.first == "-", let next = s.dropFirst().first else { return false }
    return next.isASCII && (next.isNumber || next == ".")
}

/// "1.25" with scale 1000 → 1250, exactly (at most log10(scale) decimals).
private func parseDecimal(_ s: String, scale: Int64, bad: (String) -> ClientError, tooLarge: ClientError) throws -> Int64 {
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
          !(parts[0].isEmpty && (parts.count == 1 || parts[1].isEmpty)) else { throw bad("not a number") }
    let whole = parts[0].isEmpty ? 0 : (Int64(parts[0]) ?? -1)
    guard whole >= 0, whole <= Int64.max / scale else { throw tooLarge }
    var value = whole * scale
    if parts.count == 2, !parts[1].isEmpty {
        var digits = 0
        var s2 = scale
        while s2 > 1 { s2 /= 10; digits += 1 }
        guard parts[1].count <= digits, var frac = Int64(parts[1]) else { throw bad("at most \(digits) decimals") }
        for _ in parts[1].count..<digits { frac *= 10 }
        value = value.saturatingAdding(frac)
    }
    return value
}

/// Millicores for tables: 2000 → "2", 1500 → "1.5", 250 → "250m", 1250 → "1.25".
public func formatCPU(_ millis: Int64) -> String {
    if millis % 1000 == 0 { return String(millis / 1000) }
    if millis < 1000 && millis > -1000 { return "\(millis)m" }
    var frac = String(millis.magnitude % 1000)  // magnitude: abs(Int64.min) would trap
    while frac.count < 3 { frac = "0" + frac }
    while frac.hasSuffix("0") { frac.removeLast() }
    return "\(millis < 0 ? "-" : "")\(millis.magnitude / 1000).\(frac)"
}

/// Bytes in binary units for tables: 512 → "512B", 268435456 → "256Mi", 1610612736 → "1.5Gi",
/// at most one decimal (truncated, so a free amount is never overstated).
public func formatBytes(_ bytes: Int64) -> String {
    let units = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    if bytes < 1024 && bytes > -1024 { return "\(bytes)B" }
    // Unsigned magnitude: Int64.min has one, and the remainder × 10 (< 2^60 × 10) fits in 64 bits.
    let size = bytes.magnitude
    var unit = -1
    var scale: UInt64 = 1
    while unit + 1 < units.count && size / scale >= 1024 { unit += 1; scale *= 1024 }
    let tenths = size / scale * 10 + size % scale * 10 / scale
    let sign = bytes < 0 ? "-" : ""
    return tenths % 10 == 0 ? "\(sign)\(tenths / 10)\(units[unit])" : "\(sign)\(tenths / 10).\(tenths % 10)\(units[unit])"
}

/// A short age for `ps`: "42s", "5m", "3h", "2d" (whole units, truncated); negative → "0s".
public func formatAge(milliseconds: Int64) -> String {
    let s = max(0, milliseconds / 1000)
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m" }
    if s < 86400 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}

/// A duration for `describe`: "850ms", "12.3s", "4m05s", "2h03m", "3d04h".
public func formatDuration(milliseconds ms: Int64) -> String {
    if ms < 1000 { return "\(max(0, ms))ms" }
    if ms < 60_000 { return "\(ms / 1000).\((ms % 1000) / 100)s" }
    let s = ms / 1000
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
    if s < 86400 { return "\(s / 3600)h\(two((s % 3600) / 60))m" }
    return "\(s / 86400)d\(two((s % 86400) / 3600))h"
}
