// submit-bench — submissions accepted and placed per second through the HTTP API, on an in-process
// controller (real SQLite store in a temporary directory, the real API router served by
// Hummingbird on 127.0.0.1) with `--nodes` registered nodes whose worker links acknowledge every
// start at once. Each round POSTs `--submissions` workloads (`aegis run -- /bin/true` as JSON) from
// `--concurrency` clients and counts the answers that came back placed (state `scheduled`).
// Prints each round's rate and the median, in submissions per second.
//
// Split mode (Benchmarks/submit-bench-split.sh): `--serve FILE` runs only the controller and its
// API (writes "URL TOKEN" to FILE, runs until SIGTERM), `--client URL --token T` only the
// clients, so that each can have a core of its own.
//
// `--unix` serves the API on a Unix socket instead of TCP: the path the controller pod's own API
// takes (the gateway sidecar forwards to `controller.sock`), without loopback TCP's cost.
import AegisAPI
import AegisControl
import AegisDaemon
import AegisMetrics
import AegisProtocol
import AegisStore
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

struct Options {
    var nodes = 5000
    var submissions = 2000
    var rounds = 5
    var concurrency = 32
    /// Serve only; write "URL TOKEN" here.
    var serveFile: String?
    /// Client only: the API's base URL and an admin token.
    var clientURL: String?
    var token: String?
    /// Serve on a Unix socket in the temporary directory instead of 127.0.0.1.
    var unix = false
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
        case "--nodes": o.nodes = number(a)
        case "--submissions": o.submissions = number(a)
        case "--rounds": o.rounds = number(a)
        case "--concurrency": o.concurrency = number(a)
        case "--serve": o.serveFile = args.popFirst()
        case "--client": o.clientURL = args.popFirst()
        case "--token": o.token = args.popFirst()
        case "--unix": o.unix = true
        case "-h", "--help":
            print(
                "submit-bench [--nodes 5000] [--submissions 2000] [--rounds 5] [--concurrency 32] [--unix] [--serve FILE | --client URL --token T]"
            )
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

/// POSTs `count` submissions from `concurrency` clients; returns how many came back placed.
func submitRound(client: HTTPClient, url: String, token: String, count: Int, concurrency: Int) async throws -> Int {
    let body = try JSONEncoder().encode(SubmitRequest(run: RunFlags(command: ["/bin/true"])))
    let next = Counter()
    return try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var placed = 0
                while next.take() < count {
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers.add(name: "Authorization", value: "Bearer \(token)")
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                    let response = try await client.execute(request, timeout: .seconds(60))
                    let bytes = try await response.body.collect(upTo: 1 << 20)
                    guard response.status == .created else {
                        throw BenchError("HTTP \(response.status.code): \(String(buffer: bytes))")
                    }
                    let w = try JSONDecoder().decode(Workload.self, from: Data(buffer: bytes))
                    if w.state == .scheduled { placed += 1 }
                }
                return placed
            }
        }
        return try await group.reduce(0, +)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    /// The next index (0, 1, 2, …).
    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

let options = parseOptions()
// The threads `aegis controller` runs with: one event loop per CPU it may use.
ServerThreads.configure(eventLoopExecutor: false)
var quiet = Logger(label: "submit-bench")
quiet.logLevel = .error

/// Runs the rounds against `base` (the API's base URL) and prints each and the median.
func runRounds(base: String, token: String) async throws {
    var config = HTTPClient.Configuration()
    config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = options.concurrency
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var rates: [Double] = []
    do {
        for round in 1...options.rounds {
            let start = ContinuousClock.now
            let placed = try await submitRound(
                client: client, url: base + "/v1/workloads", token: token, count: options.submissions,
                concurrency: options.concurrency)
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)
            let rate = Double(options.submissions) / seconds
            rates.append(rate)
            print(
                String(
                    format: "round %d: %d submissions, %d placed, %.2f s, %.0f submissions/s", round, options.submissions,
                    placed, seconds, rate))
            guard placed == options.submissions else { throw BenchError("only \(placed) of \(options.submissions) were placed") }
        }
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
    let median = rates.sorted()[rates.count / 2]
    print(
        String(
            format: "median: %.0f submissions/s accepted and placed (%d nodes, %d clients)", median, options.nodes,
            options.concurrency))
}

if let url = options.clientURL {
    guard let token = options.token else { throw BenchError("--client needs --token") }
    try await runRounds(base: url, token: token)
    exit(0)
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("submit-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let store = try ControlStore(dataDirectory: directory + "/data", hasher: SHA256TokenHasher())
_ = try store.bootstrap()
let admin = try store.createToken(kind: .admin).secret
// With the series `aegis up` records (store writes timed, API requests counted): the real path.
let controller = Controller(store: SQLiteStateStore(store), logger: quiet, metrics: ControllerMetrics())
let registerStart = ContinuousClock.now
for i in 0..<options.nodes {
    let caps = NodeCapabilities(cpuMillis: 64_000, memoryBytes: 256 << 30)
    try await controller.register(node: NodeInfo(name: "node-\(i)", role: .worker, capabilities: caps), link: AcknowledgingLink())
}
print("registered \(options.nodes) nodes in \(ContinuousClock.now - registerStart)")

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port = 0
    func set(_ p: Int) { lock.lock(); port = p; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return port }
}

let portBox = PortBox()
let socketPath = directory + "/api.sock"
let app = Application(
    router: APIServer.router(controller: controller),
    configuration: .init(
        address: options.unix ? .unixDomainSocket(path: socketPath) : .hostname("127.0.0.1", port: 0), serverName: "submit-bench"),
    onServerRunning: { channel in portBox.set(options.unix ? 1 : channel.localAddress?.port ?? 0) }, logger: quiet)
let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))

try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    while portBox.value == 0 { try await Task.sleep(for: .milliseconds(10)) }
    // AsyncHTTPClient's form of a Unix socket URL: the socket's path percent-encoded as the host.
    let base =
        options.unix
        ? "http+unix://" + socketPath.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        : "http://127.0.0.1:\(portBox.value)"
    if let file = options.serveFile {
        // Serve until SIGTERM; the file appears whole (rename) once the API listens.
        try "\(base) \(admin)\n".write(toFile: file + ".tmp", atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: file + ".tmp", toPath: file)
    } else {
        try await runRounds(base: base, token: admin)
        await group.triggerGracefulShutdown()
    }
    try await tasks.waitForAll()
}
try store.close()
