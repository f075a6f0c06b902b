// TestSupport.swift — what the relay tests share: a cluster CA with an edge's identity, a
// mutual-TLS echo server standing in for the gateway (counting the TCP connections it accepts),
// a TLS client standing in for the edge's session, services run in ServiceGroups, raw HTTP dials
// of the relay, and a "relay" that answers the upgrade and then goes silent.
import AegisPKI
import AegisRelay
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import XCTest

let testLogger: Logger = {
    var logger = Logger(label: "relay-test")
    logger.logLevel = ProcessInfo.processInfo.environment["RELAY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    return logger
}()

/// The name the stand-in gateway's certificate carries and the edge checks.
let gatewayName = "aegis-gateway-test"

/// The cluster CA, the gateway's server credentials and an edge's client identity.
struct TestPKI {
    let ca: ClusterCA
    let edge: NodeIdentity

    static func make() throws -> TestPKI {
        let ca = try ClusterCA.create(commonName: "relay-test-ca")
        let key = try NodeKey.generate(nodeName: "edge-1")
        let edge = try key.identity(certificate: try ca.sign(csr: try key.makeCSR(), nodeName: "edge-1", role: .worker))
        return TestPKI(ca: ca, edge: edge)
    }

    var caCertificates: [NIOSSLCertificate] { get throws { try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)) } }

    /// The gateway's side: its certificate for `gatewayName`, client certificates required and checked against the CA.
    func serverTLS() throws -> TLSConfiguration {
        let server = try ca.issueServerCertificate(hosts: [gatewayName, "127.0.0.1"], commonName: gatewayName)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(server.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(server.privateKeyPEM.utf8), format: .pem)))
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try caCertificates)
        tls.minimumTLSVersion = .tlsv12
        return tls
    }

    /// The edge's side: its node certificate, the cluster CA the only root, the gateway's name checked.
    func clientTLS() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(edge.certificatePEM.utf8)).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(edge.key.privateKeyPEM.utf8), format: .pem))
        tls.trustRoots = .certificates(try caCertificates)
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}

/// A TCP server on 127.0.0.1 that echoes what it reads, inside mutual TLS when given a configuration.
final class EchoServer: Sendable {
    let channel: any Channel
    let stats = EchoStats()
    /// TCP connections accepted (before any TLS).
    var acceptedCount: Int { stats.accepted.load(ordering: .relaxed) }
    /// Connections open now.
    var openCount: Int { stats.open.load(ordering: .relaxed) }

    var port: Int { channel.localAddress!.port! }

    init(tls: TLSConfiguration?) async throws {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let stats = self.stats
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                stats.accepted.add(1, ordering: .relaxed)
                stats.open.add(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in stats.open.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async { try? await channel.close().get() }

    final class Echo: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

final class EchoStats: Sendable {
    let accepted = Atomic<Int>(0)
    let open = Atomic<Int>(0)
}

/// A mutual-TLS client connection (the edge's session) to 127.0.0.1:`port`.
struct TLSClient {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int, tls: TLSConfiguration, serverName: String = gatewayName) async throws -> TLSClient {
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return TLSClient(channel: channel)
    }

    /// Writes `payload` and reads until as many bytes came back (the echo), within `timeout`.
    func roundTrip(_ payload: [UInt8], timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: payload))
            return try await withTimeout(timeout) {
                var got: [UInt8] = []
                for try await var buffer in inbound {
                    got += buffer.readBytes(length: buffer.readableBytes) ?? []
                    if got.count >= payload.count { break }
                }
                return got
            }
        }
    }
}

struct TimedOut: Error {}

struct WaitFailed: Error { let what: String }

/// `body`, or `TimedOut` after `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns how long it took.
@discardableResult
func eventually(_ timeout: Duration, _ what: String, _ condition: () -> Bool) async throws -> Duration {
    let start = ContinuousClock.now
    while !condition() {
        if ContinuousClock.now - start > timeout { throw WaitFailed(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
    return ContinuousClock.now - start
}

/// A service run in its own ServiceGroup; `stop()` shuts it down gracefully and waits.
struct Running: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(_ service: some Service) -> Running {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [], cancellationSignals: [], logger: testLogger))
        return Running(group: group, task: Task { try await group.run() })
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// The ticket key pair and tickets signed with it.
struct TestTickets {
    let key = Curve25519.Signing.PrivateKey()

    func ticket(edge: String = "edge-1", tenant: String = "acme", validForMs: Int64 = 60_000, fromMs: Int64? = nil) throws -> String {
        let now = fromMs ?? RelayClock.unixMs()
        return try RelayTicket.make(edge: edge, tenant: tenant, nowMs: now, validityMs: validForMs).encoded(signedWith: key)
    }
}

/// A relay under test: its server, running, and its port.
struct RelayUnderTest {
    let server: RelayServer
    let running: Running
    let port: Int
    /// Every chunk the relay forwarded, by direction.
    let recorded: Recorder

    static func start(
        tickets: TestTickets, upstreams: [Int], _ configure: (inout RelayConfiguration) -> Void = { _ in }
    ) async throws -> RelayUnderTest {
        let recorder = Recorder()
        var configuration = try RelayConfiguration(
            listen: RelayAddress(host: "127.0.0.1", port: 0), upstreams: upstreams.map { RelayAddress(host: "127.0.0.1", port: $0) },
            ticketKey: tickets.key.publicKey)
        configuration.tap = { direction, buffer in recorder.record(direction, buffer) }
        configure(&configuration)
        let server = RelayServer(configuration: configuration, logger: testLogger)
        let running = Running.start(server)
        return RelayUnderTest(server: server, running: running, port: try await server.listeningPort(), recorded: recorder)
    }

    var url: String { "ws://127.0.0.1:\(port)" }
}

final class Recorder: Sendable {
    private let bytes = Mutex<(up: [UInt8], down: [UInt8])>(([], []))

    func record(_ direction: RelayDirection, _ buffer: ByteBuffer) {
        let chunk = Array(buffer.readableBytesView)
        bytes.withLock { if direction == .toUpstream { $0.up += chunk } else { $0.down += chunk } }
    }

    var toUpstream: [UInt8] { bytes.withLock { $0.up } }
    var toEdge: [UInt8] { bytes.withLock { $0.down } }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if Array(self[start..<start + needle.count]) == needle { return true }
        }
        return false
    }
}

/// A port nothing listens on (bound, then closed).
func deadPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
