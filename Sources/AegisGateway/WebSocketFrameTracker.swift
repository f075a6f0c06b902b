// WebSocketFrameTracker.swift — where the frames of one direction of a WebSocket byte stream
// begin and end (RFC 6455 §5.2), without copying or unmasking anything: only frame headers are
// read, payloads are skipped by their length. The tunnel uses it to place a close frame of its own
// between two frames when the gateway shuts down.
import NIOCore

struct WebSocketFrameTracker {
    /// The bytes of the frame header being read (2 to 14 bytes).
    private var header: [UInt8] = []
    /// Payload bytes of the current frame not yet seen.
    private var payloadLeft: UInt64 = 0
    /// Close frames (opcode 0x8) seen complete.
    private(set) var closeFrames = 0
    /// Frames seen complete.
    private(set) var frames = 0

    /// True between two frames.
    var atBoundary: Bool { header.isEmpty && payloadLeft == 0 }

    /// Follows `buffer`'s readable bytes; with `stopAtBoundary`, stops at the first frame boundary
    /// (possibly right away). Returns how many bytes it followed.
    mutating func advance(_ buffer: ByteBuffer, stopAtBoundary: Bool) -> Int {
        buffer.withUnsafeReadableBytes { advance($0, stopAtBoundary: stopAtBoundary) }
    }

    mutating func advance(_ bytes: UnsafeRawBufferPointer, stopAtBoundary: Bool) -> Int {
        var i = 0
        while i < bytes.count {
            if stopAtBoundary && atBoundary { return i }
            if payloadLeft > 0 {
                let take = Int(min(UInt64(bytes.count - i), payloadLeft))
                payloadLeft -= UInt64(take)
                i += take
                continue
            }
            header.append(bytes[i])
            i += 1
            if let length = Self.headerLength(header), header.count == length {
                payloadLeft = Self.payloadLength(header)
                frames += 1
                if header[0] & 0x0F == 0x8 { closeFrames += 1 }
                header.removeAll(keepingCapacity: true)
            }
        }
        return i
    }

    /// A header's full length once its first two bytes are known.
    static func headerLength(_ h: [UInt8]) -> Int? {
        guard h.count >= 2 else { return nil }
        let length7 = h[1] & 0x7F
        let extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
        return 2 + extended + (h[1] & 0x80 != 0 ? 4 : 0)
    }

    static func payloadLength(_ h: [UInt8]) -> UInt64 {
        let length7 = h[1] & 0x7F
        let count = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
        guard count > 0 else { return UInt64(length7) }
        return h[2..<(2 + count)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// A close frame with `code` and `reason` (at most 123 bytes of it); masked as a client sends
    /// it, unmasked as a server does.
    static func closeFrame(code: UInt16, reason: String, masked: Bool) -> [UInt8] {
        let payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8.prefix(123))
        var frame: [UInt8] = [0x88, (masked ? 0x80 : 0) | UInt8(payload.count)]
        guard masked else { return frame + payload }
        let key = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += key
        frame += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        return frame
    }
}
