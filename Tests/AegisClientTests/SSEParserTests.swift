import AegisClient
import XCTest

final class SSEParserTests: XCTestCase {
    private let stream = Array(
        """
        : keep-alive\r
        event: stdout\r
        data: hello\r
        data: wörld\r
        \r
        event: stderr
        data:no-space
        data
        id: 7

        event: ignored-without-data

        data: plain message
        retry: 100

        event: exit\rdata: {"a":1}\r\r
        """.utf8)

    private let expected = [
        SSEEvent(event: "stdout", data: "hello\nwörld"),
        SSEEvent(event: "stderr", data: "no-space\n", id: "7"),
        SSEEvent(event: "message", data: "plain message", id: "7"),
        SSEEvent(event: "exit", data: "{\"a\":1}", id: "7"),
    ]

    func testWholeStream() {
        var p = SSEParser()
        XCTAssertEqual(p.feed(stream), expected)
    }

    /// Every split point (including inside CRLF and inside the two-byte "ö") gives the same events.
    func testEverySplitPoint() {
        for cut in 0...stream.count {
            var p = SSEParser()
            let events = p.feed(stream[..<cut]) + p.feed(stream[cut...])
            XCTAssertEqual(events, expected, "split at byte \(cut)")
        }
    }

    func testByteAtATime() {
        var p = SSEParser()
        var events: [SSEEvent] = []
        for b in stream { events += p.feed([b]) }
        XCTAssertEqual(events, expected)
    }

    func testUnterminatedEventIsDiscarded() {
        var p = SSEParser()
        XCTAssertEqual(p.feed(Array("event: stdout\ndata: partial\n".utf8)), [])
        XCTAssertNil(p.finish())
        // The discarded data does not leak into the next event.
        XCTAssertEqual(p.feed(Array("data: next\n\n".utf8)), [SSEEvent(event: "message", data: "next")])
    }

    /// encodeSSE is what the node sends; the parser gives back exactly the text, newlines included.
    func testEncodeRoundTrip() {
        let texts = ["line\n", "a\nb", "\n\n", "", "no newline", "trailing two\n\n", "ünïcödé 🙂\n", "data: looks like a field\n"]
        for t in texts {
            var p = SSEParser()
            XCTAssertEqual(
                p.feed(Array(encodeSSE(event: "stdout", text: t).utf8)), [SSEEvent(event: "stdout", data: t)], "text \(t.debugDescription)")
        }
    }
}
