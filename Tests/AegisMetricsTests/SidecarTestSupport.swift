// SidecarTestSupport.swift — the sidecar tests' world, all real processes and sockets: a real
// Controller (SQLite store, ControllerMetrics, a node attached and renewing) whose
// `metricsExposition` a Hummingbird app serves on a unix socket as the controller pod's socket
// does (GET /metrics without a token, /healthz), recording what each /metrics request carried; a
// real Gateway in front of it with its admin socket; the sidecar on a free loopback port; and the
// tools: samples of an exposition, promtool as a subprocess, a real Prometheus.
import AegisControl
import AegisGateway
import AegisMetrics
import AegisPKI
import AegisProtocol
import AegisStore
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import XCTest

/// A service run in its own ServiceGroup; `stop()` shuts it down gracefully and waits.
struct Running: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(_ service: some Service) -> Running {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        return Running(group: group, task: Task { try await group.run() })
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A worker link that does nothing: the node is there for its series only.
struct IdleLink: WorkerLink {
    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {}
    func cancel(id: String, generation: Int64) async {}
    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}
}

/// A real controller's series on a unix socket: GET /metrics (no token, the Accept header honoured)
/// and GET /healthz, as the controller serves them on its pod socket.
final class ControllerSocket: Sendable {
    let socket: String
    let controller: Controller
    let store: ControlStore
    /// The Accept and Authorization headers of every /metrics request ("" when absent).
    let requests = Mutex<[(accept: String, authorization: String)]>([])
    private let running = Mutex<Running?>(nil)

    /// A controller with a bootstrapped store in `directory`, one node `n1` attached and renewed,
    /// one tenant, and a few placements and API requests recorded.
    init(socket: String, directory: String) async throws {
        self.socket = socket
        store = try ControlStore(dataDirectory: directory, hasher: SHA256TokenHasher())
        _ = try store.bootstrap()
        let metrics = ControllerMetrics()
        var logger = Logger(label: "test.controller")
        logger.logLevel = .error
        controller = Controller(
            store: SQLiteStateStore(store), logger: logger, leases: try LeaseTracker(config: LeaseConfig()), metrics: metrics)
        var caps = NodeCapabilities(cpuMillis: 8_000, memoryBytes: 16 << 30)
        caps.isolation = IsolationFeatures(cgroupControllers: ["cpu", "memory", "pids"])
        try await controller.attach(node: NodeInfo(name: "n1", role: .worker, capabilities: caps), link: IdleLink())
        _ = await controller.renewLease(
            node: "n1", capacity: LiveCapacity(runningAgents: 2, memoryAvailableBytes: 1 << 30, loadMillis: 300))
        _ = try await controller.createTenant(CreateTenantRequest(name: "t1"), caller: Caller(isAdmin: true, tenant: "default"))
        metrics.recordPlacements(3)
        metrics.recordAPIRequest(route: "/v1/workloads/:id", method: "GET", status: 200, seconds: 0.001)
    }

    /// Serves until `stop()`; returns once the socket listens.
    func start() async throws {
        let router = Router()
        let controller = controller
        router.get("/metrics") { [self] request, _ -> Response in
            self.requests.withLock {
                $0.append((request.headers[.accept] ?? "", request.headers[.authorization] ?? ""))
            }
            let exposition = await controller.metricsExposition(accept: request.headers[.accept])
            return Response(
                status: .ok, headers: [.contentType: exposition.contentType], body: .init(byteBuffer: ByteBuffer(bytes: exposition.body)))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        let (started, signal) = AsyncStream<Void>.makeStream()
        var logger = Logger(label: "test.controller-socket")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .unixDomainSocket(path: socket)), onServerRunning: { _ in signal.finish() },
            logger: logger)
        running.withLock { $0 = Running.start(app) }
        for await _ in started {}
    }

    func stop() async {
        let r = running.withLock { r in
            defer { r = nil }
            return r
        }
        await r?.stop()
    }

    func close() async {
        await stop()
        try? store.close()
    }
}

/// A real gateway in front of `controllerSocket` with its admin socket, and an HTTPS client that
/// trusts its CA.
struct GatewayFixture: Sendable {
    let gateway: Gateway
    let running: Running
    let port: Int
    let client: HTTPClient

    static func start(controllerSocket: String, adminSocket: String) async throws -> GatewayFixture {
        let ca = try ClusterCA.create(commonName: "test-cluster-ca")
        let configuration = try GatewayConfiguration(
            listen: .init(host: "127.0.0.1", port: 0), healthListen: .init(host: "127.0.0.1", port: 0), controllerSocket: controllerSocket,
            pkiDirectory: "/nonexistent", adminSocket: adminSocket)
        var logger = Logger(label: "test.gateway")
        logger.logLevel = .critical
        let gateway = try Gateway(configuration: configuration, ca: ca, accessLog: AccessLogSink { _ in }, logger: logger)
        let running = Running.start(gateway)
        let port = try await gateway.listeningPorts().cluster
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        return GatewayFixture(gateway: gateway, running: running, port: port, client: client)
    }

    /// GET `path` through the gateway's TLS port; the status.
    func get(_ path: String) async throws -> UInt {
        let response = try await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }

    func stop() async {
        try? await client.shutdown()
        await running.stop()
    }
}

/// Status, Content-Type and body of a plain-HTTP GET.
func get(_ url: String, headers: [(String, String)] = []) async throws -> (status: UInt, contentType: String, body: String) {
    var request = HTTPClientRequest(url: url)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
    let body = try await response.body.collect(upTo: 64 << 20)
    return (response.status.code, response.headers.first(name: "Content-Type") ?? "", String(buffer: body))
}

/// A fresh directory under /tmp (short: unix socket paths must fit 107 bytes).
func makeTempDirectory() throws -> String {
    var template = Array("/tmp/amx.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    return String(cString: made)
}

enum Exposed {
    /// The value of `name` with exactly `labels` (label values without escapes); nil when absent.
    static func value(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples(text).first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every sample: series name, labels, value.
    static func samples(_ text: String) -> [(name: String, labels: [String: String], value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                return nil
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: "\",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0]).trimmingCharacters(in: CharacterSet(charactersIn: ","))] = String(
                    kv[1].drop { $0 == "\"" }.prefix { $0 != "\"" })
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    /// The family names of the `# TYPE` lines, in order (a name twice means a family twice).
    static func typedFamilies(_ text: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) }
    }
}
