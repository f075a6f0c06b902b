// ClusterScheduler.swift — the controller's in-memory placement state: node columns indexed by name,
// per-workload reservations, and cached node bitsets for the capability-only filters, so one
// placement costs a masked scan of a few arrays (or, sampled, a few dozen node visits).

import AegisProtocol

/// What a placed workload holds on its node.
public struct Reservation: Sendable, Equatable, Codable {
    public var node: String
    public var cpuMillis: Int64
    public var memoryBytes: Int64
    /// PCI addresses, exclusively this workload's.
    public var gpus: [String]
    /// The score the node had when chosen (0 for restored reservations).
    public var score: Double
    /// Holds one address of the node's egress subnet (network mode egress).
    public var egress: Bool

    public init(
        node: String, cpuMillis: Int64, memoryBytes: Int64, gpus: [String] = [], score: Double = 0,
        egress: Bool = false
    ) {
        self.node = node
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.score = score
        self.egress = egress
    }

    enum CodingKeys: String, CodingKey { case node, cpuMillis, memoryBytes, gpus, score, egress }

    /// `egress` may be absent (reservations recorded before egress existed): false.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            node: try c.decode(String.self, forKey: .node), cpuMillis: try c.decode(Int64.self, forKey: .cpuMillis),
            memoryBytes: try c.decode(Int64.self, forKey: .memoryBytes), gpus: try c.decode([String].self, forKey: .gpus),
            score: try c.decode(Double.self, forKey: .score),
            egress: try c.decodeIfPresent(Bool.self, forKey: .egress) ?? false)
    }
}

/// Counters since the scheduler was created.
public struct SchedulerStats: Sendable, Equatable {
    public var placed = 0
    public var pending = 0
    /// Nodes looked at in placement searches (static bitset hits and misses).
    public var nodesVisited = 0
    /// Feasible nodes scored.
    public var nodesScored = 0
    public init() {}
}

/// Stateful scheduler: holds node states, reserves on placement and frees on `release`.
///
/// Not thread-safe (and not Sendable): own it from one actor or task, as the controller's scheduling
/// loop does. Decisions are deterministic for a given config (seed included) and call sequence.
/// Nodes may have at most 64 GPUs each; GPUs past the 64th are never assigned.
public final class ClusterScheduler {
    public let config: SchedulerConfig
    public internal(set) var stats = SchedulerStats()

    // Node columns, one slot per node (a removed node's slot is refilled by the last node).
    var names: [String] = []
    var caps: [NodeCapabilities] = []
    var states: [NodeCondition] = []
    var cordonedFlags: [Bool] = []
    var schedulable: [Bool] = []
    var capCPU: [Int64] = []
    var capMemory: [Int64] = []
    var allocCPU: [Int64] = []
    var allocMemory: [Int64] = []
    var agents: [Int] = []
    /// Egress agents on the node, and the egress addresses it offers (0 when it has no egress).
    var egressUsed: [Int] = []
    var egressCap: [Int] = []
    /// Bit k = the node's k-th GPU (detection order) is assigned.
    var gpuTakenBits: [UInt64] = []
    /// Bit k = the node has a k-th GPU (first 64).
    var gpuPresentBits: [UInt64] = []
    /// Lowercased vendor and model of the node's first 64 GPUs (for vendor/model filters).
    var gpuVendorLC: [[String]] = []
    var gpuModelLC: [[String]] = []
    var slotOf: [String: Int] = [:]
    var reservations: [String: Reservation] = [:]

    // Caches over capabilities only; cleared whenever a node is added, removed or re-detected.
    var componentMasks: [String: [UInt64]] = [:]
    /// vendor + model filter → per slot, bits of the matching GPUs.
    var gpuMatchMasks: [String: [UInt64]] = [:]
    var staticEntries: [String: StaticEntry] = [:]
    /// Image reference → bit s = slot s holds it (`imageHolders`).
    var imageHolderMasks: [String: [UInt64]] = [:]
    var rngState: UInt64

    public init(config: SchedulerConfig = SchedulerConfig(), nodes: [NodeState] = []) {
        self.config = config
        self.rngState = config.seed
        for n in nodes { upsert(n) }
    }

    /// Number of nodes known.
    public var nodeCount: Int { names.count }

    /// All nodes with their current allocation, in slot order.
    public var nodes: [NodeState] { (0..<names.count).map(nodeState) }

    /// The node named `name` with its current allocation.
    public func node(_ name: String) -> NodeState? { slotOf[name].map(nodeState) }

    /// The reservation of a placed workload.
    public func reservation(for workload: String) -> Reservation? { reservations[workload] }

    /// Number of workloads holding a reservation.
    public var reservationCount: Int { reservations.count }

    /// Adds a node, or updates an existing node's capabilities, state and cordon flag. A new node starts
    /// with `node.allocated` (reservations not tracked by workload); an existing node keeps the
    /// allocation this scheduler tracks (GPU assignments kept by PCI address).
    public func upsert(_ node: NodeState) {
        if let s = slotOf[node.name] {
            states[s] = node.state
            cordonedFlags[s] = node.cordoned
            schedulable[s] = node.isSchedulable
            guard caps[s] != node.capabilities else { return }
            let takenPCI = takenAddresses(slot: s)
            caps[s] = node.capabilities
            capCPU[s] = max(0, node.capabilities.cpuMillis)
            capMemory[s] = max(0, node.capabilities.memoryBytes)
            egressCap[s] = Feasibility.egressCapacity(node.capabilities)
            (gpuPresentBits[s], gpuTakenBits[s]) = ClusterScheduler.gpuBits(node.capabilities.gpus, taken: Set(takenPCI))
            gpuVendorLC[s] = node.capabilities.gpus.prefix(64).map { $0.vendor.lowercased() }
            gpuModelLC[s] = node.capabilities.gpus.prefix(64).map { $0.model.lowercased() }
            invalidateCaches()
            return
        }
        slotOf[node.name] = names.count
        names.append(node.name)
        caps.append(node.capabilities)
        states.append(node.state)
        cordonedFlags.append(node.cordoned)
        schedulable.append(node.isSchedulable)
        // Capacities and allocations are kept at 0 or more, so capacity − allocation never overflows.
        capCPU.append(max(0, node.capabilities.cpuMillis))
        capMemory.append(max(0, node.capabilities.memoryBytes))
        allocCPU.append(max(0, node.allocated.cpuMillis))
        allocMemory.append(max(0, node.allocated.memoryBytes))
        agents.append(max(0, node.allocated.agents))
        egressUsed.append(max(0, node.allocated.egressAgents ?? 0))
        egressCap.append(Feasibility.egressCapacity(node.capabilities))
        let bits = ClusterScheduler.gpuBits(node.capabilities.gpus, taken: Set(node.allocated.gpus))
        gpuPresentBits.append(bits.present)
        gpuTakenBits.append(bits.taken)
        gpuVendorLC.append(node.capabilities.gpus.prefix(64).map { $0.vendor.lowercased() })
        gpuModelLC.append(node.capabilities.gpus.prefix(64).map { $0.model.lowercased() })
        invalidateCaches()
    }

    /// Sets a node's condition (only `.ready` nodes receive work); false when the node is unknown.
    @discardableResult
    public func setState(_ state: NodeCondition, node: String) -> Bool {
        guard let s = slotOf[node] else { return false }
        states[s] = state
        schedulable[s] = state == .ready && !cordonedFlags[s]
        return true
    }

    /// Cordons or uncordons a node; false when the node is unknown.
    @discardableResult
    public func setCordoned(_ cordoned: Bool, node: String) -> Bool {
        guard let s = slotOf[node] else { return false }
        cordonedFlags[s] = cordoned
        schedulable[s] = states[s] == .ready && !cordoned
        return true
    }

    /// Forgets a node and the reservations on it; false when the node is unknown.
    @discardableResult
    public func remove(node: String) -> Bool {
        guard let s = slotOf.removeValue(forKey: node) else { return false }
        let last = names.count - 1
        if s != last {
            names.swapAt(s, last); caps.swapAt(s, last); states.swapAt(s, last)
            cordonedFlags.swapAt(s, last); schedulable.swapAt(s, last); capCPU.swapAt(s, last)
            capMemory.swapAt(s, last); allocCPU.swapAt(s, last); allocMemory.swapAt(s, last)
            agents.swapAt(s, last); egressUsed.swapAt(s, last); egressCap.swapAt(s, last)
            gpuTakenBits.swapAt(s, last); gpuPresentBits.swapAt(s, last)
            gpuVendorLC.swapAt(s, last); gpuModelLC.swapAt(s, last)
            slotOf[names[s]] = s
        }
        names.removeLast(); caps.removeLast(); states.removeLast(); cordonedFlags.removeLast()
        schedulable.removeLast(); capCPU.removeLast(); capMemory.removeLast(); allocCPU.removeLast()
        allocMemory.removeLast(); agents.removeLast(); egressUsed.removeLast(); egressCap.removeLast()
        gpuTakenBits.removeLast(); gpuPresentBits.removeLast(); gpuVendorLC.removeLast(); gpuModelLC.removeLast()
        reservations = reservations.filter { $0.value.node != node }
        invalidateCaches()
        return true
    }

    /// Places one workload and reserves its resources. A workload that already holds a reservation
    /// gets it back unchanged (placing is idempotent per workload id).
    public func place(_ req: PlacementRequest) -> PlacementDecision {
        search(req, commit: true)
    }

    /// What `place` would decide, without reserving anything (the visiting order still advances).
    public func preview(_ req: PlacementRequest) -> PlacementDecision {
        search(req, commit: false)
    }

    /// Frees what `workload` reserved; returns the reservation, or nil when it held none.
    @discardableResult
    public func release(workload: String) -> Reservation? {
        guard let r = reservations.removeValue(forKey: workload) else { return nil }
        guard let s = slotOf[r.node] else { return r }
        allocCPU[s] = max(0, allocCPU[s].saturatingSubtracting(max(0, r.cpuMillis)))
        allocMemory[s] = max(0, allocMemory[s].saturatingSubtracting(max(0, r.memoryBytes)))
        agents[s] = max(0, agents[s] - 1)
        if r.egress { egressUsed[s] = max(0, egressUsed[s] - 1) }
        for pci in r.gpus {
            if let k = caps[s].gpus.prefix(64).firstIndex(where: { $0.pciAddress == pci }) {
                gpuTakenBits[s] &= ~(UInt64(1) << UInt64(k))
            }
        }
        return r
    }

    /// Re-adds a reservation made earlier (after a controller restart, from the store); an egress
    /// reservation counts against the node's egress addresses even when that overcommits them (the
    /// agent already runs). Throws `ReservationError` when the workload already holds one, the node
    /// is unknown, or a GPU is not on the node or is already assigned.
    public func restore(workload: String, reservation r: Reservation) throws {
        if let old = reservations[workload] {
            throw ReservationError(workload: workload, problem: "already holds a reservation on node \(old.node)")
        }
        guard let s = slotOf[r.node] else { throw ReservationError(workload: workload, problem: "node \(r.node) is unknown") }
        var bits: UInt64 = 0
        for pci in r.gpus {
            guard let k = caps[s].gpus.prefix(64).firstIndex(where: { $0.pciAddress == pci }) else {
                throw ReservationError(workload: workload, problem: "GPU \(pci) is not on node \(r.node)")
            }
            let bit = UInt64(1) << UInt64(k)
            if (gpuTakenBits[s] | bits) & bit != 0 {
                throw ReservationError(workload: workload, problem: "GPU \(pci) on node \(r.node) is already assigned")
            }
            bits |= bit
        }
        gpuTakenBits[s] |= bits
        allocCPU[s] = allocCPU[s].saturatingAdding(max(0, r.cpuMillis))
        allocMemory[s] = allocMemory[s].saturatingAdding(max(0, r.memoryBytes))
        agents[s] += 1
        if r.egress { egressUsed[s] += 1 }
        reservations[workload] = r
    }

    // MARK: helpers

    /// The node view; `allocated.egressAgents` is set on nodes that offer egress or hold egress
    /// agents, nil elsewhere.
    func nodeState(_ s: Int) -> NodeState {
        let egress = egressUsed[s] > 0 || caps[s].network?.egress == true ? egressUsed[s] : nil
        return NodeState(
            name: names[s], capabilities: caps[s],
            allocated: Allocation(
                cpuMillis: allocCPU[s], memoryBytes: allocMemory[s], gpus: takenAddresses(slot: s),
                agents: agents[s], egressAgents: egress),
            state: states[s], cordoned: cordonedFlags[s])
    }

    func takenAddresses(slot s: Int) -> [String] {
        caps[s].gpus.prefix(64).enumerated().compactMap { k, g in
            gpuTakenBits[s] & (UInt64(1) << UInt64(k)) != 0 ? g.pciAddress : nil
        }
    }

    static func gpuBits(_ gpus: [GPUDevice], taken: Set<String>) -> (present: UInt64, taken: UInt64) {
        var present: UInt64 = 0, t: UInt64 = 0
        for (k, g) in gpus.prefix(64).enumerated() {
            present |= UInt64(1) << UInt64(k)
            if taken.contains(g.pciAddress) { t |= UInt64(1) << UInt64(k) }
        }
        return (present, t)
    }

    func invalidateCaches() {
        componentMasks.removeAll(keepingCapacity: true)
        gpuMatchMasks.removeAll(keepingCapacity: true)
        staticEntries.removeAll(keepingCapacity: true)
        imageHolderMasks.removeAll(keepingCapacity: true)
    }
}

/// A reservation that cannot be restored.
public struct ReservationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var workload: String
    public var problem: String
    public var description: String { "cannot restore reservation of workload \(workload): \(problem)" }
}
