// Quantity.swift — the tenant quota flags (parsed by AegisProtocol's `Quantity`, the grammar of
// manifests), and the short human forms of CPU, memory and durations the tables print.
import AegisProtocol

/// The quota of `aegis tenant create` from its flags: `--max-cpu` and `--max-memory` in the
/// quantity grammar of manifests (`Quantity`), GPUs and agents as counts.
/// - Throws: `QuantityError` naming the flag.
public func tenantQuota(maxCPU: String?, maxMemory: String?, maxGPUs: Int?, maxAgents: Int?) throws(QuantityError) -> Quota {
    var quota = Quota(gpus: maxGPUs, runningAgents: maxAgents)
    if let maxCPU { quota.cpuMillis = try Quantity.cpuMillis(maxCPU, field: "--max-cpu") }
    if let maxMemory { quota.memoryBytes = try Quantity.memoryBytes(maxMemory, field: "--max-memory") }
    return quota
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
