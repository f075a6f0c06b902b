// UnixSocket.swift — whether a process accepts connections on a unix stream socket: one
// non-blocking connect(2), which on a unix socket completes or fails at once (no connect timeout to
// wait out), for readiness probes and for telling a live socket from one a dead process left behind.
import Glibc

public enum UnixSocket {
    /// Connects to the stream socket at `path` and closes the connection again.
    /// - Throws: `SystemError` ("connect", path, errno): ENOENT (no such file), ECONNREFUSED
    ///   (nothing listens: a stale socket), EAGAIN (it listens, its backlog is full), ENAMETOOLONG
    ///   (over 107 bytes), or the error of socket(2) itself.
    public static func probe(_ path: String) throws(SystemError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw SystemError("connect", path, code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw SystemError("connect", path) }
    }
}
