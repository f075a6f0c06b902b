// WorkflowTestSupport.swift — a worker link for workflow engine tests: it acknowledges every
// start, then ends the agent as told per step (exit codes by attempt, or running until cancelled),
// and serves per-step output files.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation
import Logging
import Synchronization
import XCTest

final class StepLink: WorkerLink, Sendable {
    enum Behaviour: Sendable {
        case exit(Int32)
        /// Runs until cancelled.
        case hang
    }

    struct State {
        /// Exit codes per step, one per attempt (the last repeats); default exit 0.
        var behaviour: [String: [Behaviour]] = [:]
        /// Output files per step, served for each of its workloads.
        var files: [String: [String: String]] = [:]
        var starts: [String: Int] = [:]
        /// Input file names each step's workloads were started with.
        var inputs: [String: Set<String>] = [:]
        var stepOf: [String: String] = [:]
        var running: [String: Int64] = [:]
        var cancels = 0
    }

    let node: String
    let state = Mutex(State())
    private let controller = Mutex<Controller?>(nil)

    init(node: String = "n1") { self.node = node }

    func attach(to c: Controller) { controller.withLock { $0 = c } }
    func set(_ step: String, _ b: [Behaviour]) { state.withLock { $0.behaviour[step] = b } }
    func starts(_ step: String) -> Int { state.withLock { $0.starts[step] ?? 0 } }
    var totalStarts: Int { state.withLock { $0.starts.values.reduce(0, +) } }
    var runningCount: Int { state.withLock { $0.running.count } }

    static var capabilities: NodeCapabilities {
        var caps = NodeCapabilities(cpuMillis: 64_000, memoryBytes: 256 << 30)
        caps.runtimes = [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")]
        return caps
    }

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        let step = workload.spec.name
        let behaviour = state.withLock { s -> Behaviour in
            let n = s.starts[step, default: 0]
            s.starts[step] = n + 1
            s.inputs[step, default: []].formUnion(workload.spec.inputs.keys)
            s.stepOf[workload.id] = step
            s.running[workload.id] = workload.generation
            let list = s.behaviour[step] ?? [.exit(0)]
            return list[min(n, list.count - 1)]
        }
        guard let c = controller.withLock({ $0 }) else { return }
        let (id, generation, node) = (workload.id, workload.generation, node)
        Task {
            await c.handle(.started(id: id, generation: generation, pid: 100), from: node)
            if case .exit(let code) = behaviour { await self.exit(id, generation: generation, code: code) }
        }
    }

    func exit(_ id: String, generation: Int64, code: Int32, cancelled: Bool = false) async {
        guard state.withLock({ $0.running.removeValue(forKey: id) }) != nil, let c = controller.withLock({ $0 }) else { return }
        await c.handle(.exited(id: id, generation: generation, report: ExitReport(exitCode: code, cancelled: cancelled)), from: node)
    }

    func cancel(id: String, generation: Int64) async {
        state.withLock { $0.cancels += 1 }
        let (node, c) = (node, controller.withLock { $0 })
        Task {
            guard self.state.withLock({ $0.running.removeValue(forKey: id) }) != nil, let c else { return }
            await c.handle(
                .exited(id: id, generation: generation, report: ExitReport(exitCode: 143, signal: 15, cancelled: true)), from: node)
        }
    }

    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] {
        state.withLock { s in s.stepOf[id].flatMap { s.files[$0] }.map { Array($0.keys) } ?? [] }
    }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] {
        guard let text = state.withLock({ s in s.stepOf[id].flatMap { s.files[$0]?[path] } }) else {
            throw StoreError(.notFound, "no output \(path) of \(id)")
        }
        return Array(text.utf8)
    }
    /// After a controller restart: the agents it still thinks run had finished meanwhile (exit 0).
    func reconcile(active: [(id: String, generation: Int64)]) async {
        guard let c = controller.withLock({ $0 }) else { return }
        let node = node
        for (id, generation) in active {
            await c.handle(.exited(id: id, generation: generation, report: ExitReport(exitCode: 0)), from: node)
        }
    }
}

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(_ seconds: Double = 10, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    XCTFail("timed out waiting for \(what)")
}

/// A controller with one node served by a link, and an engine running on the same store.
struct WorkflowHarness {
    let controller: Controller
    let engine: WorkflowEngine
    let loop: Task<Void, Never>

    static func start(_ link: StepLink, store: ControlStore) async throws -> WorkflowHarness {
        let sqlite = SQLiteStateStore(store)
        let controller = Controller(store: sqlite, logger: Logger(label: "test.controller"), leases: try LeaseTracker())
        link.attach(to: controller)
        try await controller.register(node: NodeInfo(name: link.node, role: .worker, capabilities: StepLink.capabilities), link: link)
        let engine = WorkflowEngine(controller: controller, store: sqlite)
        let loop = Task { await engine.run() }
        return WorkflowHarness(controller: controller, engine: engine, loop: loop)
    }

    /// Ends the engine's loop (as a graceful shutdown of its service does).
    func stop() async {
        loop.cancel()
        await loop.value
    }
}
