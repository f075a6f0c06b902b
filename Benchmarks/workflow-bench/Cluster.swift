// Cluster.swift — workflow-bench's in-process cluster: a SQLite control store in a temporary
// directory, a controller with one large node served by a `BenchLink`, and a workflow engine on
// the same store; a counter of the workloads that ended; the process's CPU time.
import AegisControl
import AegisProtocol
import AegisStore
import AegisWorkflow
import Foundation
import Glibc
import Logging

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The tenant every step and agent of the bench runs as.
let tenant = Caller(isAdmin: false, tenant: "default")

/// Room for 10,240 agents of 100m / 64 MiB at once (the bench's agents ask for that).
let nodeCapabilities: NodeCapabilities = {
    var caps = NodeCapabilities(cpuMillis: 1_024_000, memoryBytes: 1 << 40)
    caps.runtimes = [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")]
    caps.isolation = IsolationFeatures(cgroupControllers: ["cpu", "memory", "pids"])
    return caps
}()

/// Counts the workloads that reached a final state (each once) and wakes who waits for a count.
actor EndCounter {
    private var ended: Set<String> = []
    private var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []

    var count: Int { ended.count }

    func saw(_ w: Workload) {
        guard w.state.isFinal, ended.insert(w.id).inserted else { return }
        let n = ended.count
        waiters.removeAll { waiter in
            guard waiter.target <= n else { return false }
            waiter.continuation.resume()
            return true
        }
    }

    /// Returns once `target` workloads in all have ended.
    func wait(until target: Int) async {
        guard ended.count < target else { return }
        await withCheckedContinuation { waiters.append((target, $0)) }
    }
}

struct Cluster {
    let directory: String
    let store: ControlStore
    let sqlite: SQLiteStateStore
    let controller: Controller
    let link: BenchLink
    let ends: EndCounter
    let follower: Task<Void, Never>

    static var quiet: Logger {
        var l = Logger(label: "workflow-bench")
        // WORKFLOW_BENCH_LOG=info shows the controller's and the engine's logs.
        l.logLevel = ProcessInfo.processInfo.environment["WORKFLOW_BENCH_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return l
    }

    /// A fresh store in a new temporary directory and a controller with its node (no engine yet).
    static func make(_ name: String) async throws -> Cluster {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("workflow-bench-\(getpid())-\(name)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try ControlStore(dataDirectory: directory + "/data", hasher: SHA256TokenHasher())
        _ = try store.bootstrap()
        return try await attach(directory: directory, store: store)
    }

    /// A new controller (as after a restart) on `store`, its node registered.
    static func attach(directory: String, store: ControlStore) async throws -> Cluster {
        let sqlite = SQLiteStateStore(store)
        let controller = Controller(store: sqlite, logger: quiet)
        let link = BenchLink(node: "node-1")
        link.attach(to: controller)
        try await controller.register(node: NodeInfo(name: link.node, role: .worker, capabilities: nodeCapabilities), link: link)
        let ends = EndCounter()
        let changes = await controller.workloadChanges()
        let follower = Task { for await w in changes { await ends.saw(w) } }
        return Cluster(
            directory: directory, store: store, sqlite: sqlite, controller: controller, link: link, ends: ends, follower: follower)
    }

    /// An engine on this cluster's store with its loop running.
    func startEngine() -> (WorkflowEngine, Task<Void, Never>) {
        let engine = WorkflowEngine(controller: controller, store: sqlite, logger: Self.quiet)
        return (engine, Task { await engine.run() })
    }

    /// Polls the store every millisecond until the workflow has ended; its phase.
    func waitForEnd(_ id: String, timeout: Duration = .seconds(120)) async throws -> WorkflowPhase {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let r = try await sqlite.workflow(id: id, tenant: tenant.tenant), r.phase.isFinal { return r.phase }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw BenchError("workflow \(id) did not end within \(timeout)")
    }

    func remove() {
        follower.cancel()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// User + system CPU time of the whole process so far (getrusage RUSAGE_SELF).
func processCPU() -> Duration {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    func d(_ t: timeval) -> Duration { .seconds(Int64(t.tv_sec)) + .microseconds(Int64(t.tv_usec)) }
    return d(u.ru_utime) + d(u.ru_stime)
}

extension Duration {
    /// In milliseconds, as a Double.
    var ms: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

func median(_ xs: [Duration]) -> Duration { xs.sorted()[xs.count / 2] }
