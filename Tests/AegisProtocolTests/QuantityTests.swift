// The quantity grammar (AegisProtocol Quantity.swift), as manifests use it: the field names here are
// the manifest's; the CLI's flags go through the same functions (see QuantityGrammarTests in
// AegisManifestTests for the same inputs through every entry point).
import AegisProtocol
import XCTest

private let cpuField = "resources.cpu", memoryField = "resources.memory", timeoutField = "timeout"

final class QuantityTests: XCTestCase {
    func testCPU() throws {
        let table: [(String, Int64)] = [
            ("500m", 500), ("0.5", 500), ("2", 2000), ("1.25", 1250), (".5", 500), ("1500m", 1500),
            ("0.001", 1), ("1m", 1), (" 3 ", 3000), ("0.500", 500), ("64", 64_000),
        ]
        for (text, millis) in table {
            XCTAssertEqual(try Quantity.cpuMillis(text, field: cpuField), millis, text)
        }
        let bad: [(String, String)] = [
            ("abc", "is not a CPU quantity (use millicores like 500m, or cores like 0.5)"),
            ("", "is not a CPU quantity"), ("-1", "is out of range: CPU is 1m to 1000000 cores"), ("1.5m", "is not a CPU quantity"),
            ("2 cores", "is not a CPU quantity"), ("5.", "is not a CPU quantity"), ("1e3", "is not a CPU quantity"),
            ("0", "must be more than 0"), ("0m", "must be more than 0"),
            ("0.0005", "finer than one millicore"), ("99999999999999999999", "is out of range: CPU is 1m to 1000000 cores"),
            ("9223372036854775807", "out of range"), ("9223372036854775807m", "out of range"), ("1000001", "out of range"),
            ("1000000001m", "out of range"), ("-500m", "out of range"), ("-.5", "out of range"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Quantity.cpuMillis(text, field: cpuField), text) {
                let e = $0 as? QuantityError
                XCTAssertEqual(e?.field, "resources.cpu")
                XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(text): \($0)")
            }
        }
        XCTAssertEqual(
            "\(error { try Quantity.cpuMillis("abc", field: cpuField) })",
            "resources.cpu: \"abc\" is not a CPU quantity (use millicores like 500m, or cores like 0.5)")
        XCTAssertEqual(error { try Quantity.cpuMillis("x", field: "--cpus") }.field, "--cpus")
    }

    func testMemory() throws {
        let table: [(String, Int64)] = [
            ("256Mi", 256 << 20), ("1Gi", 1 << 30), ("1G", 1_000_000_000), ("512M", 512_000_000), ("1024", 1024),
            ("1.5Gi", 3 << 29), ("128k", 128_000), ("64Ki", 65_536), ("2K", 2000), ("1Ti", 1 << 40), ("1T", 1_000_000_000_000),
            ("1Pi", 1 << 50), ("1024Ti", 1 << 50), ("1125899906842624", 1 << 50), ("1P", 1_000_000_000_000_000), ("512MB", 512_000_000),
            ("1GiB", 1 << 30),
            ("100B", 100), ("0.1Ki", 103), ("0.5", 1), ("268435456", 268_435_456), (" 1Mi", 1 << 20),
        ]
        for (text, bytes) in table {
            XCTAssertEqual(try Quantity.memoryBytes(text, field: memoryField), bytes, text)
        }
        let bad: [(String, String)] = [
            ("12x", "is not a memory quantity"), ("Mi", "is not a memory quantity"), ("1.2.3Gi", "is not a memory quantity"),
            ("-1Gi", "is out of range: memory is more than 0 and at most 1 PiB"), ("1 Gi", "is not a memory quantity"),
            ("1iB", "is not a memory quantity"),
            ("256m", "ambiguous: write 256Mi or 256Gi"), ("1g", "ambiguous"), ("2gb", "ambiguous"),
            ("0", "must be more than 0"), ("0Gi", "must be more than 0"),
            ("8Ei", "is out of range: memory is at most 1 PiB (1125899906842624 bytes)"), ("9.3E", "at most 1 PiB"),
            ("99999999999999999999", "at most 1 PiB"), ("99999999Ei", "at most 1 PiB"), ("2Ei", "at most 1 PiB"),
            ("1125899906842625", "at most 1 PiB"), ("1.0000001Pi", "at most 1 PiB"), ("9223372036854775807", "at most 1 PiB"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Quantity.memoryBytes(text, field: memoryField), text) {
                let e = $0 as? QuantityError
                XCTAssertEqual(e?.field, "resources.memory")
                XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(text): \($0)")
            }
        }
    }

    func testDurations() throws {
        let table: [(String, Int)] = [
            ("300", 300), ("5m", 300), ("1h30m", 5400), ("90s", 90), ("1h", 3600), ("2d", 172_800), ("1d2h3m4s", 93_784),
            ("1m30s", 90), ("100m", 6000), (" 45s ", 45), ("365d", 31_536_000), ("31536000", 31_536_000),
        ]
        for (text, seconds) in table {
            XCTAssertEqual(try Quantity.durationSeconds(text, field: timeoutField), seconds, text)
        }
        let bad: [(String, String)] = [
            ("5 min", "is not a duration"), ("abc", "is not a duration"), ("", "is not a duration"), ("h", "is not a duration"),
            ("5x", "is not a duration"), ("-5", "is out of range: 1 s to 365 d (31536000 s)"), ("1h30", "is not a duration"),
            ("30m1h", "order d, h, m, s"), ("1m1m", "order d, h, m, s"), ("1.5h", "fractions are not supported"),
            ("500ms", "finer than one second"), ("10us", "finer than one second"), ("0", "must be more than 0"),
            ("0s", "must be more than 0"), ("99999999999999999999", "out of range: 1 s to 365 d"),
            ("9999999999999999d", "out of range"), ("9223372036854775807s", "out of range"), ("366d", "out of range"),
            ("31536001", "out of range"), ("365d1s", "out of range"), ("-1h", "out of range"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Quantity.durationSeconds(text, field: timeoutField), text) {
                let e = $0 as? QuantityError
                XCTAssertEqual(e?.field, "timeout")
                XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(text): \($0)")
            }
        }
    }

    func testBoundsAreWhatTheErrorsSay() throws {
        XCTAssertEqual(try Quantity.cpuMillis("1000000", field: cpuField), Bounds.maxCPUMillis)
        XCTAssertEqual(try Quantity.memoryBytes("1Pi", field: memoryField), Bounds.maxMemoryBytes)
        XCTAssertEqual(try Quantity.durationSeconds("365d", field: timeoutField), Bounds.maxTimeoutSeconds)
        XCTAssertEqual(
            "\(error { try Quantity.memoryBytes("9223372036854775807", field: memoryField) })",
            "resources.memory: \"9223372036854775807\" is out of range: memory is at most 1 PiB (1125899906842624 bytes)")
        XCTAssertEqual(
            "\(error { try Quantity.cpuMillis("-1", field: "--cpus") })",
            "--cpus: \"-1\" is out of range: CPU is 1m to 1000000 cores (1000000000m)")
        XCTAssertEqual(
            "\(error { try Quantity.durationSeconds("9223372036854775807s", field: timeoutField) })",
            "timeout: \"9223372036854775807s\" is out of range: 1 s to 365 d (31536000 s)")
        // A caller's own maximum (join token TTL, drain timeout) is what the error names.
        XCTAssertEqual(try Quantity.durationSeconds("1d", field: "--timeout", maxSeconds: 86_400), 86_400)
        XCTAssertEqual(
            "\(error { try Quantity.durationSeconds("25h", field: "--timeout", maxSeconds: 86_400) })",
            "--timeout: \"25h\" is out of range: 1 s to 1 d (86400 s)")
    }

    private func error(_ body: () throws -> Any) -> QuantityError {
        do {
            _ = try body()
        } catch let e as QuantityError {
            return e
        } catch {
            XCTFail("unexpected \(error)")
        }
        XCTFail("no error")
        return QuantityError(field: "", message: "")
    }
}
