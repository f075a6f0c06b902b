// TestSupport.swift — what the gateway tests share: a temporary directory, a test cluster CA with a
// worker's certificate and a foreign CA's, TLS client configurations, a gateway and a fake
// controller run in ServiceGroups and stopped again, and the access log captured.
import AegisGateway
import AegisPKI
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import Synchronization
import XCTest

/// A fresh directory under /tmp (short: unix socket paths must fit 107 bytes).
struct TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/agw.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw GatewayError("mkdtemp failed: errno \(errno)") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        _ = made
    }

    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The cluster CA, a worker's identity it issued, and an identity from another CA.
struct TestPKI {
    let ca: ClusterCA
    let node: NodeIdentity
    let foreign: NodeIdentity

    static func make() throws -> TestPKI {
        let ca = try ClusterCA.create(commonName: "test-cluster-ca")
        let other = try ClusterCA.create(commonName: "foreign-ca")
        return TestPKI(ca: ca, node: try issue(ca, "node-1"), foreign: try issue(other, "node-1"))
    }

    static func issue(_ ca: ClusterCA, _ name: String) throws -> NodeIdentity {
        let key = try NodeKey.generate(nodeName: name)
        return try key.identity(certificate: try ca.sign(csr: try key.makeCSR(), nodeName: name, role: .worker))
    }

    /// A client configuration trusting the cluster CA, presenting `identity` when given.
    func clientTLS(_ identity: NodeIdentity? = nil) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        tls.minimumTLSVersion = .tlsv12
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.key.privateKeyPEM.utf8), format: .pem))
        }
        return tls
    }

    /// An HTTP client trusting the cluster CA (shut it down with `shutdown()`).
    func httpClient(_ identity: NodeIdentity? = nil) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: try clientTLS(identity))
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(20))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// Access-log lines as they are written.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var sink: AccessLogSink { AccessLogSink { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }

    /// The decoded lines whose request_id is `id`.
    func entries(requestID id: String) -> [[String: Any]] {
        all.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["request_id"] as? String == id }
    }
}

/// A service run in its own ServiceGroup; `stop()` shuts it down gracefully and waits.
struct Running: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(_ service: some Service) -> Running {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [], cancellationSignals: [],
                logger: Logger(label: "test")))
        return Running(group: group, task: Task { try await group.run() })
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A gateway under test with what the tests look at.
struct GatewayUnderTest: Sendable {
    let gateway: Gateway
    let running: Running
    let ports: (cluster: Int, health: Int)
    let log: LogCapture

    var base: String { "https://127.0.0.1:\(ports.cluster)" }
    var probe: String { "http://127.0.0.1:\(ports.health)" }

    /// Starts a gateway for `socket` with `configure` applied to its configuration.
    static func start(
        pki: TestPKI, socket: String, pkiDirectory: String = "/nonexistent", provideCA: Bool = true,
        _ configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> GatewayUnderTest {
        var configuration = try GatewayConfiguration(
            listen: .init(host: "127.0.0.1", port: 0), healthListen: .init(host: "127.0.0.1", port: 0), controllerSocket: socket,
            pkiDirectory: pkiDirectory, maxBodyBytes: 1 << 20)
        configuration.drainTimeout = .seconds(3)
        configuration.refusalDelay = .zero  // GatewayLimitsTests' refusal-delay tests set their own
        configure(&configuration)
        let log = LogCapture()
        var logger = Logger(label: "gateway-test")
        logger.logLevel = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        let gateway = try Gateway(configuration: configuration, ca: provideCA ? pki.ca : nil, accessLog: log.sink, logger: logger)
        let running = Running.start(gateway)
        let ports = provideCA ? try await gateway.listeningPorts() : (0, try await gateway.probePort())
        return GatewayUnderTest(gateway: gateway, running: running, ports: ports, log: log)
    }

    func stop() async { await running.stop() }
}

/// Status, headers and body of a response read whole.
struct Fetched {
    let status: UInt
    let headers: [String: String]
    let body: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
}

extension HTTPClient {
    /// Sends a request and reads the whole answer.
    func fetch(
        _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil
    ) async throws -> Fetched {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await execute(request, timeout: .seconds(20))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        var fields: [String: String] = [:]
        for (name, value) in response.headers { fields[name.lowercased()] = value }
        return Fetched(status: response.status.code, headers: fields, body: String(buffer: bytes))
    }
}
