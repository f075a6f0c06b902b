// Validation of `linux.resources` and `linux.seccomp` (see Validation.swift for the overview).

extension LinuxResources {
    /// Validates `linux.resources`.
    ///
    /// Rejected as not honoured: network, rdma (cgroup v1 only), blockIO leafWeight;
    /// memory.kernel/kernelTCP/swappiness, disableOOMKiller true; cpu.realtimeRuntime,
    /// realtimePeriod, non-zero idle/burst. blockIO, hugepageLimits and unified keys are checked
    /// for shape (`LinuxBlockIO`, `LinuxHugepageLimit`, "<controller>.<file>").
    /// Checked: memory.limit > 0 or -1 (0 = unset); memory.swap (memory+swap, bytes) needs a finite
    /// limit and must be -1 or >= limit (runc's rule); cpu.shares 2…262144 (0 = unset); cpu.quota -1,
    /// 0 (unset) or >= 1000 µs and cpu.period 1000…1000000 µs (kernel cpu.max bounds,
    /// kernel/sched/core.c); pids.limit -1, 0 (unset) or > 0; device rules' type (a/b/c) and access
    /// (subset of rwm). Device rules are otherwise accepted (see `allowsAllDevices`).
    /// - Throws: `SpecError` with a "linux.resources…" path.
    func validate() throws {
        let base = "linux.resources"
        for (i, rule) in (devices ?? []).enumerated() {
            if let type = rule.type, !["a", "b", "c", ""].contains(type) {
                throw SpecError(path: "\(base).devices[\(i)].type", message: "unknown device type \"\(type)\" (expected a, b or c)")
            }
            if let access = rule.access, !access.allSatisfy({ "rwm".contains($0) }) {
                throw SpecError(path: "\(base).devices[\(i)].access", message: "invalid access \"\(access)\" (expected letters of \"rwm\")")
            }
        }
        if let memory { try memory.validate(base + ".memory") }
        if let cpu { try cpu.validate(base + ".cpu") }
        if let limit = pids?.limit, limit < -1 {
            throw SpecError(path: "\(base).pids.limit", message: "must be -1 (unlimited) or positive, got \(limit)")
        }
        for (name, value) in [("network", network), ("rdma", rdma)] {
            if let value, value.isMeaningful {
                throw SpecError(path: "\(base).\(name)", message: "not supported (cgroup v1 only)")
            }
        }
        if let blockIO, blockIO.isMeaningful { _ = try LinuxBlockIO(blockIO, path: "\(base).blockIO") }
        if let hugepageLimits, hugepageLimits.isMeaningful {
            _ = try LinuxHugepageLimit.list(hugepageLimits, path: "\(base).hugepageLimits")
        }
        for key in (unified ?? [:]).keys.sorted() {
            // "<controller>.<file>": an interface file of a controller, never a core cgroup.* file.
            let parts = key.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, parts[0] != "cgroup", parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                !parts[1].isEmpty, !key.contains("/")
            else {
                throw SpecError(
                    path: "\(base).unified.\(key)", message: "not an interface file of a controller (\"<controller>.<file>\", not cgroup.*)"
                )
            }
        }
    }
}

extension LinuxMemory {
    func validate(_ base: String) throws {
        for (name, value) in [("kernel", kernel), ("kernelTCP", kernelTCP)] where value != nil {
            throw SpecError(path: "\(base).\(name)", message: "not supported")
        }
        if let r = reservation, r < -1 {
            throw SpecError(path: "\(base).reservation", message: "must be -1 (unlimited) or a number of bytes ≥ 0, got \(r)")
        }
        if swappiness != nil { throw SpecError(path: "\(base).swappiness", message: "not supported (cgroup v1 only)") }
        if disableOOMKiller == true {
            throw SpecError(path: "\(base).disableOOMKiller", message: "not supported")
        }
        if let limit, limit < -1 {
            throw SpecError(path: "\(base).limit", message: "must be -1 (unlimited) or a positive number of bytes, got \(limit)")
        }
        guard let swap, swap != 0 else { return }
        if swap < -1 {
            throw SpecError(path: "\(base).swap", message: "must be -1 (unlimited) or a positive number of bytes, got \(swap)")
        }
        guard let limit, limit != 0 else {
            throw SpecError(path: "\(base).swap", message: "a swap limit requires memory.limit")
        }
        if swap != -1 && limit == -1 {
            throw SpecError(path: "\(base).swap", message: "a swap limit requires a finite memory.limit")
        }
        if swap != -1 && swap < limit {
            throw SpecError(
                path: "\(base).swap",
                message: "memory+swap limit \(swap) is less than memory.limit \(limit) (swap counts memory plus swap)")
        }
    }
}

extension LinuxCPU {
    func validate(_ base: String) throws {
        if let shares, shares != 0, !(2...262_144).contains(shares) {
            throw SpecError(path: "\(base).shares", message: "must be in 2...262144, got \(shares)")
        }
        if let quota, quota != 0, quota != -1, quota < 1000 {
            throw SpecError(path: "\(base).quota", message: "must be -1 (unlimited) or at least 1000 µs, got \(quota)")
        }
        if let period, period != 0, !(1000...1_000_000).contains(period) {
            throw SpecError(path: "\(base).period", message: "must be in 1000...1000000 µs, got \(period)")
        }
        if let burst, burst != 0 { throw SpecError(path: "\(base).burst", message: "not supported") }
        if realtimeRuntime != nil { throw SpecError(path: "\(base).realtimeRuntime", message: "not supported") }
        if realtimePeriod != nil { throw SpecError(path: "\(base).realtimePeriod", message: "not supported") }
        for (name, list) in [("cpus", cpus), ("mems", mems)] {
            // The kernel's list format (cpuset(7)): "0-3,5,7-8".
            if let list, !list.isEmpty, !list.allSatisfy({ $0.isNumber || $0 == "," || $0 == "-" }) {
                throw SpecError(path: "\(base).\(name)", message: "expected a list such as \"0-3,5\", got \"\(list)\"")
            }
        }
        if let idle, idle != 0 { throw SpecError(path: "\(base).idle", message: "not supported") }
    }
}

extension LinuxSeccomp {
    /// libseccomp action names the OCI spec defines and AEGIS supports (config-linux.md § Seccomp).
    /// SCMP_ACT_NOTIFY needs a listener process and is rejected.
    public static let knownActions: Set<String> = [
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
    ]

    /// Architecture names of the OCI spec (libseccomp's SCMP_ARCH_* spelled as strings).
    public static let knownArchitectures: Set<String> = [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    ]

    /// Argument comparison operators (libseccomp's enum scmp_compare).
    public static let knownOperators: Set<String> = [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ]

    /// seccomp(2) filter flags the spec allows.
    public static let knownFlags: Set<String> = [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ]

    /// Validates names only; whether syscall names exist is checked when AegisSeccomp compiles the
    /// filter with libseccomp.
    /// - Throws: `SpecError` with a "linux.seccomp…" path.
    func validate() throws {
        let base = "linux.seccomp"
        try Self.checkAction(defaultAction, path: "\(base).defaultAction")
        for (i, arch) in (architectures ?? []).enumerated() where !Self.knownArchitectures.contains(arch) {
            throw SpecError(path: "\(base).architectures[\(i)]", message: "unknown seccomp architecture \"\(arch)\"")
        }
        for (i, flag) in (flags ?? []).enumerated() where !Self.knownFlags.contains(flag) {
            throw SpecError(path: "\(base).flags[\(i)]", message: "unknown seccomp flag \"\(flag)\"")
        }
        if let listenerPath, !listenerPath.isEmpty {
            throw SpecError(path: "\(base).listenerPath", message: "seccomp user notification is not supported")
        }
        for (i, rule) in (syscalls ?? []).enumerated() {
            let path = "\(base).syscalls[\(i)]"
            if rule.names.isEmpty { throw SpecError(path: "\(path).names", message: "must not be empty") }
            for (j, name) in rule.names.enumerated() where name.isEmpty {
                throw SpecError(path: "\(path).names[\(j)]", message: "must not be empty")
            }
            try Self.checkAction(rule.action, path: "\(path).action")
            for (j, arg) in (rule.args ?? []).enumerated() {
                if arg.index > 5 {
                    throw SpecError(
                        path: "\(path).args[\(j)].index", message: "must be 0...5 (syscalls have six arguments), got \(arg.index)")
                }
                if !Self.knownOperators.contains(arg.op) {
                    throw SpecError(path: "\(path).args[\(j)].op", message: "unknown seccomp operator \"\(arg.op)\"")
                }
            }
        }
    }

    private static func checkAction(_ action: String, path: String) throws {
        if action == "SCMP_ACT_NOTIFY" {
            throw SpecError(path: path, message: "SCMP_ACT_NOTIFY is not supported (no seccomp listener)")
        }
        if !knownActions.contains(action) {
            throw SpecError(path: path, message: "unknown seccomp action \"\(action)\"")
        }
    }
}
