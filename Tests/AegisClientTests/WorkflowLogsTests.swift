// WorkflowLogsTests.swift — `aegis workflow logs`' line prefixes: complete lines only, split
// anywhere, the partial last line flushed; and the label of an instance.
import AegisClient
import AegisProtocol
import XCTest

final class WorkflowLogsTests: XCTestCase {
    func testCompleteLinesArePrefixedAndAPartialLineWaits() {
        var p = LinePrefixer(prefix: "[work 3] ")
        XCTAssertEqual(p.feed("hel"), "")
        XCTAssertEqual(p.feed("lo\nwor"), "[work 3] hello\n")
        XCTAssertEqual(p.feed("ld\n\nbye"), "[work 3] world\n[work 3] \n")
        XCTAssertEqual(p.flush(), "[work 3] bye\n")
        XCTAssertEqual(p.flush(), "")
    }

    func testEverySplitPointGivesTheSameText() {
        let text = "one\ntwo\nthree"
        for cut in 0...text.count {
            var p = LinePrefixer(prefix: "> ")
            let i = text.index(text.startIndex, offsetBy: cut)
            let out = p.feed(String(text[..<i])) + p.feed(String(text[i...])) + p.flush()
            XCTAssertEqual(out, "> one\n> two\n> three\n", "cut at \(cut)")
        }
    }

    func testLabels() {
        let plain = WorkflowInstanceInfo(step: "plan", item: nil, phase: .succeeded, attempt: 1, workload: "w", detail: nil)
        let item = WorkflowInstanceInfo(step: "work", item: 3, phase: .running, attempt: 2, workload: "v", detail: nil)
        XCTAssertEqual(WorkflowLogs.label(plain), "[plan] ")
        XCTAssertEqual(WorkflowLogs.label(item), "[work 3] ")
    }
}
