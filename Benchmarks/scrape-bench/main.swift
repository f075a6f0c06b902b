// scrape-bench — what one scrape of the controller's /metrics costs with a large cluster in its
// store (issue 13: 5,000 nodes and 50,000 agents, ≤ 100 ms, exposition ≤ 2 MB). It fills a fresh
// SQLite store (Fill.swift: tenants, nodes with capacities and conditions, workloads in every
// state), builds the controller as `aegis up`/`aegis controller` do (SQLite store, lease tracker,
// ControllerMetrics), lets the Ready nodes' workers attach and renew with a live report, cordons
// a few, runs one scheduling pass (the pending reasons), and then times `--scrapes` scrapes of
// each format:
// - `Controller.metricsExposition` (what GET /metrics runs: the node series refreshed from the
//   store and the scheduler, the registry and node series rendered, OpenMetrics converted);
// - GET /metrics over HTTP on a unix socket, served as on the controller pod's socket and read
//   without a token as the metrics sidecar reads it (unless `--no-http`).
// Prints median, p90 and max in milliseconds, the exposition's size in bytes, and where the time
// goes (the node refresh, each render).
import AegisAPI
import AegisControl
import AegisMetrics
import AegisProtocol
import AegisStore
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore

struct Options {
    var shape = ClusterShape(nodes: 5_000, workloads: 50_000, tenants: 20)
    var scrapes = 30
    var warmup = 3
    var http = true
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
        case "--nodes": o.shape.nodes = number(a)
        case "--workloads": o.shape.workloads = number(a)
        case "--tenants": o.shape.tenants = max(2, number(a))
        case "--scrapes": o.scrapes = number(a)
        case "--warmup": o.warmup = number(a)
        case "--no-http": o.http = false
        case "-h", "--help":
            print("scrape-bench [--nodes 5000] [--workloads 50000] [--tenants 20] [--scrapes 30] [--warmup 3] [--no-http]")
            exit(0)
        default:
            FileHandle.standardError.write("unknown option \(a) (see --help)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return o
}

/// A worker that acknowledges every call at once and runs nothing.
struct AcknowledgingLink: WorkerLink {
    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {}
    func cancel(id: String, generation: Int64) async {}
    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}
}

/// Prometheus 2.x's Accept header (it gets OpenMetrics).
let openMetricsAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/// Milliseconds of a duration.
func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }

/// Times `body` `warmup + runs` times; returns the last `runs` durations (ms) and the last result.
func timed<T>(runs: Int, warmup: Int, _ body: () async throws -> T) async rethrows -> (ms: [Double], last: T) {
    var times: [Double] = []
    var last: T?
    for i in 0..<(warmup + runs) {
        let start = ContinuousClock.now
        last = try await body()
        if i >= warmup { times.append(ms(ContinuousClock.now - start)) }
    }
    return (times, last!)
}

/// "median 41.2 ms, p90 44.0 ms, max 47.9 ms".
func summary(_ times: [Double]) -> String {
    let s = times.sorted()
    let p90 = s[min(s.count - 1, Int((Double(s.count) * 0.9).rounded(.up)) - 1)]
    return String(format: "median %.1f ms, p90 %.1f ms, max %.1f ms", s[s.count / 2], p90, s[s.count - 1])
}

func bytes(_ n: Int) -> String {
    let f = NumberFormatter()
    f.numberStyle = .decimal
    return (f.string(from: NSNumber(value: n)) ?? "\(n)") + " bytes"
}

let options = parseOptions()
let shape = options.shape
var quiet = Logger(label: "scrape-bench")
quiet.logLevel = .critical

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scrape-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

// The store as a controller restarted on it finds it.
var clock = ContinuousClock.now
let store = try ControlStore(path: directory + "/aegis.db", hasher: SHA256TokenHasher())
_ = try store.bootstrap()
let filled = try fill(store, shape)
print("filled the store in \(ContinuousClock.now - clock)")

// The controller as NodeRuntime builds it; the Ready nodes' workers come back.
clock = .now
let controller = Controller(
    store: SQLiteStateStore(store), logger: quiet, leases: try LeaseTracker(config: LeaseConfig()), metrics: ControllerMetrics())
await controller.trackKnownNodes(except: nil)
let admin = Caller(isAdmin: true, tenant: "default")
var attached = 0
var cordoned = 0
for i in 0..<shape.nodes where shape.storedCondition(i) == .ready {
    let name = shape.nodeName(i)
    try await controller.attach(node: NodeInfo(name: name, role: .worker, capabilities: shape.capabilities(i)), link: AcknowledgingLink())
    let report = LiveCapacity(runningAgents: filled.activeOn[i] ?? 0, memoryAvailableBytes: 200 * GiB, loadMillis: 1_250)
    _ = await controller.renewLease(node: name, capacity: report)
    if shape.cordoned(i) {
        _ = try await controller.cordon(name: name, caller: admin)
        cordoned += 1
    }
    attached += 1
}
print("\(attached) workers attached and renewed, \(cordoned) cordoned, in \(ContinuousClock.now - clock)")
clock = .now
try insert(filled.pending, into: store)
await controller.schedule()
print("one scheduling pass in \(ContinuousClock.now - clock)")
let counts = try await Dictionary(
    uniqueKeysWithValues: WorkloadState.allCases.asyncMap {
        ($0, try await controller.store.countWorkloads(tenant: nil, states: [$0], node: nil))
    })
let stateCounts = WorkloadState.allCases.filter { (counts[$0] ?? 0) > 0 }.map { "\($0.rawValue) \(counts[$0]!)" }
print(
    "store: \(shape.nodes) nodes (\(shape.nodes - attached) Down or NotReady, \(cordoned) cordoned, \(shape.nodes / 10) with 8 GPUs), "
        + "\(shape.workloads) workloads of \(shape.tenants) tenants (\(stateCounts.joined(separator: ", ")))")

try await inProcessScrapes(controller, options)
if options.http { try await httpScrapes(controller, options, socket: directory + "/controller.sock", logger: quiet) }
try store.close()

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
