// placement-bench — AegisScheduler throughput and quality on a simulated cluster, single-threaded.
// Usage and what each number means: README.md beside this file.

import AegisProtocol
import AegisScheduler
import AegisStore
import AegisStorePostgres
import Foundation

struct Options {
    var nodes = 5000
    var agents = 10000
    var seed: UInt64 = 1
    var json: String?
    var logDir = "/var/tmp"
    var maxBatch = 1000
    var maxDelayMs = 10
    /// PostgreSQL datastore URL: persistence is measured there too, beside SQLite.
    var datastore: String?
    var datastorePasswordFile: String?
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let v = args.popFirst() else { fatalError("\(flag) needs a value") }
        return v
    }
    while let a = args.popFirst() {
        switch a {
        case "--nodes": o.nodes = Int(value(a))!
        case "--agents": o.agents = Int(value(a))!
        case "--seed": o.seed = UInt64(value(a))!
        case "--json": o.json = value(a)
        case "--log-dir": o.logDir = value(a)
        case "--max-batch": o.maxBatch = Int(value(a))!
        case "--max-delay-ms": o.maxDelayMs = Int(value(a))!
        case "--datastore": o.datastore = value(a)
        case "--datastore-password-file": o.datastorePasswordFile = value(a)
        case "-h", "--help":
            print(
                "placement-bench [--nodes 5000] [--agents 10000] [--seed 1] [--json FILE] [--log-dir /var/tmp]"
                    + " [--max-batch 1000] [--max-delay-ms 10] [--datastore postgres://USER@HOST/DB [--datastore-password-file F]]")
            exit(0)
        default:
            FileHandle.standardError.write("unknown option \(a) (see --help)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return o
}

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))])
}

func score(_ d: PlacementDecision) -> Double? {
    if case .placed(_, _, let s) = d { return s }
    return nil
}

struct ModeResult: Codable {
    var mode: String
    var feasibleLimit: String
    var attempts: Int
    var placed: Int
    var pending: Int
    /// Wall-clock seconds for the batch, and placements per wall-clock second.
    var seconds: Double
    var placementsPerSecond: Double
    /// CPU seconds this thread used for the batch, and placements per CPU second (one core).
    var cpuSeconds: Double
    var placementsPerCPUSecond: Double
    /// Per-placement CPU time.
    var latencyP50Us: Double
    var latencyP99Us: Double
    var latencyMaxUs: Double
    var meanScore: Double
    var nodesUsed: Int
    var nodesVisitedPerPlacement: Double
    var setupMs: Double
}

struct QualityResult: Codable {
    /// The sampled mode compared with exhaustive.
    var mode: String
    /// End to end (each mode placed all agents in order on its own cluster).
    var sampledPendingExhaustivePlaced: Int
    var sampledPendingExhaustivePlacedPercent: Double
    var meanScoreRatio: Double
    /// Same state (cluster half full from exhaustive placement; the other half previewed by both).
    var sameStateAgents: Int
    var sameStateBothPlaced: Int
    var sameStateSameNodePercent: Double
    var sameStateMeanScoreRatio: Double
    var sameStateMeanScoreExhaustive: Double
    var sameStateMeanScoreSampled: Double
    var sameStateSampledPendingExhaustivePlaced: Int
}

struct PersistResult: Codable {
    var mode: String
    var sink: String
    /// "sqlite" or "postgres".
    var backend: String
    var seconds: Double
    var placementsPerSecond: Double
    var cpuSeconds: Double
    var placementsPerCPUSecond: Double
    var flushes: Int
    var meanBatch: Double
    var meanFlushMs: Double
    var durableP50Ms: Double
    var durableP99Ms: Double
    var durableMaxMs: Double
    var committedPlacements: Int
}

struct Report: Codable {
    var nodes: Int
    var agents: Int
    var seed: UInt64
    var cpu: String
    var strategy: String
    var modes: [ModeResult]
    var quality: [QualityResult]
    var persistence: [PersistResult]
}

/// Token hashes are irrelevant here (no tokens are created).
struct BenchHasher: TokenHasher { func hash(_ token: String) -> String { "bench:" + String(token.hashValue) } }

let opts = parseOptions()
var rng = BenchRNG(state: opts.seed)
let nodes = makeNodes(opts.nodes, rng: &rng)
let agents = makeAgents(opts.agents, rng: &rng)
let exhaustiveConfig = SchedulerConfig(candidateLimit: .exhaustive)
/// (name, config, limit text): exhaustive, Nomad's ⌈log₂ N⌉ (the default), and a wider fixed sample.
let modes: [(String, SchedulerConfig, String)] = [
    ("exhaustive", exhaustiveConfig, "all"),
    ("sampled", SchedulerConfig(), "log2N=\(SchedulerConfig().candidateLimit.feasibleLimit(nodeCount: nodes.count) ?? nodes.count)"),
    ("sampled-128", SchedulerConfig(candidateLimit: .fixed(128)), "128"),
]

func run(_ mode: String, _ config: SchedulerConfig, limit: String) -> (ModeResult, [PlacementDecision]) {
    var t = monotonicNs()
    let c = ClusterScheduler(config: config, nodes: nodes)
    let setupMs = Double(monotonicNs() - t) / 1e6
    t = monotonicNs()
    let cpu0 = threadCPUNs()
    let decisions = agents.map(c.place)
    let cpuSeconds = Double(threadCPUNs() - cpu0) / 1e9
    let seconds = Double(monotonicNs() - t) / 1e9
    // Second pass, same decisions (deterministic), timing each call.
    let timed = ClusterScheduler(config: config, nodes: nodes)
    var lat: [UInt64] = []
    lat.reserveCapacity(agents.count)
    for (i, a) in agents.enumerated() {
        let s = threadCPUNs()
        let d = timed.place(a)
        lat.append(threadCPUNs() - s)
        precondition(d == decisions[i], "\(mode): decision \(i) differs between identical runs")
    }
    lat.sort()
    let scores = decisions.compactMap(score)
    let placed = scores.count
    return (
        ModeResult(
            mode: mode, feasibleLimit: limit, attempts: agents.count, placed: placed, pending: agents.count - placed,
            seconds: seconds, placementsPerSecond: Double(agents.count) / seconds,
            cpuSeconds: cpuSeconds, placementsPerCPUSecond: Double(agents.count) / cpuSeconds,
            latencyP50Us: percentile(lat, 0.5) / 1e3, latencyP99Us: percentile(lat, 0.99) / 1e3,
            latencyMaxUs: Double(lat.last ?? 0) / 1e3,
            meanScore: scores.reduce(0, +) / Double(max(1, placed)),
            nodesUsed: c.nodes.filter { $0.allocated.agents > 0 }.count,
            nodesVisitedPerPlacement: Double(c.stats.nodesVisited) / Double(agents.count), setupMs: setupMs),
        decisions
    )
}

/// A half-full cluster (first half of the agents placed exhaustively); the other half previewed on
/// that same state by exhaustive and by each sampled config.
func sameState(_ configs: [SchedulerConfig]) -> [(agents: Int, both: Int, sameNode: Int, meanE: Double, meanS: Double, lost: Int)] {
    let half = agents.count / 2
    let base = ClusterScheduler(config: exhaustiveConfig, nodes: nodes)
    for a in agents[..<half] { _ = base.place(a) }
    let rest = Array(agents[half...])
    let best = rest.map { base.preview($0) }
    return configs.map { config in
        let sampled = ClusterScheduler(config: config, nodes: base.nodes)
        var both = 0, same = 0, lost = 0, sumE = 0.0, sumS = 0.0
        for (a, e) in zip(rest, best) {
            let s = sampled.preview(a)
            if let se = score(e), let ss = score(s) {
                both += 1
                sumE += se
                sumS += ss
                if e.node == s.node { same += 1 }
            } else if e.isPlaced {
                lost += 1
            }
        }
        return (rest.count, both, same, sumE / Double(max(1, both)), sumS / Double(max(1, both)), lost)
    }
}

/// Where `runPersisted` commits: SQLite (a file under --log-dir) or the PostgreSQL of --datastore.
enum Sink {
    case sqlite
    case postgres(PostgresDatastore)

    var name: String {
        if case .postgres = self { return "postgres" }
        return "sqlite"
    }
}

func runPersisted(_ mode: String, _ config: SchedulerConfig, _ sink: Sink) async throws -> PersistResult {
    // Decisions go to the controller's real store, one transaction per group commit: a SQLite file
    // in WAL mode, or PostgreSQL (PostgresStateStore: one UPDATE … FROM unnest per batch). The
    // agents are inserted first (not timed), as the API would.
    let path = "\(opts.logDir)/placement-bench-\(getpid())-\(mode).db"
    defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
    let asyncStore: any ControlStateStore
    let sinkText: String
    // Each mode places its own copies of the agents (ids prefixed with the mode): a PostgreSQL
    // database keeps the rows of the modes before.
    let prefix = sink.name == "postgres" ? "\(mode)-" : ""
    switch sink {
    case .sqlite:
        let store = try ControlStore(path: path, hasher: BenchHasher())
        for t in Set(agents.map(\.tenant)) { _ = try store.createTenant(name: t) }
        let now = ControlStore.nowMs()
        for a in agents { try store.insertWorkload(Workload(id: a.workloadID, spec: a.spec, createdAtMs: now)) }
        asyncStore = SQLiteStateStore(store)
        sinkText = "SQLite WAL (PlacementWriter.commit on SQLiteStateStore, one transaction per batch, \(opts.logDir))"
    case .postgres(let datastore):
        let store = try await PostgresStateStore(datastore: datastore, hasher: BenchHasher())
        for t in Set(agents.map(\.tenant)) where try await store.tenant(name: t) == nil {
            _ = try await store.createTenant(name: t, quota: Quota())
        }
        let now = ControlStore.nowMs()
        let rows = agents.map { NewWorkload(Workload(id: prefix + $0.workloadID, spec: $0.spec, createdAtMs: now)) }
        for start in stride(from: 0, to: rows.count, by: 1000) {
            let refused = try await store.insertWorkloads(Array(rows[start..<min(rows.count, start + 1000)])).compactMap { $0 }
            if let first = refused.first {
                throw StoreError(.conflict, "\(datastore): \(first) — point --datastore at an empty database")
            }
        }
        asyncStore = store
        sinkText = "PostgreSQL (PlacementWriter.commit on PostgresStateStore, one transaction per batch, \(datastore))"
    }
    // The controller's path: its PlacementWriter (group commit) on the async store.
    let writer = PlacementWriter(store: asyncStore)
    let counter = CommitCounter()
    var committer = GroupCommitter(
        sink: { batch in
            let placed = batch.compactMap { r in
                r.node.map { Placement(workloadID: prefix + r.workloadID, node: $0, generation: 1, gpus: r.gpus) }
            }
            let refused = try await writer.commit(placed)
            counter.add(placed.count - refused.count)
        }, maxBatch: opts.maxBatch, maxDelayNs: UInt64(opts.maxDelayMs) * 1_000_000)
    let c = ClusterScheduler(config: config, nodes: nodes)
    let t = monotonicNs()
    let cpu0 = processCPUNs()
    for a in agents {
        let d = c.place(a)
        let now = monotonicNs()
        switch d {
        case .placed(let node, let gpus, let s):
            try await committer.add(
                PlacementRecord(
                    workloadID: a.workloadID, tenant: a.tenant, node: node, gpus: gpus, score: s,
                    reason: nil, decidedAtNs: now))
        case .pending(let reason):
            try await committer.add(
                PlacementRecord(
                    workloadID: a.workloadID, tenant: a.tenant, node: nil, gpus: [], score: 0,
                    reason: reason, decidedAtNs: now))
        }
    }
    try await committer.flush()
    // Process CPU: the awaits of the commits resume the loop on other threads (a thread's CPU
    // clock would go backwards), and the store's client threads are part of the cost.
    let cpuSeconds = Double(processCPUNs() - cpu0) / 1e9
    let seconds = Double(monotonicNs() - t) / 1e9
    let lat = committer.latenciesNs.sorted()
    try await asyncStore.close()
    return PersistResult(
        mode: mode, sink: sinkText, backend: sink.name, seconds: seconds,
        placementsPerSecond: Double(agents.count) / seconds, cpuSeconds: cpuSeconds,
        placementsPerCPUSecond: Double(agents.count) / cpuSeconds, flushes: committer.flushes,
        meanBatch: Double(agents.count) / Double(max(1, committer.flushes)),
        meanFlushMs: Double(committer.flushNs) / Double(max(1, committer.flushes)) / 1e6,
        durableP50Ms: percentile(lat, 0.5) / 1e6, durableP99Ms: percentile(lat, 0.99) / 1e6,
        durableMaxMs: Double(lat.last ?? 0) / 1e6, committedPlacements: counter.value)
}

let runs = modes.map { run($0.0, $0.1, limit: $0.2) }
let exhaustive = runs[0].0, exDecisions = runs[0].1
let sameStates = sameState(modes.dropFirst().map(\.1))
let quality: [QualityResult] = zip(runs.dropFirst(), sameStates).map { r, same in
    let lost = zip(exDecisions, r.1).filter { $0.isPlaced && !$1.isPlaced }.count
    return QualityResult(
        mode: r.0.mode, sampledPendingExhaustivePlaced: lost,
        sampledPendingExhaustivePlacedPercent: 100 * Double(lost) / Double(agents.count),
        meanScoreRatio: r.0.meanScore / exhaustive.meanScore,
        sameStateAgents: same.agents, sameStateBothPlaced: same.both,
        sameStateSameNodePercent: 100 * Double(same.sameNode) / Double(max(1, same.both)),
        sameStateMeanScoreRatio: same.meanS / same.meanE, sameStateMeanScoreExhaustive: same.meanE,
        sameStateMeanScoreSampled: same.meanS, sameStateSampledPendingExhaustivePlaced: same.lost)
}
let persistence: [PersistResult]
do {
    var collected: [PersistResult] = []
    var sinks: [Sink] = [.sqlite]
    if let url = opts.datastore {
        sinks.append(.postgres(try PostgresDatastore(url: url, passwordFile: opts.datastorePasswordFile)))
    }
    for m in modes {
        for sink in sinks { collected.append(try await runPersisted(m.0, m.1, sink)) }
    }
    persistence = collected
} catch {
    FileHandle.standardError.write("persistence run failed: \(error)\n".data(using: .utf8)!)
    exit(1)
}

let cpuModel =
    (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("model name") }?
    .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
let report = Report(
    nodes: nodes.count, agents: agents.count, seed: opts.seed, cpu: cpuModel,
    strategy: exhaustiveConfig.strategy.rawValue, modes: runs.map(\.0), quality: quality,
    persistence: persistence)

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

print("placement-bench: \(nodes.count) nodes, \(agents.count) agents, seed \(opts.seed), one thread, \(cpuModel)")
print("")
let widths = [11, 10, 7, 8, 9, 15, 8, 16, 8, 8, 9, 11, 11, 8]
print(
    [
        "mode", "limit", "placed", "pending", "CPU s", "placements/CPU-s", "wall s", "placements/wall-s",
        "p50 µs", "p99 µs", "max µs", "mean score", "nodes used", "visits",
    ].enumerated().map { pad($1, widths[$0]) }.joined())
for m in runs.map(\.0) {
    print(
        [
            m.mode, m.feasibleLimit, "\(m.placed)", "\(m.pending)", f(m.cpuSeconds, 3), f(m.placementsPerCPUSecond, 0),
            f(m.seconds, 3), f(m.placementsPerSecond, 0), f(m.latencyP50Us), f(m.latencyP99Us), f(m.latencyMaxUs),
            f(m.meanScore, 4), "\(m.nodesUsed)", f(m.nodesVisitedPerPlacement),
        ].enumerated().map { pad($1, widths[$0]) }.joined())
}
print("(latencies: CPU time per placement; visits: nodes checked per placement)")
print("")
print("quality of sampling vs exhaustive (bin-pack):")
for q in quality {
    print(
        "  \(q.mode), end to end: left \(q.sampledPendingExhaustivePlaced) agents pending that exhaustive placed"
            + " (\(f(q.sampledPendingExhaustivePlacedPercent, 2)) %); mean score ratio \(f(q.meanScoreRatio, 4))")
    print(
        "  \(q.mode), same state (\(q.sameStateAgents) agents on a half-full cluster): both placed \(q.sameStateBothPlaced),"
            + " same node \(f(q.sameStateSameNodePercent)) %, mean score \(f(q.sameStateMeanScoreSampled, 4)) vs"
            + " \(f(q.sameStateMeanScoreExhaustive, 4)) (ratio \(f(q.sameStateMeanScoreRatio, 4))),"
            + " pending where exhaustive placed: \(q.sameStateSampledPendingExhaustivePlaced)")
}
print("")
print(
    "with persistence (group commit: ≤ \(opts.maxBatch) decisions or ≤ \(opts.maxDelayMs) ms, then one transaction"
        + " of the store: SQLite WAL\(opts.datastore == nil ? "" : ", PostgreSQL"))):")
let pw = [11, 9, 17, 18, 9, 11, 10, 15, 8, 8]
print(
    [
        "mode", "store", "placements/CPU-s", "placements/wall-s", "flushes", "mean batch", "flush ms", "durable p50 ms",
        "p99 ms", "max ms",
    ].enumerated().map { pad($1, pw[$0]) }.joined())
for p in persistence {
    print(
        [
            p.mode, p.backend, f(p.placementsPerCPUSecond, 0), f(p.placementsPerSecond, 0), "\(p.flushes)", f(p.meanBatch),
            f(p.meanFlushMs, 2), f(p.durableP50Ms, 2), f(p.durableP99Ms, 2), f(p.durableMaxMs, 2),
        ]
        .enumerated().map { pad($1, pw[$0]) }.joined())
}
print("(durable: decision made → its batch's transaction committed, wall clock)")
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
let json = String(decoding: try! encoder.encode(report), as: UTF8.self)
print("")
print(json)
if let path = opts.json {
    do { try json.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        FileHandle.standardError.write("writing \(path): \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}
