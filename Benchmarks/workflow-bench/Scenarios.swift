// Scenarios.swift — workflow-bench's three measurements: the step-to-step hand-off, a 1,000-item
// fan-out against the same agents submitted directly, and the resume of an engine with 10,000
// finished steps on record.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation

enum Manifests {
    static let agent = #"{runtime: python3, script: "print(1)", resources: {cpu: 100m, memory: 64Mi}}"#

    /// a, then b.
    static let handoff = """
        apiVersion: aegis/v1
        kind: Workflow
        name: handoff
        steps:
          - name: a
            agent: \(agent)
          - name: b
            dependencies: [a]
            agent: \(agent)
        """

    /// `work` over `items` items; with `reduce`, a step after them all.
    static func fanOut(_ items: Int, reduce: Bool = false) -> String {
        var text = """
            apiVersion: aegis/v1
            kind: Workflow
            name: fan
            steps:
              - name: work
                withItems: [\((0..<items).map { "i\($0)" }.joined(separator: ", "))]
                agent: {runtime: python3, script: "print('{{item}}')", resources: {cpu: 100m, memory: 64Mi}}

            """
        if reduce { text += "  - name: reduce\n    dependencies: [work]\n    agent: \(agent)\n" }
        return text
    }
}

enum Scenarios {
    /// (a) Step a's exit sent by the worker → step b's start reaching the worker, for `runs`
    /// two-step workflows one after the other (after `warmup` not counted).
    static func handoff(_ c: Cluster, engine: WorkflowEngine, runs: Int, warmup: Int = 5) async throws -> [Duration] {
        c.link.keepEvents.withLock { $0 = true }
        defer { c.link.keepEvents.withLock { $0 = false } }
        var out: [Duration] = []
        for run in 0..<(warmup + runs) {
            _ = c.link.drain()
            let info = try await engine.submit(WorkflowSubmitRequest(manifest: Manifests.handoff), caller: tenant)
            // Waiting for b's start through the worker's own record (not the engine: no contention).
            let deadline = ContinuousClock.now + .seconds(30)
            while !c.link.peek().contains(where: { $0.step == "b" && $0.kind == .start }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            guard try await c.waitForEnd(info.id) == .succeeded else { throw BenchError("hand-off workflow \(info.id) failed") }
            let events = c.link.drain()
            guard let exitA = events.first(where: { $0.step == "a" && $0.kind == .exitSent }),
                let startB = events.first(where: { $0.step == "b" && $0.kind == .start })
            else { throw BenchError("hand-off workflow \(info.id): a's exit or b's start not seen") }
            if run >= warmup { out.append(startB.at - exitA.at) }
        }
        return out
    }

    struct Round {
        var wall: Duration
        var cpu: Duration
    }

    /// (b) One workflow fanning out over `items` items, from its submission to its end.
    static func fanOutWorkflow(_ c: Cluster, engine: WorkflowEngine, items: Int, manifest: String) async throws -> Round {
        let endedBefore = await c.ends.count
        let (cpu0, t0) = (processCPU(), ContinuousClock.now)
        let info = try await engine.submit(WorkflowSubmitRequest(manifest: manifest), caller: tenant)
        await c.ends.wait(until: endedBefore + items)
        guard try await c.waitForEnd(info.id) == .succeeded else { throw BenchError("fan-out workflow \(info.id) failed") }
        return Round(wall: ContinuousClock.now - t0, cpu: processCPU() - cpu0)
    }

    /// (b) The same agents (the specs the planner makes for the fan-out's items) submitted directly
    /// and at once, as concurrently as the engine submits a fan-out's starts, until all ended.
    static func direct(_ c: Cluster, specs: [WorkloadSpec]) async throws -> Round {
        let endedBefore = await c.ends.count
        let (cpu0, t0) = (processCPU(), ContinuousClock.now)
        let controller = c.controller
        try await withThrowingTaskGroup(of: Void.self) { group in
            for spec in specs { group.addTask { _ = try await controller.submitSpec(spec, caller: tenant) } }
            try await group.waitForAll()
        }
        await c.ends.wait(until: endedBefore + specs.count)
        return Round(wall: ContinuousClock.now - t0, cpu: processCPU() - cpu0)
    }

    /// The agent specs of a workflow's first starts, as its planner makes them.
    static func firstStarts(_ manifest: String) throws -> [(PlacementIdentity, WorkloadSpec)] {
        let workflow = try WorkflowParser.parse(manifest, file: "bench.yaml", overrides: [:], defaultTenant: tenant.tenant)
        var state = WorkflowState(workflow: workflow, id: "wf-bench", startedAt: 0)
        return WorkflowPlanner.settle(workflow, &state, now: 0).actions.compactMap {
            if case .start(let id, let spec, _) = $0 { return (id, spec) } else { return nil }
        }
    }

    /// (c) Stores `workflows` runs of a fan-out over `items` items whose items all ran and ended
    /// (`workflows × items` finished workloads, submitted under their placement identities), each
    /// stopped right after its `reduce` start was recorded and before it was submitted (the crash
    /// of exactly-once starts). Returns the directory and store, the first controller left idle.
    static func recordFinishedSteps(workflows: Int, items: Int) async throws -> Cluster {
        let c = try await Cluster.make("resume")
        let manifest = Manifests.fanOut(items, reduce: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for _ in 0..<workflows {
            let workflow = try WorkflowParser.parse(manifest, file: "bench.yaml", overrides: [:], defaultTenant: tenant.tenant)
            let now = ControlStore.nowMs()
            let id = ControlStore.newWorkflowID(nowMs: now)
            var state = WorkflowState(workflow: workflow, id: id, startedAt: now)
            let starts = WorkflowPlanner.settle(workflow, &state, now: now).actions.compactMap { a -> (PlacementIdentity, WorkloadSpec)? in
                if case .start(let id, let spec, _) = a { return (id, spec) } else { return nil }
            }
            let controller = c.controller
            let endedBefore = await c.ends.count
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (identity, spec) in starts {
                    group.addTask { _ = try await controller.submitSpec(spec, caller: tenant, idempotencyKey: identity.description) }
                }
                try await group.waitForAll()
            }
            await c.ends.wait(until: endedBefore + starts.count)
            for (identity, _) in starts { state.record(.finished(identity, .exited(0), outputs: [:]), at: now) }
            let next = WorkflowPlanner.settle(workflow, &state, now: now).actions
            guard next.contains(where: { if case .start(let i, _, _) = $0 { i.key.step == "reduce" } else { false } }) else {
                throw BenchError("reduce was not planned after the fan-out: \(next)")
            }
            try store(c, id: id, manifest: manifest, state: String(decoding: try encoder.encode(state), as: UTF8.self), now: now)
        }
        return c
    }

    static func store(_ c: Cluster, id: String, manifest: String, state: String, now: Int64) throws {
        try c.store.insertWorkflow(
            WorkflowRecord(
                id: id, tenant: tenant.tenant, name: "fan", manifest: manifest, manifestFile: "bench.yaml", parameters: [:], state: state,
                createdAtMs: now))
    }

    struct Resume {
        /// Engine start → the first `reduce` start at the worker, and the last of them.
        var first: Duration
        var all: Duration
    }

    /// (c) A new controller and engine on the recorded store: from the engine's start until every
    /// workflow's `reduce` was started at the worker (scheduling continues).
    static func resume(after recorded: Cluster, workflows: Int) async throws -> Resume {
        recorded.follower.cancel()
        let c = try await Cluster.attach(directory: recorded.directory, store: recorded.store)
        c.link.keepEvents.withLock { $0 = true }
        let t0 = ContinuousClock.now
        let (_, loop) = c.startEngine()
        defer { loop.cancel() }
        let deadline = t0 + .seconds(120)
        var reduces: [BenchLink.Event] = []
        while ContinuousClock.now < deadline {
            reduces = c.link.peek().filter { $0.step == "reduce" && $0.kind == .start }
            if reduces.count >= workflows { break }
            try await Task.sleep(for: .milliseconds(1))
        }
        guard reduces.count >= workflows else { throw BenchError("\(reduces.count) of \(workflows) reduce steps started after resume") }
        let times = reduces.map { $0.at - t0 }
        return Resume(first: times.min()!, all: times.max()!)
    }
}
