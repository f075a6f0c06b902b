#if canImport(Glibc)
import Glibc
#endif

/// Resource limits for one sandbox leaf, in cgroup v2 units (already converted from OCI's v1-shaped
/// `linux.resources` where needed). `nil` means "do not write this file".
///
/// Files and formats: kernel Documentation/admin-guide/cgroup-v2.rst, sections "Memory Interface
/// Files" (memory.max, memory.swap.max), "CPU Interface Files" (cpu.max, cpu.weight) and "PID
/// Interface Files" (pids.max).
public struct CgroupLimits: Sendable, Equatable {
    /// `cpu.max`: `quota` µs of CPU time per `period` µs; `quota == nil` writes `max` (no limit).
    public struct CPUMax: Sendable, Equatable {
        /// µs per period, or nil for "max".
        public var quota: Int64?
        /// µs; the kernel accepts 1000...1_000_000.
        public var period: UInt64

        public init(quota: Int64?, period: UInt64 = 100_000) {
            self.quota = quota
            self.period = period
        }

        /// The kernel's text form: `"<quota> <period>"` or `"max <period>"`.
        public var fileValue: String { "\(quota.map(String.init) ?? "max") \(period)" }

        /// Parses the text form of cpu.max.
        public init?(fileValue: String) {
            let parts = words(fileValue)
            guard parts.count == 2, let period = UInt64(parts[1]) else { return nil }
            if parts[0] == "max" {
                self.init(quota: nil, period: period)
            } else if let quota = Int64(parts[0]) {
                self.init(quota: quota, period: period)
            } else {
                return nil
            }
        }
    }

    /// `memory.max` in bytes; -1 writes `max`.
    public var memoryMax: Int64?
    /// `memory.swap.max` in bytes of swap only (see `swapOnly` to convert OCI's memory+swap); -1 = `max`.
    public var memorySwapMax: Int64?
    /// `cpu.max`.
    public var cpuMax: CPUMax?
    /// `cpu.weight`, 1...10000 (see `cpuWeight(fromShares:)`).
    public var cpuWeight: UInt64?
    /// `pids.max`; -1 writes `max`.
    public var pidsMax: Int64?
    /// Further interface files, written after the ones above in this order: memory.low,
    /// cpuset.cpus/mems, io.weight/io.max (one line per device), hugetlb.<size>.max and raw
    /// `unified` keys. Each names the controller it needs enabled.
    public var files: [FileSetting] = []

    /// One interface file write: `value` into `<leaf>/<file>`, which needs `controller`.
    public struct FileSetting: Sendable, Equatable {
        public var controller: String
        public var file: String
        public var value: String

        public init(controller: String, file: String, value: String) {
            self.controller = controller
            self.file = file
            self.value = value
        }
    }

    public init(
        memoryMax: Int64? = nil, memorySwapMax: Int64? = nil, cpuMax: CPUMax? = nil,
        cpuWeight: UInt64? = nil, pidsMax: Int64? = nil
    ) {
        self.memoryMax = memoryMax
        self.memorySwapMax = memorySwapMax
        self.cpuMax = cpuMax
        self.cpuWeight = cpuWeight
        self.pidsMax = pidsMax
    }

    /// No limits: the leaf still gives kill, freeze, cpu.stat and membership.
    public static let none = CgroupLimits()

    /// One requested limit: its controller, a short name for messages, its interface file and value.
    struct Setting: Equatable {
        let controller: String
        let file: String
        let value: String
    }

    /// The writes this value asks for, in the order they are performed (memory, cpu, pids).
    var settings: [Setting] {
        var out: [Setting] = []
        if let v = memoryMax { out.append(Setting(controller: "memory", file: "memory.max", value: Self.maxOr(v))) }
        if let v = memorySwapMax { out.append(Setting(controller: "memory", file: "memory.swap.max", value: Self.maxOr(v))) }
        if let v = cpuMax { out.append(Setting(controller: "cpu", file: "cpu.max", value: v.fileValue)) }
        if let v = cpuWeight { out.append(Setting(controller: "cpu", file: "cpu.weight", value: String(v))) }
        if let v = pidsMax { out.append(Setting(controller: "pids", file: "pids.max", value: Self.maxOr(v))) }
        for f in files { out.append(Setting(controller: f.controller, file: f.file, value: f.value)) }
        return out
    }

    /// Controllers these limits need enabled in every ancestor's `cgroup.subtree_control`,
    /// in the fixed order memory, cpu, pids.
    public var requiredControllers: [String] {
        var seen: [String] = []
        for s in settings where !seen.contains(s.controller) { seen.append(s.controller) }
        return seen
    }

    /// Rejects values the kernel would refuse, before anything is created.
    func validate() throws(CgroupError) {
        func bad(_ field: String, _ detail: String) -> CgroupError {
            CgroupError(code: .invalidArgument, path: nil, description: "cgroup: invalid \(field): \(detail)")
        }
        if let v = memoryMax, v < -1 { throw bad("memoryMax", "\(v) (bytes ≥ 0, or -1 for max)") }
        if let v = memorySwapMax, v < -1 { throw bad("memorySwapMax", "\(v) (bytes ≥ 0, or -1 for max)") }
        if let v = pidsMax, v < -1 { throw bad("pidsMax", "\(v) (≥ 0, or -1 for max)") }
        if let v = cpuWeight, v < 1 || v > 10_000 { throw bad("cpuWeight", "\(v) (1...10000)") }
        if let v = cpuMax {
            if let q = v.quota, q <= 0 { throw bad("cpuMax.quota", "\(q) µs (> 0, or nil for max)") }
            if v.period < 1_000 || v.period > 1_000_000 { throw bad("cpuMax.period", "\(v.period) µs (1000...1000000)") }
        }
        for f in files {
            let name = f.file
            if name.contains("/") || name.hasPrefix("cgroup.") || !name.hasPrefix(f.controller + ".") || f.value.contains("\0") {
                throw bad("files", "\"\(name)\" is not an interface file of the \(f.controller) controller")
            }
        }
    }

    static func maxOr(_ value: Int64) -> String { value < 0 ? "max" : String(value) }

    static func parseMaxOr(_ text: String) -> Int64? {
        let t = trimmed(text)
        return t == "max" ? -1 : Int64(t)
    }

    // MARK: - OCI (cgroup v1 shaped) → cgroup v2 conversions

    /// Converts OCI `linux.resources.memory.swap` (a memory+swap total, cgroup v1 semantics) to the
    /// cgroup v2 `memory.swap.max` value (swap only), the way runc does:
    /// - `ociSwap == -1` → -1 (`max`); `ociLimit == -1` with `ociSwap == 0` → -1 (both unlimited);
    /// - `ociSwap == 0` → 0 (OCI "unset": callers should then leave `memorySwapMax` nil);
    /// - `ociLimit ≤ 0` (no memory limit) → `ociSwap` unchanged;
    /// - otherwise `ociSwap - ociLimit`; runc rejects `ociSwap < ociLimit`, here it clamps to 0 (no swap).
    /// Units: bytes.
    public static func swapOnly(ociSwap: Int64, ociLimit: Int64) -> Int64 {
        if ociLimit == -1 && ociSwap == 0 { return -1 }
        if ociSwap == -1 || ociSwap == 0 { return ociSwap }
        if ociLimit <= 0 { return ociSwap }
        return max(0, ociSwap - ociLimit)
    }

    /// Converts cgroup v1 `cpu.shares` (OCI `linux.resources.cpu.shares`, 2...262144, default 1024)
    /// to cgroup v2 `cpu.weight` (1...10000, default 100) with the non-linear mapping current runc
    /// (opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`, runc ≥ 1.3.2, runc PR #4785) and
    /// crun (issue #1721) use since 2025:
    ///
    ///     l = log2(shares);  weight = ceil(10^((l² + 125·l) / 612 − 7/34))
    ///
    /// a quadratic in log space fitted so that 2 → 1, 1024 → 100 and 262144 → 10000 exactly.
    /// Edges as in those runtimes: 0 → 0 ("unset"; do not write cpu.weight), ≤ 2 → 1, ≥ 262144 → 10000.
    /// Verified against the Kubernetes e2e copy of the function ("matches opencontainers/cgroups").
    public static func cpuWeight(fromShares shares: UInt64) -> UInt64 {
        if shares == 0 { return 0 }
        if shares <= 2 { return 1 }
        if shares >= 262_144 { return 10_000 }
        let l = log2(Double(shares))
        let exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
        return UInt64(ceil(pow(10, exponent)))
    }

    /// The legacy linear mapping (runc < 1.3.2, older crun): `1 + ((shares − 2) · 9999) / 262142`,
    /// integer arithmetic; maps 1024 → 39, which made a default container far weaker than a
    /// default v2 cgroup (100). Kept for comparing with state written by older runtimes.
    public static func legacyLinearCPUWeight(fromShares shares: UInt64) -> UInt64 {
        if shares == 0 { return 0 }
        let s = min(max(shares, 2), 262_144)
        return 1 + ((s - 2) * 9_999) / 262_142
    }
}
