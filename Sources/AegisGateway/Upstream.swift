// Upstream.swift — the controller's API socket as the gateway reaches it: one AsyncHTTPClient
// (`http+unix://`) with a pool large enough for every open stream, no redirects followed, no read
// timeout (log streams idle for minutes), and a connect probe for readiness.
import AegisSystem
import AsyncHTTPClient
import Foundation
import NIOCore

struct Upstream: Sendable {
    /// The controller's unix socket.
    let socketPath: String
    let client: HTTPClient
    /// How long the controller may take to answer with a response head.
    let headTimeout: Duration
    /// `http+unix://<socket path percent-encoded>`.
    let base: String

    /// Connections kept to the controller at most: every open SSE stream holds one.
    static let maxConnections = 4096

    init(socketPath: String, headTimeout: Duration, eventLoopGroup: any EventLoopGroup) {
        self.socketPath = socketPath
        self.headTimeout = headTimeout
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(1), read: nil)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.maxConnections)
        // A refused connect (the controller restarting) is a 502 at once, not retried until the
        // connect timeout (after the pool's configuration, which would reset it).
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        base = "http+unix://" + (socketPath.addingPercentEncoding(withAllowedCharacters: allowed) ?? socketPath)
    }

    /// The URL of `pathAndQuery` (which starts with "/") on the controller.
    func url(path pathAndQuery: String) -> String { base + pathAndQuery }

    /// The head timeout as NIO's TimeAmount.
    var headTimeAmount: TimeAmount { .milliseconds(headTimeout.wholeMilliseconds) }

    /// nil when something accepts connections on the socket, else why not ("connect …: ENOENT …").
    func probe() -> String? {
        do { try UnixSocket.probe(socketPath) } catch { return "\(error)" }
        return nil
    }
}
