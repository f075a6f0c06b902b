// workflow-bench — the workflow engine's costs on an in-process controller (real SQLite store in a
// temporary directory, one node whose fake worker acknowledges every start and reports the
// agent's exit at once; Cluster.swift, BenchLink.swift):
//   (a) step-to-step hand-off: step a's exit sent by the worker → step b's start reaching the
//       worker, median over `--handoffs` two-step workflows (target ≤ 20 ms);
//   (b) a `--items`-item fan-out workflow vs the same agents submitted directly: wall time ratio
//       of the medians over `--rounds` rounds each, alternated (target ≤ 1.2×), and CPU time of the
//       whole process per step (getrusage; target ≤ 1 ms);
//   (c) resume: `--workflows` runs of `--resume-items` finished steps each on record, each
//       stopped after its `reduce` start was recorded and before it was submitted; a new
//       controller and engine: time from the engine's start until every reduce started at the
//       worker, median over `--resume-rounds` (target ≤ 1 s).
import AegisWorkflow
import Foundation

struct Options {
    var handoffs = 50
    var items = 1000
    var rounds = 5
    var workflows = 10
    var resumeItems = 1000
    var resumeRounds = 3
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func number(_ flag: String) -> Int {
        guard let v = args.popFirst(), let n = Int(v), n > 0 else { fatalError("\(flag) needs a positive number") }
        return n
    }
    while let a = args.popFirst() {
        switch a {
        case "--handoffs": o.handoffs = number(a)
        case "--items": o.items = number(a)
        case "--rounds": o.rounds = number(a)
        case "--workflows": o.workflows = number(a)
        case "--resume-items": o.resumeItems = number(a)
        case "--resume-rounds": o.resumeRounds = number(a)
        case "-h", "--help":
            print(
                "workflow-bench [--handoffs 50] [--items 1000] [--rounds 5] [--workflows 10] [--resume-items 1000] [--resume-rounds 3]"
            )
            exit(0)
        default:
            FileHandle.standardError.write("unknown option \(a) (see --help)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return o
}

func f(_ d: Duration) -> String { String(format: "%.2f ms", d.ms) }

let options = parseOptions()

// (a) and (b) on one cluster.
let cluster = try await Cluster.make("main")
let (engine, loop) = cluster.startEngine()
let handoffs = try await Scenarios.handoff(cluster, engine: engine, runs: options.handoffs)
let sorted = handoffs.sorted()
print(
    "(a) hand-off a exit → b start: median \(f(median(handoffs))), min \(f(sorted.first!)), max \(f(sorted.last!))"
        + " over \(handoffs.count) workflows (target ≤ 20 ms)")

let fanOut = Manifests.fanOut(options.items)
let specs = try Scenarios.firstStarts(fanOut).map(\.1)
guard specs.count == options.items else { throw BenchError("the fan-out planned \(specs.count) starts, not \(options.items)") }
var workflowRounds: [Scenarios.Round] = []
var directRounds: [Scenarios.Round] = []
for round in 1...options.rounds {
    let d = try await Scenarios.direct(cluster, specs: specs)
    let w = try await Scenarios.fanOutWorkflow(cluster, engine: engine, items: options.items, manifest: fanOut)
    directRounds.append(d)
    workflowRounds.append(w)
    print(
        "    round \(round): direct \(f(d.wall)) wall, \(f(d.cpu)) CPU; workflow \(f(w.wall)) wall, \(f(w.cpu)) CPU")
}
let (dWall, wWall) = (median(directRounds.map(\.wall)), median(workflowRounds.map(\.wall)))
let (dCPU, wCPU) = (median(directRounds.map(\.cpu)), median(workflowRounds.map(\.cpu)))
print(
    String(
        format: "(b) %d-item fan-out: workflow %.1f ms vs direct %.1f ms wall (medians), ratio %.2f× (target ≤ 1.2×)",
        options.items, wWall.ms, dWall.ms, wWall.ms / dWall.ms))
print(
    String(
        format: "    process CPU per step: workflow %.3f ms, direct %.3f ms per agent, the engine's share %.3f ms (target ≤ 1 ms)",
        wCPU.ms / Double(options.items), dCPU.ms / Double(options.items), (wCPU - dCPU).ms / Double(options.items)))
loop.cancel()
await loop.value
cluster.remove()

// (c) a fresh store per round.
var resumes: [Scenarios.Resume] = []
for round in 1...options.resumeRounds {
    let recorded = try await Scenarios.recordFinishedSteps(workflows: options.workflows, items: options.resumeItems)
    let r = try await Scenarios.resume(after: recorded, workflows: options.workflows)
    resumes.append(r)
    print("    round \(round): first reduce started after \(f(r.first)), all \(options.workflows) after \(f(r.all))")
    recorded.remove()
}
print(
    "(c) resume with \(options.workflows * options.resumeItems) finished steps on record: engine start → scheduling continues"
        + " (first step started) median \(f(median(resumes.map(\.first)))), all \(options.workflows) workflows \(f(median(resumes.map(\.all))))"
        + " (target ≤ 1 s)")
