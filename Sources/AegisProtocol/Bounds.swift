// Bounds.swift — the ranges of every number a tenant or an operator gives AEGIS (manifests, `aegis
// run` flags, tenant quotas, join token lifetimes), in one place. Parsers refuse a value outside its
// range with one error naming the field and the range; the maxima are small enough that sums and
// unit conversions of them cannot overflow Int64 (what remains is computed with saturating
// arithmetic, see the `FixedWidthInteger` extension below).

/// The allowed ranges, as named constants (units in the names) and as the texts error messages show.
public enum Bounds {
    /// Largest memory limit or memory quota: 1 PiB (2^50 bytes). 8192 of them still fit in Int64.
    public static let maxMemoryBytes: Int64 = 1 << 50
    /// Largest CPU limit or CPU quota: 1 000 000 cores, in millicores (10^9). As cpu.max quota
    /// (millicores × 100 µs per 100 ms period) it is 10^11 µs, far inside Int64.
    public static let maxCPUMillis: Int64 = 1_000_000_000
    /// Largest pids limit: PID_MAX_LIMIT on 64-bit Linux (include/linux/threads.h), 4 194 304.
    public static let maxPids: Int64 = 4_194_304
    /// Size of an agent's /work volume: 16 MiB (room for ext4's own metadata) to 16 TiB.
    public static let diskRange: ClosedRange<Int64> = (16 << 20)...(8 << 40)
    /// Size of an agent's /tmp (tmpfs): 1 MiB to 64 GiB, and not above the agent's memory limit
    /// when it has one (tmpfs pages are memory).
    public static let tmpRange: ClosedRange<Int64> = (1 << 20)...(64 << 30)
    /// Most GPUs one agent may ask for (`resources.gpus`, `requires.gpu.count`, `--gpus`).
    public static let maxAgentGPUs = 1024
    /// Attempts to pull a workload's image before it fails (ImagePullBackOff between them).
    public static let maxImagePullAttempts = 5
    /// Largest GPU quota of a tenant.
    public static let maxQuotaGPUs = 1_000_000
    /// Largest running-agents quota of a tenant.
    public static let maxQuotaAgents = 1_000_000
    /// Longest agent timeout: 365 days, in seconds (31 536 000).
    public static let maxTimeoutSeconds = 31_536_000
    /// Longest join token lifetime: 365 days, in seconds.
    public static let maxJoinTokenTTLSeconds: Int64 = 31_536_000
    /// Longest lease timing of `aegis up` (--lease-renew-every, --not-ready-after, --down-after,
    /// --reschedule-margin, --lease-grace): 24 h, in milliseconds. A worker's advertised lease grace
    /// is read no longer than this.
    public static let maxLeaseDurationMs = 86_400_000
    /// Longest wait of a node drain (`aegis node drain --timeout`), seconds.
    public static let maxDrainTimeoutSeconds = 86_400
    /// TCP ports: 0 (any free port, where a flag allows it) to 65535.
    public static let ports: ClosedRange<Int> = 0...65_535

    /// "1m to 1000000 cores (1000000000m)".
    public static let cpuRangeText = "1m to \(maxCPUMillis / 1000) cores (\(maxCPUMillis)m)"
    /// "1 PiB (1125899906842624 bytes)".
    public static let maxMemoryText = "1 PiB (\(maxMemoryBytes) bytes)"
    /// "1 s to 365 d (31536000 s)".
    public static let timeoutRangeText = "1 s to 365 d (\(maxTimeoutSeconds) s)"
}

/// A number outside its allowed range: `field` names where it came from (a manifest field, a flag,
/// a JSON field), `message` says the value and the range.
public struct OutOfRangeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension Quota {
    /// Checks every value against `Bounds`: cpu 1m…1 000 000 cores, memory 1 B…1 PiB, GPUs
    /// 0…`maxQuotaGPUs`, running agents 0…`maxQuotaAgents` (nil = unlimited is always fine).
    /// - Throws: `OutOfRangeError` whose field is `quota.cpuMillis`, `quota.memoryBytes`, … .
    public func checkBounds() throws(OutOfRangeError) {
        if let v = cpuMillis, !(1...Bounds.maxCPUMillis).contains(v) {
            throw OutOfRangeError(field: "quota.cpuMillis", message: "\(v) is out of range: \(Bounds.cpuRangeText)")
        }
        if let v = memoryBytes, !(1...Bounds.maxMemoryBytes).contains(v) {
            throw OutOfRangeError(field: "quota.memoryBytes", message: "\(v) is out of range: 1 byte to \(Bounds.maxMemoryText)")
        }
        if let v = gpus, !(0...Bounds.maxQuotaGPUs).contains(v) {
            throw OutOfRangeError(field: "quota.gpus", message: "\(v) is out of range: 0 to \(Bounds.maxQuotaGPUs)")
        }
        if let v = runningAgents, !(0...Bounds.maxQuotaAgents).contains(v) {
            throw OutOfRangeError(field: "quota.runningAgents", message: "\(v) is out of range: 0 to \(Bounds.maxQuotaAgents)")
        }
    }
}

extension ResourceRequest {
    /// Checks every value against `Bounds` (cpu 0…`maxCPUMillis`, memory 0…`maxMemoryBytes`, pids
    /// 0…`maxPids`, GPUs 0…`maxAgentGPUs`): what a stored or forwarded spec must satisfy before
    /// anything adds or scales it. Manifest parsing is stricter (no zero, memory at least 1 MiB).
    /// - Throws: `OutOfRangeError` whose field is `resources.cpuMillis`, `resources.memoryBytes`, … .
    public func checkBounds() throws(OutOfRangeError) {
        if let v = cpuMillis, !(0...Bounds.maxCPUMillis).contains(v) {
            throw OutOfRangeError(field: "resources.cpuMillis", message: "\(v) is out of range: 0 to \(Bounds.maxCPUMillis) millicores")
        }
        if let v = memoryBytes, !(0...Bounds.maxMemoryBytes).contains(v) {
            throw OutOfRangeError(field: "resources.memoryBytes", message: "\(v) is out of range: 0 to \(Bounds.maxMemoryText)")
        }
        if let v = pids, !(0...Bounds.maxPids).contains(v) {
            throw OutOfRangeError(field: "resources.pids", message: "\(v) is out of range: 0 to \(Bounds.maxPids)")
        }
        if !(0...Bounds.maxAgentGPUs).contains(gpus) {
            throw OutOfRangeError(field: "resources.gpus", message: "\(gpus) is out of range: 0 to \(Bounds.maxAgentGPUs)")
        }
        if let v = diskBytes, !Bounds.diskRange.contains(v) {
            throw OutOfRangeError(field: "resources.diskBytes", message: "\(v) is out of range: 16 MiB to 8 TiB")
        }
        if let v = tmpBytes, !Bounds.tmpRange.contains(v) {
            throw OutOfRangeError(field: "resources.tmpBytes", message: "\(v) is out of range: 1 MiB to 64 GiB")
        }
    }
}

extension WorkloadSpec {
    /// `resources.checkBounds()`, `requires.gpu.count` 0…`maxAgentGPUs` and `timeoutSeconds`
    /// 1…`maxTimeoutSeconds`: what the controller checks on every spec it stores, whatever built it.
    /// - Throws: `OutOfRangeError` naming the field.
    public func checkBounds() throws(OutOfRangeError) {
        try resources.checkBounds()
        if let count = requires.gpu?.count, !(0...Bounds.maxAgentGPUs).contains(count) {
            throw OutOfRangeError(field: "requires.gpu.count", message: "\(count) is out of range: 0 to \(Bounds.maxAgentGPUs)")
        }
        if let t = timeoutSeconds, !(1...Bounds.maxTimeoutSeconds).contains(t) {
            throw OutOfRangeError(field: "timeout", message: "\(t) s is out of range: \(Bounds.timeoutRangeText)")
        }
    }
}

extension FixedWidthInteger {
    /// `self + other`, pinned to `.max`/`.min` instead of trapping on overflow.
    @inlinable
    public func saturatingAdding(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// `self - other`, pinned to `.max`/`.min` instead of trapping on overflow.
    @inlinable
    public func saturatingSubtracting(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other > 0 ? .min : .max
    }

    /// `self × other`, pinned to `.max`/`.min` instead of trapping on overflow.
    @inlinable
    public func saturatingMultiplied(by other: Self) -> Self {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return product }
        return (self < 0) == (other < 0) ? .max : .min
    }
}
