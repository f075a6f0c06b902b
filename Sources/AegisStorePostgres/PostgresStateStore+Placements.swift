// PostgresStateStore+Placements.swift — scheduler decisions, a batch in ONE transaction and (per
// round) ONE statement: `PlacementBatchStatement` updates every eligible workload from arrays
// (UPDATE … FROM unnest) and appends their "scheduled" events. The rule per decision is SQLite's
// (AegisStore/Placements.swift): applied only when the stored generation is lower, the workload
// is not final and, with `onlyIfPending`, pending.
import AegisProtocol
import AegisStore
import PostgresNIO

extension PostgresStateStore {
    public func recordPlacements(_ placements: [Placement], nowMs: Int64) async throws -> [String] {
        guard !placements.isEmpty else { return [] }
        // Decisions for one workload apply in order, as if one by one: the n-th decision for an id
        // goes into round n (one statement per round; nearly every batch is a single round).
        var rounds: [PlacementBatchStatement] = []
        var seen: [String: Int] = [:]
        var roundOf: [Int] = []
        for p in placements {
            let round = seen[p.workloadID, default: 0]
            seen[p.workloadID] = round + 1
            roundOf.append(round)
            if round == rounds.count {
                rounds.append(PlacementBatchStatement(timeMs: nowMs, type: WorkloadEventType.scheduled.rawValue))
            }
            let gpuText = p.gpus.isEmpty ? "" : ", gpus \(p.gpus.joined(separator: ","))"
            rounds[round].ids.append(p.workloadID)
            rounds[round].nodes.append(p.node)
            rounds[round].generations.append(p.generation)
            rounds[round].gpus.append(try Self.stringsJSON(p.gpus, "placement of \(p.workloadID) gpus"))
            rounds[round].unenforced.append(try Self.stringsJSON(p.unenforcedLimits, "placement of \(p.workloadID) unenforcedLimits"))
            rounds[round].onlyIfPending.append(p.onlyIfPending)
            rounds[round].messages.append("placed on node \(p.node) (generation \(p.generation)\(gpuText))")
        }
        let logger = self.logger
        let statements = rounds
        let applied = try await write("record \(placements.count) placement(s)") { connection -> [Set<String>] in
            var applied: [Set<String>] = []
            for statement in statements {
                var ids: Set<String> = []
                for try await id in try await connection.execute(statement, logger: logger) { ids.insert(id) }
                applied.append(ids)
            }
            return applied
        }
        return zip(placements, roundOf).filter { !applied[$1].contains($0.workloadID) }.map(\.0.workloadID)
    }
}
