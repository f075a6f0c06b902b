// ResourceFiles.swift — OCI `linux.resources` (cgroup v1 shaped) → cgroup v2 limits, the mapping
// runc's fs2 manager uses: memory.max/swap.max, cpu.max/weight, pids.max, and the further files
// memory.low (reservation), cpuset.cpus/mems, io.weight/io.max (blockIO), hugetlb.<size>.max and
// raw `unified` keys.
import AegisCgroup
import AegisOCI

enum ResourceFiles {
    /// The limits for a sandbox's leaf. - Throws: `SandboxError(.invalidSpec)` naming the field.
    static func limits(_ r: LinuxResources?) throws -> CgroupLimits {
        var l = CgroupLimits()
        guard let r else { return l }
        if let m = r.memory {
            if let limit = m.limit { l.memoryMax = limit < 0 ? -1 : limit }
            if let swap = m.swap { l.memorySwapMax = CgroupLimits.swapOnly(ociSwap: swap, ociLimit: m.limit ?? -1) }
            if let low = m.reservation {
                l.files.append(.init(controller: "memory", file: "memory.low", value: low < 0 ? "max" : String(low)))
            }
        }
        if let cpu = r.cpu {
            if cpu.quota != nil || cpu.period != nil {
                let q = cpu.quota.flatMap { $0 > 0 ? $0 : nil }
                l.cpuMax = CgroupLimits.CPUMax(quota: q, period: cpu.period ?? 100_000)
            }
            if let shares = cpu.shares, shares > 0 { l.cpuWeight = CgroupLimits.cpuWeight(fromShares: shares) }
            if let cpus = cpu.cpus, !cpus.isEmpty { l.files.append(.init(controller: "cpuset", file: "cpuset.cpus", value: cpus)) }
            if let mems = cpu.mems, !mems.isEmpty { l.files.append(.init(controller: "cpuset", file: "cpuset.mems", value: mems)) }
        }
        if let p = r.pids?.limit { l.pidsMax = p > 0 ? p : -1 }
        do {
            if let b = r.blockIO, b.isMeaningful { l.files += io(try LinuxBlockIO(b, path: "linux.resources.blockIO")) }
            if let h = r.hugepageLimits, h.isMeaningful {
                for limit in try LinuxHugepageLimit.list(h, path: "linux.resources.hugepageLimits") {
                    l.files.append(.init(controller: "hugetlb", file: "hugetlb.\(limit.pageSize).max", value: String(limit.limit)))
                }
            }
        } catch let e as SpecError {
            throw SandboxError(.invalidSpec, e.description)
        }
        for (key, value) in (r.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
            l.files.append(.init(controller: String(key.prefix(while: { $0 != "." })), file: key, value: value))
        }
        return l
    }

    /// blkio weight (10...1000) → io.weight (1...10000), as runc: 1 + (w − 10) · 9999 / 990.
    static func ioWeight(_ w: UInt16) -> UInt64 { 1 + (UInt64(w) - 10) * 9999 / 990 }

    static func io(_ b: LinuxBlockIO) -> [CgroupLimits.FileSetting] {
        var out: [CgroupLimits.FileSetting] = []
        if let w = b.weight { out.append(.init(controller: "io", file: "io.weight", value: "default \(ioWeight(w))")) }
        for d in b.weightDevices {
            out.append(.init(controller: "io", file: "io.weight", value: "\(d.major):\(d.minor) \(ioWeight(d.weight))"))
        }
        let names = [
            "throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
            "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops",
        ]
        for (key, rates) in b.throttles {
            for r in rates {
                out.append(
                    .init(
                        controller: "io", file: "io.max",
                        value: "\(r.major):\(r.minor) \(names[key]!)=\(r.rate == 0 ? "max" : String(r.rate))"))
            }
        }
        return out
    }
}
