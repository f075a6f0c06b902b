// Types.swift — the scheduler's inputs (node states, placement requests, configuration) and outputs
// (decisions, rejections). Units: cpu in millicores, memory in bytes.
//
// The design follows the two phases of Nomad's scheduler (feasibility checking, then ranking of the
// feasible nodes); the code and texts here are AEGIS's own.

import AegisProtocol

/// A node as the scheduler sees it: what it has, what is already reserved on it, and whether it may
/// receive new work.
public struct NodeState: Sendable, Equatable {
    public var name: String
    public var capabilities: NodeCapabilities
    /// Reserved by agents already placed (cpu millicores, memory bytes, GPU PCI addresses, agents,
    /// egress agents: each holds one of `capabilities.network.egressSlots`; nil counts as 0).
    public var allocated: Allocation
    /// Only `.ready` nodes receive work.
    public var state: NodeCondition
    /// A cordoned node keeps its agents but receives no new ones.
    public var cordoned: Bool

    public init(
        name: String, capabilities: NodeCapabilities, allocated: Allocation = Allocation(),
        state: NodeCondition = .ready, cordoned: Bool = false
    ) {
        self.name = name
        self.capabilities = capabilities
        self.allocated = allocated
        self.state = state
        self.cordoned = cordoned
    }

    /// The scheduler's view of a node the controller knows (role is not used for placement).
    public init(_ info: NodeInfo) {
        self.init(
            name: info.name, capabilities: info.capabilities, allocated: info.allocated,
            state: info.state, cordoned: info.cordoned)
    }

    /// Ready and not cordoned.
    public var isSchedulable: Bool { state == .ready && !cordoned }
}

/// One workload to place.
public struct PlacementRequest: Sendable, Equatable {
    /// The workload id; the cluster scheduler keys its reservations by it.
    public var workloadID: String
    /// Resources (reserved), requirements (filtered on) and network mode (`egress` needs a node
    /// with egress and a free address of its egress subnet; other modes are not filtered on).
    public var spec: WorkloadSpec
    /// The owning tenant (used by quota checks).
    public var tenant: String

    /// `tenant` defaults to `spec.tenant`.
    public init(workloadID: String, spec: WorkloadSpec, tenant: String? = nil) {
        self.workloadID = workloadID
        self.spec = spec
        self.tenant = tenant ?? spec.tenant
    }

    /// GPUs the workload needs: the larger of `resources.gpus` and `requires.gpu.count`.
    public var gpuCount: Int { max(spec.resources.gpus, spec.requires.gpu?.count ?? 0) }

    /// The workload runs in network mode `egress` and so holds one egress address of its node.
    public var usesEgress: Bool { spec.network == .egress }
}

/// The outcome of one placement attempt.
public enum PlacementDecision: Sendable, Equatable {
    /// Placed on `node`; `gpus` are the PCI addresses assigned exclusively; `score` is the node's rank
    /// (bin-pack or spread fit in 0…1, minus the GPU-node penalty where it applies; higher is better).
    case placed(node: String, gpus: [String], score: Double)
    /// Not placed; `reason` says why in one line (per-node reasons, summarised).
    case pending(reason: String)

    public var node: String? {
        if case .placed(let node, _, _) = self { return node }
        return nil
    }

    public var isPlaced: Bool { node != nil }
}

/// How feasible nodes are ranked.
public enum ScoringStrategy: String, Sendable, Codable, CaseIterable {
    /// Prefer the node that is fullest after placement (keeps whole nodes free for big agents).
    case binpack
    /// Prefer the node that is emptiest after placement (spreads load and failure impact).
    case spread
}

/// How many nodes are examined per placement.
public enum CandidateLimit: Sendable, Equatable {
    /// Every node, every time.
    case exhaustive
    /// Visit nodes in a pseudo-random order and stop after ⌈log₂ N⌉ feasible nodes (at least 2), as
    /// Nomad limits its service-job search; exhaustive when the cluster has fewer than
    /// `exhaustiveBelow` nodes.
    case logarithmic(exhaustiveBelow: Int)
    /// Stop after this many feasible nodes (at least 1).
    case fixed(Int)

    /// Feasible nodes to find before ranking, for a cluster of `nodeCount` nodes (nil = all).
    public func feasibleLimit(nodeCount: Int) -> Int? {
        switch self {
        case .exhaustive:
            return nil
        case .logarithmic(let below):
            if nodeCount < below || nodeCount < 2 { return nil }
            var bits = 0
            while (1 << bits) < nodeCount { bits += 1 }  // ⌈log₂ N⌉
            return max(2, bits)
        case .fixed(let k):
            return max(1, k)
        }
    }
}

/// What is reserved for a workload that does not say (reservation only: no limit is enforced).
public struct ResourceDefaults: Sendable, Equatable, Codable {
    /// Millicores reserved when `resources.cpuMillis` is nil (default 100 = 0.1 CPU).
    public var cpuMillis: Int64
    /// Bytes reserved when `resources.memoryBytes` is nil (default 128 MiB).
    public var memoryBytes: Int64

    public init(cpuMillis: Int64 = 100, memoryBytes: Int64 = 128 << 20) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
    }
}

/// Scheduler knobs.
public struct SchedulerConfig: Sendable, Equatable {
    public var strategy: ScoringStrategy
    public var defaults: ResourceDefaults
    /// Subtracted from the score of a node that still has free GPUs when the workload needs none, so
    /// CPU-only work keeps off GPU nodes. Fit scores are 0…1, so the default 1 makes the preference
    /// strict (a GPU node is used only when no node without free GPUs fits); below 1 it is a bias.
    public var gpuNodePenalty: Double
    /// Added to the score of a node that holds the workload's image (`NodeCapabilities.images`),
    /// which then starts without a pull: a preference, never a filter. Fit scores are 0…1, so the
    /// default 0.25 wins over a fit up to a quarter worse (Kubernetes' ImageLocality plugin is
    /// likewise one weighted score among others).
    public var imageLocalityBonus: Double
    /// Search limit of `ClusterScheduler` (the stateless `Scheduler` is always exhaustive).
    public var candidateLimit: CandidateLimit
    /// Seed of the cluster scheduler's visiting order (deterministic for a given call sequence).
    public var seed: UInt64
    /// Node reasons listed in a pending summary before "… and N more".
    public var maxListedReasons: Int
    /// Characters a pending reason may have (longer summaries are cut at a reason boundary).
    public var maxReasonLength: Int

    public init(
        strategy: ScoringStrategy = .binpack, defaults: ResourceDefaults = ResourceDefaults(),
        gpuNodePenalty: Double = 1, candidateLimit: CandidateLimit = .logarithmic(exhaustiveBelow: 100),
        seed: UInt64 = 0x0AE6_15C4_ED01, maxListedReasons: Int = 3, maxReasonLength: Int = 400,
        imageLocalityBonus: Double = 0.25
    ) {
        self.imageLocalityBonus = imageLocalityBonus
        self.strategy = strategy
        self.defaults = defaults
        self.gpuNodePenalty = gpuNodePenalty
        self.candidateLimit = candidateLimit
        self.seed = seed
        self.maxListedReasons = maxListedReasons
        self.maxReasonLength = maxReasonLength
    }
}

/// Why one node cannot take a workload.
public struct Rejection: Sendable, Equatable, CustomStringConvertible {
    /// The feasibility filter that rejected the node, in the order filters run.
    public enum Filter: String, Sendable, CaseIterable {
        /// Static: node state, cordon, the egress network mode, reachability labels, operator labels,
        /// runtimes, limit enforcement, GPU hardware. Dynamic: free GPUs, a free egress address, CPU,
        /// memory.
        case state, cordoned, egress, reach, labels, runtime, isolation, gpu, egressAddress, cpu, memory
    }

    public var node: String
    public var filter: Filter
    /// What the workload needs ("needs 2 nvidia GPUs"); empty for state and cordon rejections.
    public var need: String
    /// What the node has ("has 0 free", "is cordoned").
    public var have: String
    /// How an operator could make the node fit, when there is a way.
    public var hint: String?

    public init(node: String, filter: Filter, need: String, have: String, hint: String? = nil) {
        self.node = node
        self.filter = filter
        self.need = need
        self.have = have
        self.hint = hint
    }

    /// "needs 2 nvidia GPUs; node n1 has 0 free" (with " (hint)" when there is one).
    public var message: String {
        let base = need.isEmpty ? "node \(node) \(have)" : "\(need); node \(node) \(have)"
        return hint.map { "\(base) (\($0))" } ?? base
    }

    /// "n1: needs 2 nvidia GPUs, has 0 free" — the form used in multi-node summaries.
    public var short: String { need.isEmpty ? "\(node): \(have)" : "\(node): \(need), \(have)" }

    public var description: String { message }
}

/// A workload request the scheduler cannot interpret (bad version constraint, negative resources).
public struct InvalidRequestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The offending field ("requires.runtimes[0].version", "resources.cpuMillis").
    public var field: String
    public var problem: String

    public var description: String { "invalid workload: \(field): \(problem)" }
}
