// DurationUnitsTests.swift — Duration as ms, seconds, poll timeouts and timespecs.
import AegisSystem
import XCTest

final class DurationUnitsTests: XCTestCase {
    func testWholeMillisecondsTruncate() {
        XCTAssertEqual(Duration.seconds(90).wholeMilliseconds, 90_000)
        XCTAssertEqual(Duration.microseconds(1_999).wholeMilliseconds, 1)
        XCTAssertEqual(Duration.milliseconds(-1_500).wholeMilliseconds, -1_500)
        XCTAssertEqual(Duration.seconds(Int64.max).wholeMilliseconds, .max, "saturates instead of trapping")
        XCTAssertEqual(Duration.seconds(Int64.min / 2).wholeMilliseconds, .min)
    }

    func testFractionalUnits() {
        XCTAssertEqual(Duration.milliseconds(1_500).inSeconds, 1.5)
        XCTAssertEqual(Duration.microseconds(2_500).inMilliseconds, 2.5)
    }

    func testPollTimeout() {
        XCTAssertEqual(Duration.pollTimeout(nil), -1)
        XCTAssertEqual(Duration.pollTimeout(.seconds(2)), 2_000)
        XCTAssertEqual(Duration.pollTimeout(.seconds(-2)), 0)
        XCTAssertEqual(Duration.pollTimeout(.seconds(10_000_000)), Int32.max)
    }

    func testTimespec() {
        let ts = Duration.milliseconds(2_250).timespec
        XCTAssertEqual(ts.tv_sec, 2)
        XCTAssertEqual(ts.tv_nsec, 250_000_000)
    }
}
