// ClusterSearch.swift — one placement search of the cluster scheduler.
//
// 1. The capability-only filters (egress, reach, labels, runtimes, isolation, GPU hardware) become
//    one node bitset, cached per distinct requirement set until a node is added, removed or
//    re-detected.
// 2. Nodes in the bitset are checked against what changes with every placement (state, cordon, free
//    GPUs, free egress addresses, CPU, memory) and scored. Exhaustive: every node in the bitset.
//    Sampled: nodes are visited from a pseudo-random start with a pseudo-random stride coprime to N
//    (so every node is visited at most once) until the feasible-node limit is reached; the best of
//    those wins.
// 3. Nothing feasible: every node's first failing filter is collected and summarised.

import AegisProtocol

/// Static filter results for one requirement set.
struct StaticEntry {
    /// Bit s = node slot s passes egress, reach, labels, runtimes, isolation and GPU hardware.
    var mask: [UInt64]
    /// Per slot: bits of the node's GPUs that match the vendor/model filter (empty when no GPU needed).
    var gpuMatch: [UInt64]
    /// The component bitsets in filter order (egress, reach, labels, runtimes, isolation, GPU
    /// hardware), with the rejection each stands for: a node's first zero bit is its static reason.
    var components: [(code: RejectCode, mask: [UInt64])]
}

extension ClusterScheduler {
    func search(_ req: PlacementRequest, commit: Bool) -> PlacementDecision {
        if let r = reservations[req.workloadID] { return .placed(node: r.node, gpus: r.gpus, score: r.score) }
        let d: Demand
        do { d = try Demand(req.spec, defaults: config.defaults) } catch {
            if commit { stats.pending += 1 }
            return .pending(reason: "\(error)")
        }
        if names.isEmpty {
            if commit { stats.pending += 1 }
            return .pending(reason: "no nodes registered")
        }
        let entry = staticEntry(d)
        let (s, best) = scan(d, entry, limit: config.candidateLimit.feasibleLimit(nodeCount: names.count))
        guard s >= 0 else {
            if commit { stats.pending += 1 }
            return .pending(reason: pendingReason(d, entry))
        }
        var gpus: [String] = []
        var bits: UInt64 = 0
        if d.gpuCount > 0 {
            var avail = entry.gpuMatch[s] & gpuPresentBits[s] & ~gpuTakenBits[s]
            while gpus.count < d.gpuCount && avail != 0 {
                let k = avail.trailingZeroBitCount
                avail &= avail - 1
                bits |= UInt64(1) << UInt64(k)
                gpus.append(caps[s].gpus[k].pciAddress)
            }
        }
        if commit {
            gpuTakenBits[s] |= bits
            allocCPU[s] = allocCPU[s].saturatingAdding(d.cpu)
            allocMemory[s] = allocMemory[s].saturatingAdding(d.memory)
            agents[s] += 1
            if d.egress { egressUsed[s] += 1 }
            reservations[req.workloadID] = Reservation(
                node: names[s], cpuMillis: d.cpu, memoryBytes: d.memory, gpus: gpus,
                score: best, egress: d.egress)
            stats.placed += 1
        }
        return .placed(node: names[s], gpus: gpus, score: best)
    }

    /// Bit s = node slot s holds `image` (`NodeCapabilities.images`), cached like the static masks.
    func imageHolders(_ image: String) -> [UInt64] {
        if let cached = imageHolderMasks[image] { return cached }
        var mask = [UInt64](repeating: 0, count: (names.count + 63) / 64)
        for s in 0..<names.count where caps[s].images?.contains(image) == true { mask[s >> 6] |= UInt64(1) << UInt64(s & 63) }
        imageHolderMasks[image] = mask
        return mask
    }

    /// The best feasible slot (-1 when none) and its score. Separate from `search` so the local column
    /// copies are gone before `search` writes to the columns (no copy-on-write of a whole column).
    func scan(_ d: Demand, _ entry: StaticEntry, limit: Int?) -> (slot: Int, score: Double) {
        let n = names.count
        // Local copies: array reads in the loop then need no exclusivity checks on the class's storage.
        let sched = schedulable, capC = capCPU, capM = capMemory, usedC = allocCPU, usedM = allocMemory
        let taken = gpuTakenBits, present = gpuPresentBits, mask = entry.mask, match = entry.gpuMatch, nodeNames = names
        let eUsed = egressUsed, eCap = egressCap
        let needC = d.cpu, needM = d.memory, needG = d.gpuCount, usesG = d.gpuCount > 0, usesE = d.egress
        let strategy = config.strategy, penalty = config.gpuNodePenalty
        // Slots holding the workload's image get the locality bonus (an empty mask: no image).
        let holders = d.image.map { imageHolders($0) } ?? [], bonus = config.imageLocalityBonus
        var best = -Double.infinity, bestSlot = -1, visited = 0, feasible = 0

        Fit.pow10Table.withUnsafeBufferPointer { table in
            @inline(__always) func consider(_ s: Int) -> Bool {
                visited += 1
                guard sched[s] else { return false }
                // Capacity and use are ≥ 0 and the need is checked first: no subtraction overflows.
                let freeNowC = capC[s] - usedC[s]
                guard freeNowC >= needC else { return false }
                let freeC = freeNowC - needC
                let freeNowM = capM[s] - usedM[s]
                guard freeNowM >= needM else { return false }
                let freeM = freeNowM - needM
                let free = present[s] & ~taken[s]
                if usesG && (match[s] & free).nonzeroBitCount < needG { return false }
                if usesE && eUsed[s] >= eCap[s] { return false }
                var score = Fit.score(
                    strategy: strategy, penalty: penalty, table: table,
                    cpuCapacity: capC[s], cpuFreeAfter: freeC, memoryCapacity: capM[s], memoryFreeAfter: freeM,
                    gpuTotal: present[s].nonzeroBitCount, gpuFreeAfter: free.nonzeroBitCount - needG,
                    usesGPUs: usesG)
                if !holders.isEmpty && holders[s >> 6] & (UInt64(1) << UInt64(s & 63)) != 0 { score += bonus }
                if bestSlot < 0 || score > best || (score == best && nodeNames[s] < nodeNames[bestSlot]) {
                    best = score
                    bestSlot = s
                }
                return true
            }
            if let limit {
                var s = Int(nextRandom() % UInt64(n))
                let stride = coprimeStride(n)
                for _ in 0..<n {
                    if mask[s >> 6] & (UInt64(1) << UInt64(s & 63)) != 0 && consider(s) {
                        feasible += 1
                        if feasible >= limit { break }
                    }
                    s += stride
                    if s >= n { s -= n }
                }
            } else {
                for w in 0..<mask.count {
                    var bits = mask[w]
                    while bits != 0 {
                        let s = w << 6 | bits.trailingZeroBitCount
                        bits &= bits - 1
                        if consider(s) { feasible += 1 }
                    }
                }
            }
        }
        stats.nodesVisited += visited
        stats.nodesScored += feasible
        return (bestSlot, best)
    }

    /// Every node's first failing filter, summarised. Same order and result as
    /// `Feasibility.rejection`, read from the cached bitsets and the allocation columns (no string work
    /// except for the few reasons shown).
    func pendingReason(_ d: Demand, _ entry: StaticEntry) -> String {
        let rejections = rejectionCodes(d, entry)
        return Feasibility.summarize(nodeCount: names.count, rejections: rejections, config: config) { s, code in
            Feasibility.describe(
                code, d, node: names[s], caps: caps[s], state: states[s],
                freeCPU: capCPU[s] - allocCPU[s], freeMemory: capMemory[s] - allocMemory[s],
                egressUsed: egressUsed[s])
        }
    }

    /// Each node's first failing filter, for a demand no node fits.
    func rejectionCodes(_ d: Demand, _ entry: StaticEntry) -> [(node: Int, code: RejectCode)] {
        var rejections: [(node: Int, code: RejectCode)] = []
        rejections.reserveCapacity(names.count)
        for s in 0..<names.count {
            let word = s >> 6, bit = UInt64(1) << UInt64(s & 63)
            let code: RejectCode
            if states[s] != .ready {
                code = .notReady
            } else if cordonedFlags[s] {
                code = .cordoned
            } else if entry.mask[word] & bit == 0, let c = entry.components.first(where: { $0.mask[word] & bit == 0 }) {
                switch c.code {
                case .isolation(let need):
                    code = .isolation(need & ~IsolationBits.enforceable(caps[s].isolation))
                case .gpu:
                    let total = entry.gpuMatch[s].nonzeroBitCount
                    code = .gpu(free: total, total: total)
                default:
                    code = c.code
                }
            } else if d.gpuCount > 0 && (entry.gpuMatch[s] & ~gpuTakenBits[s]).nonzeroBitCount < d.gpuCount {
                code = .gpu(free: (entry.gpuMatch[s] & ~gpuTakenBits[s]).nonzeroBitCount, total: entry.gpuMatch[s].nonzeroBitCount)
            } else if d.egress && egressUsed[s] >= egressCap[s] {
                code = .egressAddress
            } else if capCPU[s] - allocCPU[s] < d.cpu {
                code = .cpu
            } else {
                // Every other check passed, so memory is what is short.
                code = .memory
            }
            rejections.append((s, code))
        }
        return rejections
    }

    /// The bitset of nodes passing the static filters for `d` (cached).
    func staticEntry(_ d: Demand) -> StaticEntry {
        if let e = staticEntries[d.staticKey] { return e }
        let n = names.count, words = (n + 63) / 64
        var mask = [UInt64](repeating: ~0, count: words)
        if n % 64 != 0 { mask[words - 1] = (UInt64(1) << UInt64(n % 64)) - 1 }
        let c = caps
        var tests: [(Int) -> Bool] = []  // in Demand.componentKeys order
        var codes: [RejectCode] = []
        if d.egress {
            tests.append({ c[$0].network?.egress == true })
            codes.append(.noEgress)
        }
        for (i, r) in d.reach.enumerated() {
            tests.append({ c[$0].network?.reach.contains(r) == true })
            codes.append(.reach(i))
        }
        for (i, l) in d.labels.enumerated() {
            tests.append({ c[$0].labels[l.key] == l.value })
            codes.append(.label(i))
        }
        for (i, rt) in d.runtimes.enumerated() {
            var memo: [String: Bool] = [:]  // nodes share few version strings: parse each once
            tests.append({
                c[$0].runtimes.contains { r in
                    guard r.name == rt.name else { return false }
                    guard let constraint = rt.constraint else { return true }
                    if let known = memo[r.version] { return known }
                    let ok = constraint.isSatisfied(by: r.version)
                    memo[r.version] = ok
                    return ok
                }
            })
            codes.append(.runtime(i))
        }
        if d.isolation != 0 {
            let need = d.isolation
            tests.append({ IsolationBits.enforceable(c[$0].isolation) & need == need })
            codes.append(.isolation(need))
        }
        var gpuMatch: [UInt64] = []
        if d.gpuCount > 0 {
            let matchKey = "\(d.gpuVendor ?? "")\u{1F}\(d.gpuModel ?? "")"
            if let cached = gpuMatchMasks[matchKey] {
                gpuMatch = cached
            } else {
                gpuMatch = [UInt64](repeating: 0, count: n)
                var memo: [String: Bool] = [:]  // keyed by vendor + model: clusters have few models
                for s in 0..<n where gpuPresentBits[s] != 0 {
                    let vendors = gpuVendorLC[s], models = gpuModelLC[s]
                    for k in 0..<vendors.count {
                        let key = vendors[k] + "\u{1F}" + models[k]
                        let ok = memo[key] ?? d.gpuMatches(vendorLC: vendors[k], modelLC: models[k])
                        memo[key] = ok
                        if ok { gpuMatch[s] |= UInt64(1) << UInt64(k) }
                    }
                }
                if gpuMatchMasks.count >= 1024 { gpuMatchMasks.removeAll(keepingCapacity: true) }
                gpuMatchMasks[matchKey] = gpuMatch
            }
            let match = gpuMatch, count = d.gpuCount
            tests.append({ match[$0].nonzeroBitCount >= count })
            codes.append(.gpu(free: 0, total: 0))
        }
        var components: [(code: RejectCode, mask: [UInt64])] = []
        for (key, test) in zip(d.componentKeys, tests) {
            let m: [UInt64]
            if let cached = componentMasks[key] {
                m = cached
            } else {
                var bits = [UInt64](repeating: 0, count: words)
                for s in 0..<n where test(s) { bits[s >> 6] |= UInt64(1) << UInt64(s & 63) }
                if componentMasks.count >= 4096 { componentMasks.removeAll(keepingCapacity: true) }
                componentMasks[key] = bits
                m = bits
            }
            for w in 0..<words { mask[w] &= m[w] }
            components.append((codes[components.count], m))
        }
        let e = StaticEntry(mask: mask, gpuMatch: gpuMatch, components: components)
        if staticEntries.count >= 4096 { staticEntries.removeAll(keepingCapacity: true) }
        staticEntries[d.staticKey] = e
        return e
    }

    /// SplitMix64 step.
    func nextRandom() -> UInt64 {
        rngState &+= 0x9E37_79B9_7F4A_7C15
        var z = rngState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stride in 1..<n coprime to n (so start + k·stride mod n visits every slot once).
    func coprimeStride(_ n: Int) -> Int {
        if n <= 2 { return 1 }
        var r = 1 + Int(nextRandom() % UInt64(n - 1))
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        while gcd(r, n) != 1 { r = r % (n - 1) + 1 }
        return r
    }
}
