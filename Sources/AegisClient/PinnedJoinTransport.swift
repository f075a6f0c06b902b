// PinnedJoinTransport.swift — how a joining node talks to the controller's cluster port over HTTPS
// before it trusts anything: the CA is fetched without verifying the server (JoinClient then checks
// it against the token's pin before using it), and the join itself — which carries the token's
// secret — goes over a connection that must chain to exactly that CA. Over http:// (the local API
// port) both go through the plain client.
import AegisProtocol
import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization

/// The join over a cluster port whose CA is pinned by the join token.
public final class PinnedJoinTransport: ClusterJoinTransport {
    public let server: String
    private let fetched = Mutex<String?>(nil)

    /// - Throws: `ClientError` for a server URL that `--server` would refuse.
    public init(server: String) throws {
        _ = try ConnectionSettings.parseServer(server)  // the same URL rules as --server
        self.server = server
    }

    public var serverName: String { server }

    public func clusterCA() async throws -> ClusterCAInfo {
        guard server.hasPrefix("https://") else { return try await APIClient.joining(server: server).clusterCA() }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none  // not trusted yet: JoinClient compares it with the token's pin
        let info = try await Self.retryingRateLimits {
            try await withClient(tls) { try await APIClient.joining(server: self.server, httpClient: $0).clusterCA() }
        }
        fetched.withLock { $0 = info.caPEM }
        return info
    }

    public func join(_ request: JoinRequest) async throws -> JoinResponse {
        guard server.hasPrefix("https://") else { return try await APIClient.joining(server: server).join(request) }
        guard let pem = fetched.withLock({ $0 }) else { throw ClientError("the cluster CA was not fetched before the join") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        // The server must hold a certificate of the pinned CA; its name may be any address the
        // controller is reached by (NAT), so the host name is not checked here.
        tls.certificateVerification = .noHostnameVerification
        return try await Self.retryingRateLimits {
            try await withClient(tls) { try await APIClient.joining(server: self.server, httpClient: $0).join(request) }
        }
    }

    /// Runs `body` again after the wait a gateway's 429 names ("rate limited: …; retry after N s",
    /// the join route is limited per client IP: many workers behind one NAT joining at once), at
    /// most `maxAttempts` times in all and never waiting longer than 30 s at a time.
    static func retryingRateLimits<T: Sendable>(maxAttempts: Int = 10, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do { return try await body() } catch let e as ErrorBody where e.error.hasPrefix("rate limited:") && attempt < maxAttempts {
                let seconds = e.error.range(of: "retry after ").flatMap { Int(e.error[$0.upperBound...].prefix { $0.isNumber }) } ?? 1
                try await Task.sleep(for: .seconds(min(max(seconds, 1), 30)))
                attempt += 1
            }
        }
    }

    private func withClient<T: Sendable>(_ tls: TLSConfiguration, _ body: (HTTPClient) async throws -> T) async throws -> T {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .seconds(60))))
        do {
            let r = try await body(client)
            try? await client.shutdown()
            return r
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
