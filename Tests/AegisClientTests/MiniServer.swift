import AegisClient
import Foundation
import XCTest
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// A unix socket bound at `path` (mode as created), for tests that need one.
func bindUnixSocket(_ path: String, listen backlog: Int32?) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ClientError("socket: \(Errno.current.explained)") }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ClientError("socket path too long: \(path)") }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else { close(fd); throw ClientError("bind \(path): \(Errno.current.explained)") }
    if let backlog, listen(fd, backlog) != 0 { close(fd); throw ClientError("listen: \(Errno.current.explained)") }
    return fd
}

/// A one-request-per-connection HTTP/1.1 server on a unix socket, with canned answers, that
/// records what it received. Multi-chunk answers are sent with chunked encoding, 20 ms apart.
final class MiniServer: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var target: String
        var headers: [String: String]  // lowercased names
        var body: [UInt8]
    }
    struct Response: Sendable {
        var status: String = "200 OK"
        var contentType: String = "application/json"
        var chunks: [[UInt8]]
        static func json(_ text: String, status: String = "200 OK") -> Response {
            Response(status: status, contentType: "application/json", chunks: [Array(text.utf8)])
        }
    }

    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Request] = []
    private let handler: @Sendable (Request) -> Response

    init(socketPath: String, handler: @escaping @Sendable (Request) -> Response) throws {
        path = socketPath
        self.handler = handler
        fd = try bindUnixSocket(socketPath, listen: 16)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var requests: [Request] { lock.lock(); defer { lock.unlock() }; return received }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; return }
            serve(c)
            close(c)
        }
    }

    private func serve(_ c: Int32) {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let sep = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        var contentLength = 0
        var request = Request(method: "", target: "", headers: [:], body: [])
        while true {
            if headEnd == nil, let r = data.firstRange(of: sep) {
                headEnd = r.upperBound
                let lines = String(decoding: data[..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let first = lines[0].split(separator: " ")
                request.method = String(first[0])
                request.target = String(first[1])
                for l in lines.dropFirst() {
                    guard let colon = l.firstIndex(of: ":") else { continue }
                    request.headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                contentLength = Int(request.headers["content-length"] ?? "0") ?? 0
            }
            if let h = headEnd, data.count - h >= contentLength {
                request.body = Array(data[h..<(h + contentLength)])
                break
            }
            let n = read(c, &buf, buf.count)
            if n <= 0 { return }
            data += buf[0..<n]
        }
        lock.lock(); received.append(request); lock.unlock()
        let resp = handler(request)
        var head = "HTTP/1.1 \(resp.status)\r\nContent-Type: \(resp.contentType)\r\nConnection: close\r\n"
        if resp.chunks.count == 1 {
            head += "Content-Length: \(resp.chunks[0].count)\r\n\r\n"
            try? writeAll(fd: c, Array(head.utf8) + resp.chunks[0], what: "response")
            return
        }
        head += "Transfer-Encoding: chunked\r\n\r\n"
        try? writeAll(fd: c, Array(head.utf8), what: "response")
        for chunk in resp.chunks where !chunk.isEmpty {
            usleep(20_000)
            try? writeAll(fd: c, Array((String(chunk.count, radix: 16) + "\r\n").utf8) + chunk + Array("\r\n".utf8), what: "chunk")
        }
        try? writeAll(fd: c, Array("0\r\n\r\n".utf8), what: "last chunk")
    }
}
