// RawSocket.swift — blocking loopback TCP for tests that must control every byte: an upgrade
// request with any Authorization header and its raw answer; a peer that stops reading; a fake
// relay that answers the upgrade and then never answers a ping.
import Crypto
import Foundation

/// A connected TCP socket with a receive timeout.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    init(port: Int, timeout: TimeInterval = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        setTimeout(timeout)
    }

    init(fd: Int32) { self.fd = fd }

    func setTimeout(_ seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Reads once: the bytes, [] at end of stream, nil on timeout or error.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : Array(buffer.prefix(n))
    }

    /// Reads until the end of the HTTP head (or the stream).
    func receiveHead() -> String {
        var got: [UInt8] = []
        while !got.contains(bytes: Array("\r\n\r\n".utf8)) {
            guard let chunk = receive(), !chunk.isEmpty else { break }
            got += chunk
        }
        return String(decoding: got, as: UTF8.self)
    }

    /// Reads until end of stream; whether it came within the receive timeout.
    func waitForClose() -> Bool {
        while true {
            guard let chunk = receive() else { return false }
            if chunk.isEmpty { return true }
        }
    }

    deinit { close(fd) }

    /// An upgrade request for the relay path, with `authorization` when given.
    static func upgradeRequest(authorization: String?, path: String = "/v1/relay") -> String {
        var request = "GET \(path) HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let authorization { request += "Authorization: \(authorization)\r\n" }
        return request + "\r\n"
    }
}

/// The answer to a raw dial: status code and the refusal header.
struct RawAnswer {
    let status: Int
    let refusal: String?

    init(head: String) {
        let lines = head.components(separatedBy: "\r\n")
        status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        refusal = lines.first { $0.lowercased().hasPrefix("x-aegis-relay-refusal:") }.map {
            String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        }
    }
}

/// A "relay" on 127.0.0.1 that answers one WebSocket upgrade with 101 and then never reads again
/// (so never answers a ping): a half-open path as the edge sees it.
final class SilentRelay: @unchecked Sendable {
    let listener: Int32
    let port: Int
    private let accepted = NSLock()
    private var held: [RawSocket] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 8)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    private func serve() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            let peer = RawSocket(fd: fd)
            let head = peer.receiveHead()
            let key =
                head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
                .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? ""
            let digest = Insecure.SHA1.hash(data: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
            let acceptKey = Data(digest).base64EncodedString()
            peer.send(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(acceptKey)\r\n\r\n"
            )
            accepted.lock()
            held.append(peer)
            accepted.unlock()
        }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
}
