// Feasibility.swift — the filters a node must pass to take a workload, run in this order:
// state, cordon, egress, reach, labels, runtimes, isolation, GPUs, egress address, CPU, memory
// (static mismatches first, since they are what an operator has to change; shortages pass on their
// own as agents finish).

import AegisProtocol

/// cgroup v2 controllers a limit needs (Documentation/admin-guide/cgroup-v2.rst: memory.max is the
/// memory controller's, cpu.max the cpu controller's, pids.max the pids controller's).
enum IsolationBits {
    static let memory: UInt8 = 1
    static let cpu: UInt8 = 2
    static let pids: UInt8 = 4
    static let all: UInt8 = 7

    /// Limits a node can take: the controllers it has, or everything when started with
    /// --allow-unenforced-limits (limits are then accepted and shown as not enforced).
    static func enforceable(_ iso: IsolationFeatures) -> UInt8 {
        if iso.allowUnenforcedLimits { return all }
        var m: UInt8 = 0
        for c in iso.cgroupControllers {
            switch c {
            case "memory": m |= memory
            case "cpu": m |= cpu
            case "pids": m |= pids
            default: break
            }
        }
        return m
    }

    static func names(_ bits: UInt8) -> [String] {
        var out: [String] = []
        if bits & memory != 0 { out.append("memory") }
        if bits & cpu != 0 { out.append("cpu") }
        if bits & pids != 0 { out.append("pids") }
        return out
    }
}

/// A request compiled once per placement: effective reservations, parsed constraints, lowercased GPU
/// filters, and a key naming its static (capability-only) part for the cluster scheduler's caches.
struct Demand {
    struct Runtime {
        var name: String
        /// The constraint as written (nil = any version).
        var text: String?
        var constraint: VersionConstraint?
    }

    var cpu: Int64
    var memory: Int64
    var gpuCount: Int
    var gpuVendor: String?
    var gpuModel: String?
    var runtimes: [Runtime]
    /// Sorted by key.
    var labels: [(key: String, value: String)]
    var isolation: UInt8
    /// Network mode `egress`: the node must offer egress and have a free egress address.
    var egress: Bool
    /// Reachability labels the node must advertise (`requires.reach`), sorted, without duplicates.
    var reach: [String]
    /// Identifies egress + reach + labels + runtimes + isolation + GPU hardware; "" when there is
    /// none of them.
    var staticKey: String
    /// The image reference as the workload names it (scored, not filtered: `imageLocalityBonus`).
    var image: String?

    init(_ spec: WorkloadSpec, defaults: ResourceDefaults) throws {
        let r = spec.resources
        func nonNegative(_ v: Int64?, _ field: String) throws {
            if let v, v < 0 { throw InvalidRequestError(field: field, problem: "is \(v); must be 0 or more") }
        }
        try nonNegative(r.cpuMillis, "resources.cpuMillis")
        try nonNegative(r.memoryBytes, "resources.memoryBytes")
        try nonNegative(r.pids, "resources.pids")
        try nonNegative(Int64(r.gpus), "resources.gpus")
        try nonNegative(spec.requires.gpu.map { Int64($0.count) }, "requires.gpu.count")
        // Upper bounds too: every sum the scheduler makes of these stays far inside Int64.
        do { try spec.checkBounds() } catch { throw InvalidRequestError(field: error.field, problem: error.message) }
        cpu = r.cpuMillis ?? defaults.cpuMillis
        memory = r.memoryBytes ?? defaults.memoryBytes
        gpuCount = max(r.gpus, spec.requires.gpu?.count ?? 0)
        gpuVendor = spec.requires.gpu?.vendor.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        gpuModel = spec.requires.gpu?.model.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        var rts: [Runtime] = []
        for (i, need) in spec.neededRuntimes.enumerated() {
            let text = need.version.map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 }
            do {
                rts.append(Runtime(name: need.name, text: text, constraint: try text.map { try VersionConstraint($0) }))
            } catch let e as VersionConstraintError {
                let field = i < spec.requires.runtimes.count ? "requires.runtimes[\(i)].version" : "runtime"
                throw InvalidRequestError(field: field, problem: e.description)
            }
        }
        runtimes = rts
        labels = spec.requires.labels.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        isolation =
            (r.memoryBytes != nil ? IsolationBits.memory : 0) | (r.cpuMillis != nil ? IsolationBits.cpu : 0)
            | (r.pids != nil ? IsolationBits.pids : 0)
        egress = spec.network == .egress
        reach = spec.requires.reach.map { Array(Set($0)).sorted() } ?? []
        image = spec.image?.reference
        staticKey = ""
        staticKey = componentKeys.joined(separator: "\u{1E}")
    }

    /// One cache key per static filter component (each maps to a node bitset in the cluster scheduler).
    var componentKeys: [String] {
        var keys: [String] = []
        if egress { keys.append("e") }
        for r in reach { keys.append("R\u{1F}\(r)") }
        for l in labels { keys.append("l\u{1F}\(l.key)\u{1F}\(l.value)") }
        for rt in runtimes { keys.append("r\u{1F}\(rt.name)\u{1F}\(rt.text ?? "")") }
        if isolation != 0 { keys.append("i\u{1F}\(isolation)") }
        if gpuCount > 0 { keys.append("g\u{1F}\(gpuVendor ?? "")\u{1F}\(gpuModel ?? "")\u{1F}\(gpuCount)") }
        return keys
    }

    /// `bonus` when `caps` holds this workload's image, else 0.
    func imageLocality(_ caps: NodeCapabilities, bonus: Double) -> Double {
        guard let image, let held = caps.images, held.contains(image) else { return 0 }
        return bonus
    }

    @inline(__always)
    func gpuMatches(vendorLC: String, modelLC: String) -> Bool {
        if let v = gpuVendor, vendorLC != v { return false }
        if let m = gpuModel, !modelLC.contains(m) { return false }
        return true
    }

    func gpuMatches(_ g: GPUDevice) -> Bool { gpuMatches(vendorLC: g.vendor.lowercased(), modelLC: g.model.lowercased()) }

    /// "2 nvidia GPUs", "1 GPU matching \"a100\"".
    var gpuPhrase: String {
        var s = "\(gpuCount) "
        if let v = gpuVendor { s += "\(v) " }
        s += gpuCount == 1 ? "GPU" : "GPUs"
        if let m = gpuModel { s += " matching \"\(m)\"" }
        return s
    }
}

/// Which filter rejected a node, with what is needed to describe it.
enum RejectCode: Equatable {
    case notReady
    case cordoned
    /// The node offers no egress (network mode egress).
    case noEgress
    /// The node lacks `Demand.reach[i]`.
    case reach(Int)
    case label(Int)
    case runtime(Int)
    /// Bits of the limits the node cannot enforce.
    case isolation(UInt8)
    case gpu(free: Int, total: Int)
    /// Every egress address of the node's subnet is held by an egress agent.
    case egressAddress
    case cpu
    case memory

    /// Same group = same filter and same unmet requirement (used to summarise many nodes).
    var group: Int {
        switch self {
        case .notReady: return 0
        case .cordoned: return 1
        case .noEgress: return 2
        case .reach(let i): return 40_000 + i
        case .label(let i): return 100 + i
        case .runtime(let i): return 10_000 + i
        case .isolation(let bits): return 20_000 + Int(bits)
        case .gpu: return 30_000
        case .cpu: return 30_001
        case .memory: return 30_002
        case .egressAddress: return 30_003
        }
    }
}

enum Feasibility {
    /// The first capability-only filter (egress, reach, labels, runtimes, isolation, GPU hardware)
    /// the node fails.
    static func staticRejection(_ d: Demand, _ caps: NodeCapabilities) -> RejectCode? {
        if d.egress && caps.network?.egress != true { return .noEgress }
        if !d.reach.isEmpty {
            let have = caps.network?.reach ?? []
            for (i, r) in d.reach.enumerated() where !have.contains(r) { return .reach(i) }
        }
        for (i, l) in d.labels.enumerated() where caps.labels[l.key] != l.value { return .label(i) }
        for (i, rt) in d.runtimes.enumerated() where !runtimeFits(rt, caps.runtimes) { return .runtime(i) }
        let missing = d.isolation & ~IsolationBits.enforceable(caps.isolation)
        if missing != 0 { return .isolation(missing) }
        if d.gpuCount > 0 {
            let total = caps.gpus.reduce(0) { $0 + (d.gpuMatches($1) ? 1 : 0) }
            if total < d.gpuCount { return .gpu(free: total, total: total) }
        }
        return nil
    }

    static func runtimeFits(_ rt: Demand.Runtime, _ installed: [RuntimeInfo]) -> Bool {
        installed.contains { $0.name == rt.name && (rt.constraint?.isSatisfied(by: $0.version) ?? true) }
    }

    /// Egress addresses a node offers agents: its `egressSlots` when egress works there, else 0.
    static func egressCapacity(_ caps: NodeCapabilities) -> Int {
        guard let n = caps.network, n.egress else { return 0 }
        return max(0, n.egressSlots)
    }

    /// The first filter the node fails, or nil when it fits. `isTaken(pci)` tells allocated GPUs;
    /// `egressUsed` is the number of egress agents already on the node.
    static func rejection(
        _ d: Demand, caps: NodeCapabilities, state: NodeCondition, cordoned: Bool,
        freeCPU: Int64, freeMemory: Int64, egressUsed: Int, isTaken: (String) -> Bool
    ) -> RejectCode? {
        if state != .ready { return .notReady }
        if cordoned { return .cordoned }
        if let code = staticRejection(d, caps) { return code }
        if d.gpuCount > 0 {
            var free = 0, total = 0
            for g in caps.gpus where d.gpuMatches(g) {
                total += 1
                if !isTaken(g.pciAddress) { free += 1 }
            }
            if free < d.gpuCount { return .gpu(free: free, total: total) }
        }
        if d.egress && egressUsed >= egressCapacity(caps) { return .egressAddress }
        if freeCPU < d.cpu { return .cpu }
        if freeMemory < d.memory { return .memory }
        return nil
    }

    /// The human reason for `code` on node `name`.
    static func describe(
        _ code: RejectCode, _ d: Demand, node name: String, caps: NodeCapabilities, state: NodeCondition,
        freeCPU: Int64, freeMemory: Int64, egressUsed: Int
    ) -> Rejection {
        switch code {
        case .notReady:
            return Rejection(node: name, filter: .state, need: "", have: "is not Ready (state \(state.rawValue))")
        case .cordoned:
            return Rejection(node: name, filter: .cordoned, need: "", have: "is cordoned")
        case .noEgress:
            let problem = caps.network?.egressProblem.flatMap { $0.isEmpty ? nil : $0 }
            return Rejection(
                node: name, filter: .egress, need: "needs network egress",
                have: "has no egress" + (problem.map { " (\($0))" } ?? ""))
        case .reach(let i):
            let have = (caps.network?.reach ?? []).sorted()
            return Rejection(
                node: name, filter: .reach, need: "needs reach=\(d.reach[i])",
                have: have.isEmpty ? "has no reach labels" : "has reach \(have.joined(separator: ", "))")
        case .egressAddress:
            let total = egressCapacity(caps)
            let subnet = caps.network?.subnet.map { " of subnet \($0)" } ?? ""
            let have: String
            if total == 0 {
                have = "has no egress addresses to give"
            } else {
                // More agents than addresses: the node was re-detected with a smaller subnet.
                have =
                    (total == 1 ? "has its one address\(subnet) in use" : "has all \(total) addresses\(subnet) in use")
                    + (egressUsed > total ? " (\(egressUsed) egress agents)" : "")
            }
            return Rejection(node: name, filter: .egressAddress, need: "needs an egress address", have: have)
        case .label(let i):
            let l = d.labels[i]
            let have = caps.labels[l.key].map { "has \(l.key)=\($0)" } ?? "has no \(l.key) label"
            return Rejection(node: name, filter: .labels, need: "needs label \(l.key)=\(l.value)", have: have)
        case .runtime(let i):
            let rt = d.runtimes[i]
            let versions = caps.runtimes.filter { $0.name == rt.name }.map(\.version)
            let have = versions.isEmpty ? "has no \(rt.name)" : "has \(rt.name) \(versions.joined(separator: ", "))"
            return Rejection(
                node: name, filter: .runtime, need: "needs \(rt.name)" + (rt.text.map { " \($0)" } ?? ""),
                have: have)
        case .isolation(let bits):
            let names = IsolationBits.names(bits)
            return Rejection(
                node: name, filter: .isolation,
                need: "needs \(names.joined(separator: " and ")) limit enforcement",
                have: "has no \(names.joined(separator: " or ")) cgroup controller",
                hint: "start it with --allow-unenforced-limits to run unenforced")
        case .gpu(let free, let total):
            let have = free == total ? "has \(free) free" : "has \(free) free of \(total)"
            return Rejection(node: name, filter: .gpu, need: "needs \(d.gpuPhrase)", have: have)
        case .cpu:
            return Rejection(node: name, filter: .cpu, need: "needs \(d.cpu)m CPU", have: "has \(max(0, freeCPU))m free")
        case .memory:
            return Rejection(
                node: name, filter: .memory,
                need: "needs \(ByteText.format(d.memory, roundingUp: true)) memory",
                have: "has \(ByteText.format(max(0, freeMemory), roundingUp: false)) free")
        }
    }

    /// One line for a workload no node can take. `rejections` are in node order; `describe` makes the
    /// text for one of them (only the few that are shown are described).
    static func summarize(
        nodeCount: Int, rejections: [(node: Int, code: RejectCode)], config: SchedulerConfig,
        describe: (Int, RejectCode) -> Rejection
    ) -> String {
        if nodeCount == 0 || rejections.isEmpty { return "no nodes registered" }
        if rejections.count == 1 { return describe(rejections[0].node, rejections[0].code).message }
        let listed = max(1, config.maxListedReasons)
        let limit = max(60, config.maxReasonLength)
        var parts: [(text: String, covers: Int)] = []
        if rejections.count <= listed {
            parts = rejections.map { (describe($0.node, $0.code).short, 1) }
        } else {
            var groups: [Int: (count: Int, first: Int)] = [:]
            for (pos, r) in rejections.enumerated() {
                groups[r.code.group, default: (0, pos)].count += 1
            }
            let ordered = groups.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.first < $1.first }
            for g in ordered.prefix(listed) {
                let r = rejections[g.first]
                let text = describe(r.node, r.code).short
                parts.append((g.count > 1 ? "\(text) (+\(g.count - 1) like it)" : text, g.count))
            }
        }
        var out = rejections.count > listed ? "no node fits (\(rejections.count) nodes): " : "no node fits: "
        var covered = 0
        for (i, p) in parts.enumerated() {
            let sep = i == 0 ? "" : "; "
            let reserve = covered + p.covers < rejections.count || i < parts.count - 1 ? 20 : 0
            if out.count + sep.count + p.text.count + reserve > limit {
                if i == 0 {  // even one reason is too long: cut it
                    out += String(p.text.prefix(max(10, limit - out.count - reserve - 1))) + "…"
                    covered += p.covers
                }
                break
            }
            out += sep + p.text
            covered += p.covers
        }
        if covered < rejections.count { out += "; … and \(rejections.count - covered) more" }
        return out
    }
}

/// Byte counts as people read them ("512 MiB", "1.5 GiB").
enum ByteText {
    /// One decimal at most; `roundingUp` for needs (never understated), down for what is free.
    static func format(_ bytes: Int64, roundingUp: Bool) -> String {
        if bytes <= 0 { return "0 B" }
        let units: [(String, Int64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        guard let (name, unit) = units.first(where: { bytes >= $0.1 }) else { return "\(bytes) B" }
        let whole = bytes / unit, rest = bytes % unit
        var tenths = whole * 10 + rest * 10 / unit
        if roundingUp && (rest * 10) % unit != 0 { tenths += 1 }
        return tenths % 10 == 0 ? "\(tenths / 10) \(name)" : "\(tenths / 10).\(tenths % 10) \(name)"
    }
}
