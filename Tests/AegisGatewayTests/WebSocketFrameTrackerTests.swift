// WebSocketFrameTrackerTests.swift — frame boundaries found in any split of the byte stream, masked
// and unmasked, with 7-, 16- and 64-bit lengths; the close frames the tunnel writes.
@testable import AegisGateway
import NIOCore
import XCTest

final class WebSocketFrameTrackerTests: XCTestCase {
    /// A frame with `opcode` and `length` payload bytes, masked when `masked`.
    func frame(opcode: UInt8, length: Int, masked: Bool) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode]
        let mask: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            bytes.append(mask | UInt8(length))
        } else if length <= 0xFFFF {
            bytes += [mask | 126, UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            bytes.append(mask | 127)
            bytes += (0..<8).reversed().map { UInt8((length >> ($0 * 8)) & 0xFF) }
        }
        if masked { bytes += [1, 2, 3, 4] }
        return bytes + [UInt8](repeating: 0x55, count: length)
    }

    func testBoundariesInEverySplit() {
        let frames = [
            frame(opcode: 1, length: 5, masked: true), frame(opcode: 2, length: 300, masked: false),
            frame(opcode: 9, length: 0, masked: true), frame(opcode: 2, length: 70_000, masked: true),
            frame(opcode: 8, length: 2, masked: false),
        ]
        let stream = frames.flatMap { $0 }
        var ends = Set<Int>()
        var offset = 0
        for f in frames { offset += f.count; ends.insert(offset) }
        for chunk in [1, 2, 3, 7, 13, 1000, stream.count] {
            var tracker = WebSocketFrameTracker()
            var seen = Set<Int>()
            var position = 0
            while position < stream.count {
                let piece = Array(stream[position..<min(stream.count, position + chunk)])
                var consumed = 0
                while consumed < piece.count {
                    // At a boundary the tracker stops right away: the next frame's first byte goes without stopping.
                    let stop = !tracker.atBoundary
                    let rest = stop ? piece[consumed...] : piece[consumed..<(consumed + 1)]
                    consumed += rest.withUnsafeBytes { tracker.advance($0, stopAtBoundary: stop) }
                    if tracker.atBoundary { seen.insert(position + consumed) }
                }
                position += piece.count
            }
            XCTAssertEqual(seen, ends, "chunks of \(chunk)")
            XCTAssertEqual(tracker.frames, frames.count)
            XCTAssertEqual(tracker.closeFrames, 1)
        }
    }

    func testCloseFrames() {
        let server = WebSocketFrameTracker.closeFrame(code: 1001, reason: "bye", masked: false)
        XCTAssertEqual(server, [0x88, 5, 0x03, 0xE9] + Array("bye".utf8))
        let client = WebSocketFrameTracker.closeFrame(code: 1001, reason: "bye", masked: true)
        XCTAssertEqual(client[0], 0x88)
        XCTAssertEqual(client[1], 0x80 | 5)
        let key = Array(client[2..<6])
        let payload = client[6...].enumerated().map { $0.element ^ key[$0.offset % 4] }
        XCTAssertEqual(payload, [0x03, 0xE9] + Array("bye".utf8))
        var tracker = WebSocketFrameTracker()
        XCTAssertEqual(client.withUnsafeBytes { tracker.advance($0, stopAtBoundary: false) }, client.count)
        XCTAssertTrue(tracker.atBoundary)
        XCTAssertEqual(tracker.closeFrames, 1)
    }
}
