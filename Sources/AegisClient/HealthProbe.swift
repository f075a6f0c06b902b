// HealthProbe.swift — `aegis health`: one GET of /healthz or /readyz over a unix socket, for exec
// probes of containers that listen on no TCP port (the controller in its pod). Plain HTTP/1.1 on
// a blocking socket with a deadline: a probe runs every few seconds, so it starts no event loop.
import AegisSystem
import Foundation

public enum HealthProbe {
    /// What the server answered.
    public struct Answer: Sendable, Equatable {
        /// The HTTP status code.
        public var status: Int
        /// The body, as text (at most 64 KiB read).
        public var body: String
        /// 200…399, as Kubernetes counts an httpGet probe's success.
        public var passed: Bool { (200..<400).contains(status) }

        public init(status: Int, body: String) {
            self.status = status
            self.body = body
        }
    }

    /// A probe that got no HTTP answer; `description` names the step and errno.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// GETs `path` from the HTTP server on the unix socket `socket`, within `timeout` in all (a
    /// server trickling bytes does not stretch it).
    /// - Throws: `Failure` naming the step (connect, send, receive, parse) and its errno.
    public static func get(socket: String, path: String, timeout: Duration) throws(Failure) -> Answer {
        guard path.hasPrefix("/"), !path.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) else {
            throw Failure(description: "--path \(path): an absolute request path without spaces")
        }
        let deadline = ContinuousClock.now + timeout
        let fd = try connect(socket: socket, timeout: timeout)
        defer { close(fd) }
        let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: aegis-health\r\nConnection: close\r\n\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else { throw Failure(description: "send to \(socket): \(Errno.current.explained)") }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < 65_536 && !complete(response) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure(description: "receive from \(socket): no whole answer within \(timeout)") }
            setTimeout(fd, left)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else {
                let e = Errno.current
                throw Failure(description: "receive from \(socket): \(e.code == EAGAIN ? "no answer within \(timeout)" : e.explained)")
            }
            response.append(contentsOf: buffer[..<n])
        }
        return try parse(response, socket: socket)
    }

    static func connect(socket path: String, timeout: Duration) throws(Failure) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "--socket \(path): longer than a unix socket path may be (107 bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(Errno.current.explained)") }
        setTimeout(fd, timeout)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = Errno.current
            close(fd)
            throw Failure(description: "connect to \(path): \(e.explained)")
        }
        return fd
    }

    /// SO_RCVTIMEO and SO_SNDTIMEO of `fd` (at least 1 µs: 0 would mean none).
    static func setTimeout(_ fd: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: max(Int(attoseconds / 1_000_000_000_000), seconds == 0 ? 1 : 0))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whether the head and a body of the Content-Length it announces have arrived (a server may
    /// keep the connection open despite `Connection: close`).
    static func complete(_ response: [UInt8]) -> Bool {
        let text = String(decoding: response, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        for line in text[..<end.lowerBound].split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length", let n = Int(parts[1].trimmingCharacters(in: .whitespaces)) {
                return text[end.upperBound...].utf8.count >= n
            }
        }
        return false
    }

    /// The status code of "HTTP/1.x NNN reason" and the body after the blank line.
    static func parse(_ response: [UInt8], socket: String) throws(Failure) -> Answer {
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            throw Failure(description: "\(socket): not an HTTP response (\(statusLine.prefix(60)))")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return Answer(status: status, body: body)
    }
}
