// HexTests.swift — Hex.lowercase against known encodings, and Syscall.affinityCPUCount against
// /proc/self/status's Cpus_allowed_list.
import AegisSystem
import Foundation
import XCTest

final class HexTests: XCTestCase {
    func testBytesAndWords() {
        XCTAssertEqual(Hex.lowercase([UInt8]()), "")
        XCTAssertEqual(Hex.lowercase([0x00, 0x0a, 0xff, 0x10]), "000aff10")
        XCTAssertEqual(Hex.lowercase(UInt64(0x1f)), "000000000000001f")
        XCTAssertEqual(Hex.lowercase(UInt64.max), "ffffffffffffffff")
        XCTAssertEqual(Hex.lowercase(UInt64(0x0123_4567_89ab_cdef)), "0123456789abcdef")
    }

    func testAffinityCountMatchesProcStatus() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let list = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        let expected = list.split(separator: ",").reduce(0) { total, range in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return total + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
        XCTAssertEqual(try Syscall.affinityCPUCount(), expected)
    }
}
