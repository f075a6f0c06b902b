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

    /// nil when something accepts connections on the socket, else why not ("connect: ENOENT …").
    func probe() -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(Errno.current.explained)" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return "socket path too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? nil : "connect \(socketPath): \(Errno.current.explained)"
    }
}
