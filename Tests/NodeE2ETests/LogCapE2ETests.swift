// End-to-end: an agent writing past the node's log cap (`--log-cap 1Mi`), read through the CLI
// while it runs (`aegis logs -f`) and afterwards (`aegis logs`). Whether the follower falls behind
// depends on timing; what is checked holds either way: every line shown is in order, each gap
// is announced by a marker line that counts exactly the bytes missing, and the last line is there.
import AegisProtocol
import Foundation
import XCTest

final class LogCapE2ETests: XCTestCase {
    var node: NodeHarness!

    override func setUpWithError() throws {
        node = try NodeHarness(extraArgs: ["--log-cap", "1Mi"])
        try node.start()
    }

    override func tearDown() {
        node = nil
    }

    /// Bytes `seq 1 n` writes.
    static func seqBytes(_ n: Int) -> Int64 {
        var total: Int64 = 0, low = 1, digits = 1
        while low <= n {
            let high = min(n, low * 10 - 1)
            total += Int64(high - low + 1) * Int64(digits + 1)
            low *= 10
            digits += 1
        }
        return total
    }

    /// Walks the output of `seq 1 last` as shown: numbered lines counting up by one, where a line
    /// "[aegis: N earlier bytes dropped]" may stand for exactly the N bytes of the lines left out.
    /// Returns the number of marker lines; fails the test on the first line that doesn't fit.
    @discardableResult
    func checkNumbered(_ text: String, last: Int, what: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        var next = 1, markers = 0
        var pendingDrop: Int64?
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last, "", "\(what): no newline at the end", file: file, line: line)
        lines.removeLast()
        for l in lines {
            if l.hasPrefix("[aegis: "), l.hasSuffix(" earlier bytes dropped]"),
                let n = Int64(l.dropFirst(8).dropLast(23))
            {
                pendingDrop = (pendingDrop ?? 0) + n
                markers += 1
                continue
            }
            guard let k = Int(l) else { XCTFail("\(what): unexpected line \"\(l)\"", file: file, line: line); return markers }
            if let drop = pendingDrop {
                XCTAssertEqual(
                    Self.seqBytes(k - 1) - Self.seqBytes(next - 1), drop,
                    "\(what): the marker before line \(k) does not count the lines \(next)..<\(k)", file: file, line: line)
                pendingDrop = nil
            } else if k != next {
                XCTFail("\(what): line \(k) where \(next) was due, without a marker", file: file, line: line)
                return markers
            }
            next = k + 1
        }
        XCTAssertEqual(next - 1, last, "\(what): the last line", file: file, line: line)
        return markers
    }

    func testFollowAndHistoryOfALogPastTheCapAccountForEveryByte() throws {
        let last = 300_000  // 2,088,896 bytes: twice the cap
        let sub = try node.cli(["run", "--detach", "--", "seq", "1", "\(last)"])
        XCTAssertEqual(sub.status, 0, sub.stderr)
        let id = sub.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let follow = try node.cli(["logs", "-f", id], timeout: 120)
        XCTAssertEqual(follow.status, 0, follow.stderr)
        let gaps = checkNumbered(follow.stdout, last: last, what: "logs -f")
        print("logs -f: \(follow.stdout.utf8.count) bytes shown, \(gaps) marker line(s)")

        // Afterwards: the kept tail behind one marker for everything before it.
        let history = try node.cli(["logs", id])
        XCTAssertEqual(history.status, 0, history.stderr)
        XCTAssertEqual(checkNumbered(history.stdout, last: last, what: "logs"), 1, "one marker at the head")
        XCTAssertTrue(history.stdout.hasPrefix("[aegis: "), String(history.stdout.prefix(80)))
        XCTAssertLessThanOrEqual(history.stdout.utf8.count, 1 << 20)
        var st = stat()
        XCTAssertEqual(stat(node.dataDir + "/workloads/\(id)/stdout.log", &st), 0)
        XCTAssertLessThanOrEqual(Int(st.st_size), 1 << 20)
    }

    func testLogCapBelowTheMinimumIsRefusedByName() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: node.binary)
        p.arguments = ["up", "--data-dir", node.dataDir + "/other", "--api-port", "0", "--log-cap", "1000"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("--log-cap 1000: must be between 4096 bytes"), text)
    }
}
