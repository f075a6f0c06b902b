// Netlink.swift — a minimal rtnetlink client (RFC 3549; linux/rtnetlink.h, linux/if_link.h): one
// NETLINK_ROUTE socket, request/ACK with the kernel's errno, dumps, and a message builder with
// nested attributes. Only what the egress mode needs; every failure names the operation and errno.
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// A failed netlink or host-network operation: `operation` ("RTM_NEWLINK veth aegv0ad50002"),
/// the errno (0 when not a syscall failure) and a detail.
public struct NetError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var errno: Int32
    public var detail: String

    public init(_ operation: String, errno: Int32 = 0, _ detail: String = "") {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var s = operation
        if errno != 0 { s += ": " + Errno(errno).explained }
        if !detail.isEmpty { s += ": \(detail)" }
        return s
    }
}

/// rtnetlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h).
enum NL {
    static let request: UInt16 = 0x1, multi: UInt16 = 0x2, ack: UInt16 = 0x4
    static let dump: UInt16 = 0x300, excl: UInt16 = 0x200, create: UInt16 = 0x400, replace: UInt16 = 0x100
    static let msgError: UInt16 = 2, msgDone: UInt16 = 3
    static let newLink: UInt16 = 16, delLink: UInt16 = 17, getLink: UInt16 = 18
    static let newAddr: UInt16 = 20, delAddr: UInt16 = 21, getAddr: UInt16 = 22, newRoute: UInt16 = 24
    // IFLA_*
    static let iflaAddress: UInt16 = 1, iflaIfname: UInt16 = 3, iflaMTU: UInt16 = 4, iflaMaster: UInt16 = 10
    static let iflaLinkinfo: UInt16 = 18, iflaNetNsFd: UInt16 = 28
    static let infoKind: UInt16 = 1, infoData: UInt16 = 2, vethInfoPeer: UInt16 = 1
    static let nested: UInt16 = 0x8000
    // IFA_*, RTA_*
    static let ifaAddress: UInt16 = 1, ifaLocal: UInt16 = 2, ifaBroadcast: UInt16 = 4
    static let rtaDst: UInt16 = 1, rtaOif: UInt16 = 4, rtaGateway: UInt16 = 5
    static let iffUp: UInt32 = 1
}

/// A netlink message under construction: header, fixed part, then attributes (4-byte aligned).
struct NLMessage {
    private(set) var bytes: [UInt8]
    private var nests: [Int] = []

    init(type: UInt16, flags: UInt16) {
        bytes = [UInt8](repeating: 0, count: 16)
        put16(4, type)
        put16(6, flags)
    }

    private mutating func put16(_ at: Int, _ v: UInt16) { withUnsafeBytes(of: v) { for i in 0..<2 { bytes[at + i] = $0[i] } } }
    private mutating func put32(_ at: Int, _ v: UInt32) { withUnsafeBytes(of: v) { for i in 0..<4 { bytes[at + i] = $0[i] } } }

    mutating func append(_ raw: [UInt8]) {
        bytes += raw
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// struct ifinfomsg { family, pad, type, index, flags, change }.
    mutating func ifinfo(family: UInt8 = 0, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        var b = [UInt8](repeating: 0, count: 16)
        b[0] = family
        withUnsafeBytes(of: index) { for i in 0..<4 { b[4 + i] = $0[i] } }
        withUnsafeBytes(of: flags) { for i in 0..<4 { b[8 + i] = $0[i] } }
        withUnsafeBytes(of: change) { for i in 0..<4 { b[12 + i] = $0[i] } }
        append(b)
    }

    mutating func attr(_ type: UInt16, _ payload: [UInt8]) {
        var h = [UInt8](repeating: 0, count: 4)
        withUnsafeBytes(of: UInt16(4 + payload.count)) {
            h[0] = $0[0]; h[1] = $0[1]
        }
        withUnsafeBytes(of: type) {
            h[2] = $0[0]; h[3] = $0[1]
        }
        append(h + payload)
    }

    mutating func attr(_ type: UInt16, string: String) { attr(type, Array(string.utf8) + [0]) }
    mutating func attr(_ type: UInt16, u32: UInt32) { attr(type, withUnsafeBytes(of: u32) { Array($0) }) }
    mutating func attr(_ type: UInt16, ipv4: UInt32) { attr(type, withUnsafeBytes(of: ipv4.bigEndian) { Array($0) }) }

    mutating func begin(_ type: UInt16) {
        nests.append(bytes.count)
        attr(type | NL.nested, [])
    }

    mutating func end() {
        let start = nests.removeLast()
        put16(start, UInt16(bytes.count - start))
    }

    /// The finished message with its length and sequence number.
    func finished(seq: UInt32) -> [UInt8] {
        var m = self
        m.put32(0, UInt32(bytes.count))
        m.put32(8, seq)
        return m.bytes
    }
}

/// One received message: type, and the payload after the 16-byte header.
struct NLReply {
    var type: UInt16
    var payload: ArraySlice<UInt8>

    /// Attributes after a fixed part of `fixed` bytes: type (nested flag cleared) → payload.
    func attributes(after fixed: Int) -> [UInt16: ArraySlice<UInt8>] {
        Self.parse(payload.dropFirst(fixed))
    }

    static func parse(_ b: ArraySlice<UInt8>) -> [UInt16: ArraySlice<UInt8>] {
        var out: [UInt16: ArraySlice<UInt8>] = [:]
        var i = b.startIndex
        while i + 4 <= b.endIndex {
            let len = Int(UInt16(b[i]) | UInt16(b[i + 1]) << 8)
            let type = (UInt16(b[i + 2]) | UInt16(b[i + 3]) << 8) & 0x3fff
            guard len >= 4, i + len <= b.endIndex else { break }
            out[type] = b[(i + 4)..<(i + len)]
            i += (len + 3) & ~3
        }
        return out
    }
}

extension ArraySlice<UInt8> {
    var u32: UInt32 {
        guard count >= 4 else { return 0 }
        let s = startIndex
        return UInt32(self[s]) | UInt32(self[s + 1]) << 8 | UInt32(self[s + 2]) << 16 | UInt32(self[s + 3]) << 24
    }
    var cString: String { String(decoding: prefix(while: { $0 != 0 }), as: UTF8.self) }
}

/// A NETLINK_ROUTE socket. Bound to the network namespace it was created in, for its lifetime —
/// which is how AEGIS configures a sandbox's namespace without entering it (see `HeldNetns`).
/// Not thread-safe: one caller at a time.
public final class RouteSocket {
    let fd: Int32
    private var seq: UInt32 = 1

    /// Adopts an open NETLINK_ROUTE socket (closed on deinit).
    init(fd: Int32) { self.fd = fd }

    /// A socket in the caller's network namespace.
    /// - Throws: `NetError` for socket(2)/bind(2).
    public convenience init() throws {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else { throw NetError("socket(AF_NETLINK, NETLINK_ROUTE)", errno: errno) }
        self.init(fd: fd)
    }

    deinit { close(fd) }

    /// Sends `m` with NLM_F_REQUEST|NLM_F_ACK and waits for the kernel's ACK.
    /// - Throws: `NetError(operation, errno)` with the kernel's error.
    func run(_ m: NLMessage, _ operation: @autoclosure () -> String) throws {
        _ = try exchange(m, dump: false, operation)
    }

    /// Sends a dump request and returns every reply until NLMSG_DONE.
    func dump(_ m: NLMessage, _ operation: @autoclosure () -> String) throws -> [NLReply] {
        try exchange(m, dump: true, operation)
    }

    private func exchange(_ m: NLMessage, dump: Bool, _ operation: () -> String) throws -> [NLReply] {
        seq &+= 1
        let mySeq = seq
        let out = m.finished(seq: mySeq)
        let sent = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == out.count else { throw NetError(operation(), errno: errno, "send") }
        var replies: [NLReply] = []
        var buf = [UInt8](repeating: 0, count: 32768)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NetError(operation(), errno: errno, "recv")
            }
            var i = 0
            while i + 16 <= n {
                let s = buf[i..<n]
                let len = Int(s.u32)
                let type = UInt16(buf[i + 4]) | UInt16(buf[i + 5]) << 8
                let rseq = buf[(i + 8)..<(i + 12)].u32
                guard len >= 16, i + len <= n else { throw NetError(operation(), "malformed netlink reply") }
                let payload = buf[(i + 16)..<(i + len)]
                i += (len + 3) & ~3
                if rseq != mySeq { continue }
                if type == NL.msgError {
                    let code = Int32(bitPattern: payload.u32)
                    if code == 0 { return replies }  // ACK
                    throw NetError(operation(), errno: -code)
                }
                if type == NL.msgDone { return replies }
                replies.append(NLReply(type: type, payload: payload))
                if !dump { continue }
            }
        }
    }
}
