// BenchLink.swift — the fake worker of workflow-bench: it acknowledges every start at once and
// reports the agent's exit (code 0) right after, as a worker's events would arrive; and it keeps
// the time each start reached it and each exit left it, by step name.
import AegisControl
import AegisProtocol
import Synchronization

final class BenchLink: WorkerLink {
    /// One start or exit seen by the worker.
    struct Event: Sendable {
        enum Kind: Sendable { case start, exitSent }
        var kind: Kind
        var step: String
        var workload: String
        var at: ContinuousClock.Instant
    }

    let node: String
    /// Whether events are kept (the fan-out rounds do not keep theirs: only counts).
    let keepEvents = Mutex(false)
    private let events = Mutex<[Event]>([])
    private let startCount = Mutex(0)
    private let controller = Mutex<Controller?>(nil)

    init(node: String) { self.node = node }

    func attach(to c: Controller) { controller.withLock { $0 = c } }
    var starts: Int { startCount.withLock { $0 } }
    /// The events kept so far, and forgets them.
    func drain() -> [Event] {
        events.withLock { e in
            defer { e = [] }; return e
        }
    }
    func peek() -> [Event] { events.withLock { $0 } }

    private func note(_ kind: Event.Kind, _ w: Workload) {
        guard keepEvents.withLock({ $0 }) else { return }
        let e = Event(kind: kind, step: w.spec.name, workload: w.id, at: .now)
        events.withLock { $0.append(e) }
    }

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        startCount.withLock { $0 += 1 }
        note(.start, workload)
        guard let c = controller.withLock({ $0 }) else { return }
        let (id, generation, node) = (workload.id, workload.generation, node)
        Task {
            await c.handle(.started(id: id, generation: generation, pid: 100), from: node)
            self.note(.exitSent, workload)
            await c.handle(.exited(id: id, generation: generation, report: ExitReport(exitCode: 0)), from: node)
        }
    }

    func cancel(id: String, generation: Int64) async {}
    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}
}
