// A minimal HTTP/1.1 client on a raw socket (TCP on 127.0.0.1 or the node's unix socket), for what
// URLSession can't do: send a huge or never-ending body and read the answer the server gives
// before the body is over.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum RawHTTPTarget {
    case tcp(port: Int)
    case unix(path: String)
}

struct RawHTTPResponse {
    var status: Int
    var body: Data
}

enum RawHTTP {
    static func connect(_ target: RawHTTPTarget) throws -> Int32 {
        switch target {
        case let .tcp(port):
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            return fd
        case let .unix(path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                let bytes = Array(path.utf8)
                raw.copyBytes(from: bytes.prefix(raw.count - 1))
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            return fd
        }
    }

    /// POSTs `bodyBytes` bytes of `filler` (repeated) to `path`: with a Content-Length header when
    /// `declareLength`, else chunked. Stops sending as soon as the server answers or stops
    /// reading; returns its answer.
    static func post(_ target: RawHTTPTarget, path: String, token: String, bodyBytes: Int, declareLength: Bool) throws -> RawHTTPResponse {
        let fd = try connect(target)
        defer { close(fd) }
        var rcv = timeval(tv_sec: 30, tv_usec: 0), snd = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, socklen_t(MemoryLayout<timeval>.size))
        // A server that answered and stopped reading must not leave a send blocked forever.
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, socklen_t(MemoryLayout<timeval>.size))
        var head = "POST \(path) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
        head += declareLength ? "Content-Length: \(bodyBytes)\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n"
        guard sendAll(fd, Array(head.utf8)) else { throw POSIXError(.EPIPE) }
        var sent = 0
        let block = [UInt8](repeating: UInt8(ascii: "x"), count: 256 << 10)
        while sent < bodyBytes && !readable(fd) {
            let n = min(block.count, bodyBytes - sent)
            var piece = Array(block.prefix(n))
            if !declareLength { piece = Array(String(n, radix: 16).utf8) + [13, 10] + piece + [13, 10] }
            guard sendAll(fd, piece) else { break }  // the server stopped reading: its answer follows
            sent += n
        }
        if sent >= bodyBytes && !declareLength { _ = sendAll(fd, Array("0\r\n\r\n".utf8)) }
        return try readResponse(fd)
    }

    private static func readable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }

    /// Status line, headers, and a Content-Length body.
    private static func readResponse(_ fd: Int32) throws -> RawHTTPResponse {
        var buf = [UInt8]()
        var tmp = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = recv(fd, &tmp, tmp.count, 0)
            if n <= 0 { return false }
            buf += tmp[0..<n]
            return true
        }
        let sep: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if let r = find(sep, in: buf) { headEnd = r; break }
            guard fill() else { throw POSIXError(.ECONNRESET) }
        }
        let head = String(decoding: buf[0..<headEnd!], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var length = 0
        for l in lines.dropFirst() where l.lowercased().hasPrefix("content-length:") {
            length = Int(l.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let start = headEnd! + 4
        while buf.count - start < length { guard fill() else { break } }
        return RawHTTPResponse(status: status, body: Data(buf[start..<min(buf.count, start + length)]))
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}
