// OCI runtime spec v1.0–1.2, config-linux.md § Control groups: `linux.resources`.
// Units are the spec's: bytes for memory, CFS microseconds for cpu quota/period, relative weight
// for shares (cgroup v1 cpu.shares scale, 2…262144).

import AegisProtocol

/// `linux.resources`.
public struct LinuxResources: Codable, Sendable, Equatable {
    /// Device cgroup rules, evaluated in order (config-linux.md § Device allowlist). Decoded and
    /// kept; enforcement is AegisSandbox's decision (see `allowsAllDevices`).
    public var devices: [LinuxDeviceCgroup]?
    public var memory: LinuxMemory?
    public var cpu: LinuxCPU?
    public var pids: LinuxPids?
    /// Never honoured, kept generic so their presence can be reported.
    public var blockIO: JSONValue?
    public var hugepageLimits: JSONValue?
    public var network: JSONValue?
    public var rdma: JSONValue?
    /// Raw cgroup v2 interface files ("memory.high": "1G"); AEGIS rejects them.
    public var unified: [String: String]?

    public init(
        devices: [LinuxDeviceCgroup]? = nil, memory: LinuxMemory? = nil, cpu: LinuxCPU? = nil,
        pids: LinuxPids? = nil, blockIO: JSONValue? = nil, hugepageLimits: JSONValue? = nil,
        network: JSONValue? = nil, rdma: JSONValue? = nil, unified: [String: String]? = nil
    ) {
        self.devices = devices
        self.memory = memory
        self.cpu = cpu
        self.pids = pids
        self.blockIO = blockIO
        self.hugepageLimits = hugepageLimits
        self.network = network
        self.rdma = rdma
        self.unified = unified
    }

    /// True when the device rules end up granting every device: the last rule that matches all
    /// devices (type "a" or absent, no major/minor or -1) with all of "rwm" (or no access, which
    /// means "rwm") is an `allow: true` rule. runc's default config is a single deny-all rule, so
    /// this is false for it; with no such rule at all it is false as well (nothing was granted).
    public var allowsAllDevices: Bool {
        var allowed = false
        for rule in devices ?? [] where rule.matchesAllDevices {
            allowed = rule.allow
        }
        return allowed
    }
}

/// One device cgroup rule.
public struct LinuxDeviceCgroup: Codable, Sendable, Equatable {
    public var allow: Bool
    /// "a" (all), "b" (block) or "c" (char); absent means "a".
    public var type: String?
    /// Absent or -1 means any.
    public var major: Int64?
    public var minor: Int64?
    /// Subset of "rwm" (read, write, mknod); absent means "rwm".
    public var access: String?

    public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// True if the rule covers every device node with every access.
    public var matchesAllDevices: Bool {
        let anyType = type == nil || type == "a" || type == ""
        let anyMajor = major == nil || major == -1
        let anyMinor = minor == nil || minor == -1
        let access = self.access ?? "rwm"
        let allAccess = access.isEmpty || (access.contains("r") && access.contains("w") && access.contains("m"))
        return anyType && anyMajor && anyMinor && allAccess
    }
}

/// `linux.resources.memory`: sizes in bytes; -1 means unlimited.
public struct LinuxMemory: Codable, Sendable, Equatable {
    /// Hard limit (cgroup v2 memory.max).
    public var limit: Int64?
    /// Soft limit (memory.low); AEGIS rejects it.
    public var reservation: Int64?
    /// Memory + swap limit (OCI/cgroup v1 semantics; v2 memory.swap.max = swap - limit).
    public var swap: Int64?
    /// Deprecated kernel memory limits; AEGIS rejects them.
    public var kernel: Int64?
    public var kernelTCP: Int64?
    /// cgroup v1 only; AEGIS rejects it.
    public var swappiness: UInt64?
    /// AEGIS rejects `true`.
    public var disableOOMKiller: Bool?
    /// cgroup v1 only; ignored (v2 is always hierarchical).
    public var useHierarchy: Bool?
    /// Only meaningful for `update`; ignored.
    public var checkBeforeUpdate: Bool?

    public init(
        limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil,
        kernelTCP: Int64? = nil, swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil,
        useHierarchy: Bool? = nil, checkBeforeUpdate: Bool? = nil
    ) {
        self.limit = limit
        self.reservation = reservation
        self.swap = swap
        self.kernel = kernel
        self.kernelTCP = kernelTCP
        self.swappiness = swappiness
        self.disableOOMKiller = disableOOMKiller
        self.useHierarchy = useHierarchy
        self.checkBeforeUpdate = checkBeforeUpdate
    }
}

/// `linux.resources.cpu`.
public struct LinuxCPU: Codable, Sendable, Equatable {
    /// Relative weight, 2…262144 (cgroup v1 scale; converted to cpu.weight on v2). 0 means unset.
    public var shares: UInt64?
    /// CFS quota in µs per `period`; -1 or absent means unlimited.
    public var quota: Int64?
    /// CFS burst in µs; AEGIS rejects a non-zero value.
    public var burst: UInt64?
    /// CFS period in µs (default 100000).
    public var period: UInt64?
    /// Real-time scheduling; AEGIS rejects these.
    public var realtimeRuntime: Int64?
    public var realtimePeriod: UInt64?
    /// cpuset.cpus / cpuset.mems lists; AEGIS rejects non-empty values.
    public var cpus: String?
    public var mems: String?
    /// cpu.idle (spec v1.1); AEGIS rejects a non-zero value.
    public var idle: Int64?

    public init(
        shares: UInt64? = nil, quota: Int64? = nil, burst: UInt64? = nil, period: UInt64? = nil,
        realtimeRuntime: Int64? = nil, realtimePeriod: UInt64? = nil, cpus: String? = nil,
        mems: String? = nil, idle: Int64? = nil
    ) {
        self.shares = shares
        self.quota = quota
        self.burst = burst
        self.period = period
        self.realtimeRuntime = realtimeRuntime
        self.realtimePeriod = realtimePeriod
        self.cpus = cpus
        self.mems = mems
        self.idle = idle
    }

    /// The CFS period used when `period` is absent (µs), as runc and the kernel default.
    public static let defaultPeriod: UInt64 = 100_000
}

/// `linux.resources.pids`.
public struct LinuxPids: Codable, Sendable, Equatable {
    /// Maximum number of tasks; -1 means unlimited, 0 or absent means unset (runc's reading of v1.2).
    public var limit: Int64?

    public init(limit: Int64? = nil) {
        self.limit = limit
    }
}
