// AdminSocket.swift — the gateway's admin socket (`--admin-socket`, /run/aegis/gateway.sock in the
// controller pod): plain HTTP/1.1 on a unix socket of mode 0660 in the pod's shared volume, for the
// metrics sidecar: GET /metrics (the gateway's series, Prometheus text 0.0.4 or OpenMetrics 1.0.0 by
// the Accept header), /healthz and /readyz as on the probe port. A socket file left by a gateway
// that died is replaced; one another process still accepts on is refused (the error names the
// flag). The socket file is removed when the gateway stops, unless something else replaced it.
import AegisMetrics
import AegisSystem
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

struct AdminSocket: Service, CustomStringConvertible {
    let path: String
    let upstream: Upstream
    let status: GatewayStatus
    let metrics: GatewayMetrics
    let logger: Logger

    var description: String { "AdminSocket(\(path))" }

    /// Serves until graceful shutdown; the socket file is gone afterwards.
    /// - Throws: `GatewayError` naming `--admin-socket` (in use, can't bind).
    func run() async throws {
        try Self.claim(path)
        let bound = Mutex<ino_t?>(nil)
        let server = Server(
            childChannelSetup: HTTP1Channel(responder: status.healthResponder(upstream: upstream, metrics: metrics)),
            configuration: .init(address: .unixDomainSocket(path: path)),
            onServerRunning: { [path, status, logger] _ in
                chmod(path, 0o660)
                bound.withLock { $0 = Self.socketInode(path) }
                status.adminListening()
                logger.info("admin socket (/metrics, /healthz, /readyz)", metadata: ["socket": "\(path)"])
            }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        defer {
            if let inode = bound.withLock({ $0 }), Self.socketInode(path) == inode { unlink(path) }
        }
        do { try await server.run() } catch {
            throw GatewayError("listening on --admin-socket \(path): \(error)", underlying: error)
        }
    }

    /// Makes `path` free for the admin socket: nothing there, or a socket nobody accepts on (a
    /// dead gateway's), which is removed.
    /// - Throws: `GatewayError` naming `--admin-socket` when a process serves it or it is no socket.
    static func claim(_ path: String) throws(GatewayError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw GatewayError("--admin-socket \(path): the path exists and is not a unix socket")
        }
        if accepts(path) { throw GatewayError("--admin-socket \(path): another process is listening on it") }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw GatewayError("--admin-socket \(path): removing the stale socket: \(Errno.current.explained)")
        }
    }

    /// The inode of the unix socket at `path`; nil when there is none.
    static func socketInode(_ path: String) -> ino_t? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return info.st_ino
    }

    /// Whether a process accepts connections on the unix socket at `path` (one whose backlog is
    /// full counts).
    static func accepts(_ path: String) -> Bool {
        do { try UnixSocket.probe(path) } catch { return error.errno.code == EAGAIN }
        return true
    }
}
