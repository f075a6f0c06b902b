import AegisManifest
import AegisProtocol
import XCTest

final class RestartBackoffTests: XCTestCase {
    func testDelayDoublesUpToTheCap() {
        let k8s = RestartBackoff.standard
        XCTAssertEqual((1...7).map { k8s.delaySeconds(afterExits: $0) }, [10, 20, 40, 80, 160, 300, 300])
        XCTAssertEqual(k8s.delaySeconds(afterExits: 10_000), 300, "no overflow after many exits")
        let short = RestartBackoff(initialSeconds: 1, maxSeconds: 5)
        XCTAssertEqual((1...5).map { short.delaySeconds(afterExits: $0) }, [1, 2, 4, 5, 5])
        XCTAssertEqual(RestartBackoff(initialSeconds: 7, maxSeconds: 7).delaySeconds(afterExits: 3), 7)
        XCTAssertEqual(short.delaySeconds(afterExits: 0), 1, "a count below 1 is a first exit")
    }

    func testCountResetsAfterTenMinutesOfRunning() {
        XCTAssertEqual(RestartBackoff.exits(previous: 4, ranMs: 2_000), 5)
        XCTAssertEqual(RestartBackoff.exits(previous: 4, ranMs: 599_999), 5)
        XCTAssertEqual(RestartBackoff.exits(previous: 4, ranMs: 600_000), 1, "ran 10 min: back to the initial delay")
        XCTAssertEqual(RestartBackoff.exits(previous: 0, ranMs: 10), 1)
        XCTAssertEqual(RestartBackoff.exits(previous: 3, ranMs: nil), 1)
    }

    func parse(_ text: String) throws -> WorkloadSpec {
        try ManifestParser.parse(text, file: "agent.yaml", inputs: [:], defaultTenant: "acme")
    }

    func testManifestField() throws {
        let base = "name: a\nruntime: command\ncommand: [/bin/true]\nrestart: on-failure\n"
        XCTAssertNil(try parse(base).restartBackoff)
        XCTAssertEqual(
            try parse(base + "restartBackoff: {initial: 1s, max: 1m}").restartBackoff,
            RestartBackoff(initialSeconds: 1, maxSeconds: 60))
        XCTAssertEqual(try parse(base + "restartBackoff: {initial: 2s}").restartBackoff, RestartBackoff(initialSeconds: 2, maxSeconds: 300))
        XCTAssertEqual(
            try parse(base + "restartBackoff: {initial: 10m}").restartBackoff, RestartBackoff(initialSeconds: 600, maxSeconds: 600),
            "an initial above the default max raises max with it")
        XCTAssertEqual(try parse(base + "restartBackoff: {max: 1h}").restartBackoff, RestartBackoff(initialSeconds: 10, maxSeconds: 3600))
    }

    func testManifestErrorsNameFieldAndLine() {
        let base = "name: a\nruntime: command\ncommand: [/bin/true]\n"
        func check(_ tail: String, path: String, line: Int, _ fragment: String, sourceLine: UInt = #line) {
            do {
                _ = try parse(base + tail)
                XCTFail("accepted: \(tail)", line: sourceLine)
            } catch let e as ManifestError {
                XCTAssertEqual(e.path, path, "\(e)", line: sourceLine)
                XCTAssertEqual(e.line, line, "\(e)", line: sourceLine)
                XCTAssertTrue(e.message.contains(fragment), "\(e)", line: sourceLine)
            } catch {
                XCTFail("\(error)", line: sourceLine)
            }
        }
        check("restartBackoff:\n  initial: 0s\n", path: "restartBackoff.initial", line: 5, "must be more than 0")
        check("restartBackoff:\n  max: 2h\n", path: "restartBackoff.max", line: 5, "between 1 s and 1 h")
        check("restartBackoff:\n  initial: 1m\n  max: 30s\n", path: "restartBackoff.max", line: 6, "below initial 60 s")
        check("restartBackoff:\n  initial: soon\n", path: "restartBackoff.initial", line: 5, "is not a duration")
        check("restartBackoff:\n  intial: 1s\n", path: "restartBackoff.intial", line: 5, "did you mean initial")
        check("restartBackoff: 10s\n", path: "restartBackoff", line: 4, "expected a mapping")
    }
}
