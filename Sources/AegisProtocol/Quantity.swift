// Quantity.swift — the one grammar of CPU, memory and duration quantities: manifests, `aegis run`
// and `aegis tenant create` flags, and `aegis up`'s durations all parse through it, so the same text
// means the same everywhere and an error names the field or flag it came from.
//
// The CPU and memory forms follow Kubernetes' resource quantities (cores or `m` millicores; decimal
// SI suffixes k M G T P E and binary suffixes Ki Mi Gi Ti Pi Ei). Durations use Go-style unit runs
// ("1h30m"). Everything is exact integer arithmetic: no floating point touches a limit.

/// A quantity that does not parse or is out of range: `field` is the manifest field or the flag
/// (`"resources.memory"`, `"--max-memory"`); `description` reads `field: message`.
public struct QuantityError: Error, CustomStringConvertible, Sendable, Equatable {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Parsing of resource and time quantities. Every function throws `QuantityError` naming the
/// `field` argument, and rejects zero and malformed values; a value outside its range in `Bounds`
/// (a negative one too) gets an error saying the range.
public enum Quantity {
    /// CPU in millicores, at most `Bounds.maxCPUMillis`: `"500m"` → 500, `"0.5"` → 500, `"2"` → 2000.
    /// The YAML number `2` arrives as its text `"2"`. Precision is one millicore: `"0.0005"` is an
    /// error, not rounded (the sandbox enforces it as cpu.max quota = millis × 100 µs per 100 ms).
    /// - Throws: `QuantityError` at `field`, e.g. `resources.cpu: "abc" is not a CPU quantity …`.
    public static func cpuMillis(_ s: String, field: String) throws(QuantityError) -> Int64 {
        let text = trimmed(s)
        let bad = QuantityError(field: field, message: "\(quoted(s)) is not a CPU quantity (use millicores like 500m, or cores like 0.5)")
        let outOfRange = QuantityError(field: field, message: "\(quoted(s)) is out of range: CPU is \(Bounds.cpuRangeText)")
        if isNegativeNumber(text) { throw outOfRange }
        let value: Int64
        if text.hasSuffix("m") {
            let digits = text.dropLast()
            guard !digits.isEmpty, digits.allSatisfy(isDigit) else { throw bad }
            guard let v = Int64(digits) else { throw outOfRange }
            value = v
        } else {
            guard let d = splitDecimal(text) else { throw bad }
            guard let v = try scaled(d, by: 1000, tooLarge: outOfRange, original: s, field: field, roundUp: false) else {
                throw QuantityError(field: field, message: "\(quoted(s)) is finer than one millicore (1m = 0.001 cores)")
            }
            value = v
        }
        guard value > 0 else {
            throw QuantityError(field: field, message: "\(quoted(s)) must be more than 0 (CPU is \(Bounds.cpuRangeText))")
        }
        guard value <= Bounds.maxCPUMillis else { throw outOfRange }
        return value
    }

    /// Memory in bytes, at most `Bounds.maxMemoryBytes` (1 PiB). Plain numbers are bytes (`"1024"`);
    /// decimal suffixes k/K, M, G, T, P, E are
    /// powers of 1000 (`"1G"` = 10^9); binary suffixes Ki, Mi, Gi, Ti, Pi, Ei are powers of 1024
    /// (`"256Mi"` = 268435456). A trailing `B` is allowed (`"512MB"`, `"1GiB"`, `"100B"`). Fractions
    /// are allowed with a suffix and round up to a whole byte (`"1.5Gi"` = 1610612736).
    /// Lowercase `m`/`g` are refused: in Kubernetes `m` means milli, in Docker it means MiB.
    /// - Throws: `QuantityError` at `field`.
    public static func memoryBytes(_ s: String, field: String) throws(QuantityError) -> Int64 {
        let text = trimmed(s)
        let bad = QuantityError(
            field: field,
            message: "\(quoted(s)) is not a memory quantity "
                + "(use bytes like 268435456, or a suffix: 256Mi, 1Gi, 512M, 1G, 64Ki)")
        let outOfRange = QuantityError(field: field, message: "\(quoted(s)) is out of range: memory is at most \(Bounds.maxMemoryText)")
        if isNegativeNumber(text) {
            throw QuantityError(
                field: field,
                message: "\(quoted(s)) is out of range: memory is more than 0 and at most \(Bounds.maxMemoryText)")
        }
        let numberEnd = text.firstIndex(where: { !(isDigit($0) || $0 == ".") }) ?? text.endIndex
        let number = text[..<numberEnd]
        var suffix = String(text[numberEnd...])
        guard let d = splitDecimal(number) else { throw bad }
        if suffix.count > 1 && suffix.hasSuffix("B") { suffix.removeLast() } else if suffix == "B" { suffix = "" }
        if ["m", "g", "t", "mi", "gi", "mb", "gb", "mib", "gib"].contains(suffix) {
            let n = String(number)
            throw QuantityError(
                field: field,
                message: "\(quoted(s)) is ambiguous: write \(n)Mi or \(n)Gi (powers of 1024), "
                    + "or \(n)M or \(n)G (powers of 1000)")
        }
        guard let multiplier = memorySuffixes[suffix] else { throw bad }
        guard let value = try scaled(d, by: multiplier, tooLarge: outOfRange, original: s, field: field, roundUp: true) else { throw bad }
        guard value > 0 else { throw QuantityError(field: field, message: "\(quoted(s)) must be more than 0") }
        guard value <= Bounds.maxMemoryBytes else { throw outOfRange }
        return value
    }

    /// 31536000 → "365 d (31536000 s)", 86400 → "1 d (86400 s)", 90 → "90 s".
    public static func durationText(_ seconds: Int) -> String {
        if seconds >= 86_400 && seconds % 86_400 == 0 { return "\(seconds / 86_400) d (\(seconds) s)" }
        return "\(seconds) s"
    }

    // MARK: - Helpers

    static let memorySuffixes: [String: Int64] = [
        "": 1,
        "k": 1_000, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "T": 1_000_000_000_000,
        "P": 1_000_000_000_000_000, "E": 1_000_000_000_000_000_000,
        "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
    ]

    public static func isDigit(_ c: Character) -> Bool { c >= "0" && c <= "9" }

    /// "-1", "-0.5", "-5m", "-1Gi": a minus sign before a number (out of range, not malformed).
    static func isNegativeNumber(_ text: Substring) -> Bool {
        guard text.first == "-", let next = text.dropFirst().first else { return false }
        return isDigit(next) || next == "."
    }

    /// `s` without leading and trailing spaces and tabs.
    public static func trimmed(_ s: String) -> Substring {
        var t = s[...]
        while let f = t.first, f == " " || f == "\t" { t = t.dropFirst() }
        while let l = t.last, l == " " || l == "\t" { t = t.dropLast() }
        return t
    }

    /// `s` in double quotes for an error message, escaped, at most 80 characters.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars.prefix(80) {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out += c.value < 0x20 ? "\\u{\(String(c.value, radix: 16))}" : String(c)
            }
        }
        if s.unicodeScalars.count > 80 { out += "…" }
        return out + "\""
    }

    /// "12.5" → ("12", "5"); "3" → ("3", ""); ".5" → ("", "5"). Nil unless digits with at most one dot.
    static func splitDecimal(_ s: Substring) -> (whole: Substring, frac: Substring)? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !s.isEmpty, parts.count <= 2 else { return nil }
        let whole = parts[0], frac = parts.count == 2 ? parts[1] : ""[...]
        guard !(whole.isEmpty && frac.isEmpty), whole.allSatisfy(isDigit), frac.allSatisfy(isDigit) else { return nil }
        if parts.count == 2 && frac.isEmpty { return nil }  // "5." is a typo, not a number
        return (whole, frac)
    }

    /// whole.frac × multiplier, exactly. When the fraction leaves a remainder: rounds up if `roundUp`,
    /// else returns nil. Throws `tooLarge` on Int64 overflow.
    static func scaled(
        _ d: (whole: Substring, frac: Substring), by multiplier: Int64, tooLarge: QuantityError,
        original: String, field: String, roundUp: Bool
    ) throws(QuantityError) -> Int64? {
        var wholeValue: Int64 = 0
        if !d.whole.isEmpty {
            guard let v = Int64(d.whole) else { throw tooLarge }
            wholeValue = v
        }
        let (w, o1) = wholeValue.multipliedReportingOverflow(by: multiplier)
        guard !o1 else { throw tooLarge }
        let frac = d.frac.reversed().drop(while: { $0 == "0" }).reversed()  // "500" → "5"
        guard !frac.isEmpty else { return w }
        guard frac.count <= 18, let f = UInt64(String(frac)) else {
            if roundUp { throw QuantityError(field: field, message: "\(quoted(original)) has too many decimal places") }
            return nil
        }
        var scale: UInt64 = 1
        for _ in 0..<frac.count { scale *= 10 }
        // f < scale, so f × multiplier / scale < multiplier: the quotient fits in 64 bits.
        let product = f.multipliedFullWidth(by: UInt64(multiplier))
        let (q, r) = scale.dividingFullWidth(product)
        if r != 0 && !roundUp { return nil }
        let fracPart = Int64(q) + (r != 0 ? 1 : 0)
        let (sum, o2) = w.addingReportingOverflow(fracPart)
        guard !o2 else { throw tooLarge }
        return sum
    }
}
