// QuantityDuration.swift — durations in the quantity grammar: a bare number of seconds ("300") or
// Go-style unit runs ("90s", "1h30m", "1d12h", "500ms"), units d h m s ms in that order, each
// once. Timeouts take whole seconds; lease timings (`aegis up`) take milliseconds.

extension Quantity {
    /// Duration in whole seconds (ms and finer are refused: timeouts are enforced in seconds), at
    /// most `maxSeconds` (default `Bounds.maxTimeoutSeconds`, 365 days).
    /// - Throws: `QuantityError` at `field`, e.g. `timeout: "5x" is not a duration (…)`.
    public static func durationSeconds(
        _ s: String, field: String,
        maxSeconds: Int = Bounds.maxTimeoutSeconds
    ) throws(QuantityError) -> Int {
        let ms = try duration(
            s, field: field, wholeSeconds: true, allowZero: false, maxMs: Int64(maxSeconds) * 1000,
            rangeText: "1 s to \(durationText(maxSeconds))")
        return Int(ms / 1000)
    }

    /// Duration in milliseconds, at most `maxMilliseconds` (default `Bounds.maxLeaseDurationMs`,
    /// 24 h); zero only with `allowZero`.
    /// - Throws: `QuantityError` at `field`.
    public static func durationMilliseconds(
        _ s: String, field: String, maxMilliseconds: Int = Bounds.maxLeaseDurationMs,
        allowZero: Bool = false
    ) throws(QuantityError) -> Int {
        let maxText = maxMilliseconds % 1000 == 0 ? durationText(maxMilliseconds / 1000) : "\(maxMilliseconds) ms"
        let ms = try duration(
            s, field: field, wholeSeconds: false, allowZero: allowZero, maxMs: Int64(maxMilliseconds),
            rangeText: "\(allowZero ? "0" : "1 ms") to \(maxText)")
        return Int(ms)
    }

    static let durationUnits: [(name: String, ms: Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]

    /// The shared parser: milliseconds within 0/1 ms … `maxMs`.
    static func duration(
        _ s: String, field: String, wholeSeconds: Bool, allowZero: Bool, maxMs: Int64,
        rangeText: String
    ) throws(QuantityError) -> Int64 {
        let text = trimmed(s)
        let example = wholeSeconds ? "90s, 5m, 1h30m, 1d" : "500ms, 5s, 2m, 1h30m"
        let bad = QuantityError(field: field, message: "\(quoted(s)) is not a duration (use seconds like 300, or units like \(example))")
        let outOfRange = QuantityError(field: field, message: "\(quoted(s)) is out of range: \(rangeText)")
        guard !text.isEmpty else { throw bad }
        if isNegativeNumber(text) { throw outOfRange }
        var total: Int64 = 0
        if text.allSatisfy(isDigit) {
            guard let v = Int64(text), v <= Int64.max / 1000 else { throw outOfRange }
            total = v * 1000
        } else {
            let units = wholeSeconds ? durationUnits.filter { $0.name != "ms" } : durationUnits
            var nextUnit = 0
            var rest = text[...]
            while !rest.isEmpty {
                let digitsEnd = rest.firstIndex(where: { !isDigit($0) }) ?? rest.endIndex
                let digits = rest[..<digitsEnd]
                rest = rest[digitsEnd...]
                let unitEnd = rest.firstIndex(where: isDigit) ?? rest.endIndex
                let unit = String(rest[..<unitEnd])
                rest = rest[unitEnd...]
                guard !digits.isEmpty, !unit.isEmpty else { throw bad }
                if unit.hasPrefix(".") {
                    throw QuantityError(field: field, message: "\(quoted(s)): fractions are not supported, write 1m30s rather than 1.5m")
                }
                if ["us", "µs", "ns"].contains(unit) || (wholeSeconds && unit == "ms") {
                    let finest = wholeSeconds ? "one second; timeouts are whole seconds" : "one millisecond"
                    throw QuantityError(field: field, message: "\(quoted(s)) is finer than \(finest)")
                }
                guard let u = units[nextUnit...].firstIndex(where: { $0.name == unit }) else {
                    if units.contains(where: { $0.name == unit }) {
                        let order = units.map(\.name).joined(separator: ", ")
                        throw QuantityError(field: field, message: "\(quoted(s)): units must come in the order \(order), each once")
                    }
                    throw bad
                }
                nextUnit = u + 1
                guard let n = Int64(digits) else { throw outOfRange }
                let (part, o1) = n.multipliedReportingOverflow(by: units[u].ms)
                let (sum, o2) = total.addingReportingOverflow(part)
                guard !o1, !o2 else { throw outOfRange }
                total = sum
            }
        }
        guard total > 0 || (allowZero && total == 0) else {
            throw QuantityError(field: field, message: "\(quoted(s)) must be more than 0")
        }
        guard total <= maxMs else { throw outOfRange }
        return total
    }
}
