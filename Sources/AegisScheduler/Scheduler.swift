// Scheduler.swift — stateless placement over a list of node states: every node is checked, the
// feasible ones ranked, the best chosen. `ClusterScheduler` is the indexed, stateful version.

import AegisProtocol

/// Places one workload on the best of the given nodes. Stateless and always exhaustive; it changes no
/// allocation (the caller records the placement).
public struct Scheduler: Sendable {
    public var config: SchedulerConfig

    public init(config: SchedulerConfig = SchedulerConfig()) {
        self.config = config
    }

    /// Filters every node (state, cordon, egress, reach, labels, runtimes, isolation, GPUs, egress
    /// address, CPU, memory), ranks the
    /// feasible ones with `config.strategy` and returns the best (ties → smaller node name), with the
    /// first free matching GPUs in the node's detection order. A request that cannot be interpreted
    /// (bad version constraint, negative resources) is returned pending with the reason.
    public func place(_ req: PlacementRequest, nodes: [NodeState]) -> PlacementDecision {
        let d: Demand
        do { d = try Demand(req.spec, defaults: config.defaults) } catch {
            return .pending(reason: "\(error)")
        }
        var best = -Double.infinity, bestIndex: Int?
        var rejections: [(node: Int, code: RejectCode)] = []
        Fit.pow10Table.withUnsafeBufferPointer { table in
            for (i, n) in nodes.enumerated() {
                let taken = Set(n.allocated.gpus)
                let freeCPU = n.capabilities.cpuMillis.saturatingSubtracting(n.allocated.cpuMillis)
                let freeMem = n.capabilities.memoryBytes.saturatingSubtracting(n.allocated.memoryBytes)
                if let code = Feasibility.rejection(
                    d, caps: n.capabilities, state: n.state, cordoned: n.cordoned,
                    freeCPU: freeCPU, freeMemory: freeMem,
                    egressUsed: n.allocated.egressAgents ?? 0,
                    isTaken: { taken.contains($0) })
                {
                    rejections.append((i, code))
                    continue
                }
                let gpuFree = n.capabilities.gpus.reduce(0) { $0 + (taken.contains($1.pciAddress) ? 0 : 1) }
                let s =
                    Fit.score(
                        strategy: config.strategy, penalty: config.gpuNodePenalty, table: table,
                        cpuCapacity: n.capabilities.cpuMillis, cpuFreeAfter: freeCPU - d.cpu,
                        memoryCapacity: n.capabilities.memoryBytes, memoryFreeAfter: freeMem - d.memory,
                        gpuTotal: n.capabilities.gpus.count, gpuFreeAfter: gpuFree - d.gpuCount,
                        usesGPUs: d.gpuCount > 0) + d.imageLocality(n.capabilities, bonus: config.imageLocalityBonus)
                if Fit.better(s, n.name, than: best, bestIndex.map { nodes[$0].name }) {
                    best = s
                    bestIndex = i
                }
            }
        }
        guard let bi = bestIndex else {
            return .pending(
                reason: Feasibility.summarize(nodeCount: nodes.count, rejections: rejections, config: config) {
                    i, code in
                    let n = nodes[i]
                    return Feasibility.describe(
                        code, d, node: n.name, caps: n.capabilities, state: n.state,
                        freeCPU: n.capabilities.cpuMillis.saturatingSubtracting(n.allocated.cpuMillis),
                        freeMemory: n.capabilities.memoryBytes.saturatingSubtracting(n.allocated.memoryBytes),
                        egressUsed: n.allocated.egressAgents ?? 0)
                })
        }
        let node = nodes[bi]
        var gpus: [String] = []
        if d.gpuCount > 0 {
            let taken = Set(node.allocated.gpus)
            for g in node.capabilities.gpus where gpus.count < d.gpuCount && !taken.contains(g.pciAddress) && d.gpuMatches(g) {
                gpus.append(g.pciAddress)
            }
        }
        return .placed(node: node.name, gpus: gpus, score: best)
    }

    /// Why `node` cannot take `req`, or nil when it can. Throws `InvalidRequestError` for a request that
    /// cannot be interpreted.
    public func rejection(_ req: PlacementRequest, node: NodeState) throws -> Rejection? {
        let d = try Demand(req.spec, defaults: config.defaults)
        let taken = Set(node.allocated.gpus)
        let freeCPU = node.capabilities.cpuMillis.saturatingSubtracting(node.allocated.cpuMillis)
        let freeMem = node.capabilities.memoryBytes.saturatingSubtracting(node.allocated.memoryBytes)
        let egressUsed = node.allocated.egressAgents ?? 0
        guard
            let code = Feasibility.rejection(
                d, caps: node.capabilities, state: node.state, cordoned: node.cordoned,
                freeCPU: freeCPU, freeMemory: freeMem, egressUsed: egressUsed,
                isTaken: { taken.contains($0) })
        else { return nil }
        return Feasibility.describe(
            code, d, node: node.name, caps: node.capabilities, state: node.state,
            freeCPU: freeCPU, freeMemory: freeMem, egressUsed: egressUsed)
    }

    /// What placing `req` reserves (defaults filled in): cpu millicores, memory bytes, GPU count.
    public func reservation(for req: PlacementRequest) -> (cpuMillis: Int64, memoryBytes: Int64, gpus: Int) {
        let r = req.spec.resources
        return (r.cpuMillis ?? config.defaults.cpuMillis, r.memoryBytes ?? config.defaults.memoryBytes, req.gpuCount)
    }

    /// The `Reservation` a placed workload holds on `node` with GPUs `gpus` (defaults filled in, one
    /// egress address when its network mode is egress): what a controller restores after a restart.
    public func reservation(for req: PlacementRequest, node: String, gpus: [String]) -> Reservation {
        let r = reservation(for: req)
        return Reservation(node: node, cpuMillis: r.cpuMillis, memoryBytes: r.memoryBytes, gpus: gpus, egress: req.usesEgress)
    }

    /// `quotaCheck(tenantUsage:quota:request:tenant:defaults:)` with this scheduler's defaults, the
    /// request's tenant and its GPU count (the larger of resources.gpus and requires.gpu.count).
    public func quotaCheck(tenantUsage: Allocation, quota: Quota, request: PlacementRequest) -> String? {
        var resources = request.spec.resources
        resources.gpus = request.gpuCount
        return AegisScheduler.quotaCheck(
            tenantUsage: tenantUsage, quota: quota, request: resources,
            tenant: request.tenant, defaults: config.defaults)
    }
}

/// The pending reason when one more agent with `request` would take the tenant over `quota`, or nil
/// when it fits. `tenantUsage` is what the tenant's running and placed agents reserve (agents = their
/// count). Unset cpu/memory count as `defaults` (what the scheduler reserves); GPUs are
/// `request.gpus`. Every exceeded limit is listed:
/// "tenant acme: running agents 5/5; cpu 3500m used + 1000m requested > 4000m quota".
/// Sums saturate at Int64.max (any value, even one no parser lets through, is compared, never trapped on).
public func quotaCheck(
    tenantUsage: Allocation, quota: Quota, request: ResourceRequest, tenant: String? = nil,
    defaults: ResourceDefaults = ResourceDefaults()
) -> String? {
    var over: [String] = []
    if let max = quota.runningAgents, tenantUsage.agents.saturatingAdding(1) > max {
        over.append("running agents \(tenantUsage.agents)/\(max)")
    }
    let cpu = request.cpuMillis ?? defaults.cpuMillis
    if let max = quota.cpuMillis, tenantUsage.cpuMillis.saturatingAdding(cpu) > max {
        over.append("cpu \(tenantUsage.cpuMillis)m used + \(cpu)m requested > \(max)m quota")
    }
    let mem = request.memoryBytes ?? defaults.memoryBytes
    if let max = quota.memoryBytes, tenantUsage.memoryBytes.saturatingAdding(mem) > max {
        over.append(
            "memory \(ByteText.format(tenantUsage.memoryBytes, roundingUp: true)) used + "
                + "\(ByteText.format(mem, roundingUp: true)) requested > \(ByteText.format(max, roundingUp: false)) quota")
    }
    if let max = quota.gpus, request.gpus > 0, tenantUsage.gpus.count.saturatingAdding(request.gpus) > max {
        over.append("GPUs \(tenantUsage.gpus.count) used + \(request.gpus) requested > \(max) quota")
    }
    if over.isEmpty { return nil }
    return "\(tenant.map { "tenant \($0)" } ?? "quota"): " + over.joined(separator: "; ")
}
