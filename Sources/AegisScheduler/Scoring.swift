// Scoring.swift — ranking feasible nodes.
//
// The fit score uses the shape of Nomad's bin-packing score: for each resource dimension take the
// fraction left free after placement, f ∈ [0, 1], and sum 10^f. A node left nearly full sums to about
// 1 per dimension, an idle one to 10, so the exponential strongly prefers filling one node up before
// touching the next. Normalised here to 0…1:
//   bin-pack = (10·n − Σ 10^f) / (9·n)        spread = (Σ 10^f − n) / (9·n)
// with n = 2 (cpu, memory), or 3 when the workload takes GPUs (the node's free-GPU fraction).

import AegisProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Fit {
    /// 10^(i/1024) for i in 0…1024: 10^f by table lookup and linear interpolation (relative error
    /// below 1e-5, identical on every platform, far cheaper than pow()).
    static let pow10Table: [Double] = (0...1024).map { pow(10.0, Double($0) / 1024) }

    @inline(__always)
    static func pow10(_ f: Double, _ table: UnsafeBufferPointer<Double>) -> Double {
        let x = f <= 0 ? 0 : (f >= 1 ? 1 : f)
        let scaled = x * 1024
        let i = Int(scaled)
        if i >= 1024 { return table[1024] }
        let t = scaled - Double(i)
        return table[i] + (table[i + 1] - table[i]) * t
    }

    /// The fraction of `capacity` that stays free when `freeAfter` is left (0 when capacity is 0).
    @inline(__always)
    static func freeFraction(_ freeAfter: Int64, _ capacity: Int64) -> Double {
        capacity > 0 ? Double(freeAfter) / Double(capacity) : 0
    }

    /// Score of placing on a node. Capacities and what stays free after placement; GPU counts are
    /// all GPUs of the node (not only the matching ones).
    @inline(__always)
    static func score(
        strategy: ScoringStrategy, penalty: Double, table: UnsafeBufferPointer<Double>,
        cpuCapacity: Int64, cpuFreeAfter: Int64, memoryCapacity: Int64, memoryFreeAfter: Int64,
        gpuTotal: Int, gpuFreeAfter: Int, usesGPUs: Bool
    ) -> Double {
        var sum =
            pow10(freeFraction(cpuFreeAfter, cpuCapacity), table)
            + pow10(freeFraction(memoryFreeAfter, memoryCapacity), table)
        var n = 2.0
        if usesGPUs && gpuTotal > 0 {
            sum += pow10(Double(gpuFreeAfter) / Double(gpuTotal), table)
            n = 3
        }
        var s = strategy == .binpack ? (10 * n - sum) / (9 * n) : (sum - n) / (9 * n)
        if !usesGPUs && gpuFreeAfter > 0 { s -= penalty }
        return s
    }

    /// Better score wins; equal scores go to the smaller name, so the choice never depends on order.
    @inline(__always)
    static func better(_ score: Double, _ name: String, than best: Double, _ bestName: String?) -> Bool {
        guard let bestName else { return true }
        return score > best || (score == best && name < bestName)
    }
}
