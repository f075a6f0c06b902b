import AegisClient
import AegisProtocol
import XCTest

/// `--max-cpu` as `aegis tenant create` parses it.
private func parseCPUMillis(_ text: String, flag: String = "--max-cpu") throws -> Int64 {
    XCTAssertEqual(flag, "--max-cpu")
    return try tenantQuota(maxCPU: text, maxMemory: nil, maxGPUs: nil, maxAgents: nil).cpuMillis ?? -1
}

/// `--max-memory` as `aegis tenant create` parses it.
private func parseMemoryBytes(_ text: String, flag: String = "--max-memory") throws -> Int64 {
    XCTAssertEqual(flag, "--max-memory")
    return try tenantQuota(maxCPU: nil, maxMemory: text, maxGPUs: nil, maxAgents: nil).memoryBytes ?? -1
}

final class QuantityTests: XCTestCase {
    /// The quota flags take the manifest grammar (AegisProtocol `Quantity`): "16." is refused as
    /// in a manifest, and a fraction of a byte rounds up ("1.5" → 2) as in a manifest.
    func testCPU() throws {
        let cases: [(String, Int64)] = [
            ("2", 2000), ("0.5", 500), (".25", 250), ("1.25", 1250), ("500m", 500), ("1m", 1),
            (" 3 ", 3000), ("0.001", 1),
        ]
        for (text, want) in cases { XCTAssertEqual(try parseCPUMillis(text), want, text) }
        for bad in ["", "0", "0m", "-1", "1.0005", "abc", "m", "1.5m", "2 cpus", "1e3", ".", "1..2", "16."] {
            XCTAssertThrowsError(try parseCPUMillis(bad, flag: "--max-cpu"), bad) { e in
                XCTAssertTrue(String(describing: e).hasPrefix("--max-cpu: \"\(bad)\" "), String(describing: e))
            }
        }
    }

    func testMemory() throws {
        let cases: [(String, Int64)] = [
            ("1024", 1024), ("256M", 256_000_000), ("256Mi", 256 << 20), ("1Gi", 1 << 30), ("1.5Gi", 3 << 29),
            ("8G", 8_000_000_000), ("2k", 2000), ("2K", 2000), ("4Ki", 4096), ("1Ti", 1 << 40), ("512MiB", 512 << 20),
            ("512MB", 512_000_000), ("100B", 100), ("0.5Ki", 512),
        ]
        for (text, want) in cases { XCTAssertEqual(try parseMemoryBytes(text), want, text) }
        for bad in ["", "0", "0Mi", "-1Gi", "1X", "Gi", "1 Gi", "99999999999Pi", "1.2.3M"] {
            XCTAssertThrowsError(try parseMemoryBytes(bad), bad) { e in
                XCTAssertTrue(String(describing: e).hasPrefix("--max-memory: \"\(bad)\" "), String(describing: e))
            }
        }
        XCTAssertEqual(try parseMemoryBytes("1.5"), 2)
        XCTAssertEqual(try parseMemoryBytes("0.3Ki"), 308)
        XCTAssertEqual(try parseMemoryBytes("1.5G"), 1_500_000_000)
    }

    func testFormatting() {
        XCTAssertEqual(formatCPU(2000), "2")
        XCTAssertEqual(formatCPU(1500), "1.5")
        XCTAssertEqual(formatCPU(1250), "1.25")
        XCTAssertEqual(formatCPU(250), "250m")
        XCTAssertEqual(formatCPU(0), "0")
        XCTAssertEqual(formatBytes(512), "512B")
        XCTAssertEqual(formatBytes(256 << 20), "256Mi")
        XCTAssertEqual(formatBytes(3 << 29), "1.5Gi")
        XCTAssertEqual(formatBytes((1 << 30) - 1), "1023.9Mi")  // truncated, never rounded up
        XCTAssertEqual(formatAge(milliseconds: 59_999), "59s")
        XCTAssertEqual(formatAge(milliseconds: 3 * 3_600_000 + 5), "3h")
        XCTAssertEqual(formatAge(milliseconds: -5), "0s")
        XCTAssertEqual(formatDuration(milliseconds: 850), "850ms")
        XCTAssertEqual(formatDuration(milliseconds: 12_345), "12.3s")
        XCTAssertEqual(formatDuration(milliseconds: 245_000), "4m05s")
        XCTAssertEqual(formatDuration(milliseconds: (2 * 3600 + 3 * 60) * 1000), "2h03m")
    }

    func testQuotaFlagBounds() throws {
        XCTAssertEqual(try parseCPUMillis("1000000"), Bounds.maxCPUMillis)
        XCTAssertEqual(try parseMemoryBytes("1Pi"), Bounds.maxMemoryBytes)
        let bad: [(String, String)] = [
            ("-1", "--max-cpu: \"-1\" is out of range: CPU is 1m to 1000000 cores (1000000000m)"),
            ("1000001", "--max-cpu: \"1000001\" is out of range: CPU is 1m to 1000000 cores (1000000000m)"),
            ("99999999999999999999m", "--max-cpu: \"99999999999999999999m\" is out of range: CPU is 1m to 1000000 cores (1000000000m)"),
            ("9223372036854775807", "--max-cpu: \"9223372036854775807\" is out of range: CPU is 1m to 1000000 cores (1000000000m)"),
        ]
        for (text, message) in bad {
            XCTAssertThrowsError(try parseCPUMillis(text, flag: "--max-cpu")) { XCTAssertEqual("\($0)", message) }
        }
        for text in ["-1Gi", "1025Ti", "9223372036854775807", "99999999999Pi", "1.5Pi"] {
            XCTAssertThrowsError(try parseMemoryBytes(text, flag: "--max-memory")) {
                XCTAssertTrue("\($0)".hasPrefix("--max-memory: \"\(text)\" is out of range: memory is "), "\($0)")
                XCTAssertTrue("\($0)".hasSuffix("at most 1 PiB (1125899906842624 bytes)"), "\($0)")
            }
        }
    }

    func testFormattingAtTheEndsOfInt64() {
        XCTAssertEqual(formatBytes(1 << 60), "1Ei")
        XCTAssertEqual(formatBytes(.max), "7.9Ei")
        XCTAssertEqual(formatBytes(.min), "-8Ei")
        XCTAssertEqual(formatBytes((1 << 60) + (1 << 59)), "1.5Ei")
        XCTAssertEqual(formatCPU(.max), "9223372036854775.807")
        XCTAssertEqual(formatCPU(.min), "-9223372036854775.808")
        XCTAssertEqual(formatCPU(-1500), "-1.5")
        XCTAssertEqual(formatDuration(milliseconds: .max), "106751991167d07h")
        XCTAssertEqual(formatAge(milliseconds: .min), "0s")
    }

    /// What is printed parses back to what was printed (for exact values).
    func testFormatParseRoundTrip() throws {
        for millis: Int64 in [1, 250, 999, 1000, 1500, 1250, 64000] {
            XCTAssertEqual(try parseCPUMillis(formatCPU(millis)), millis)
        }
        for bytes: Int64 in [1 << 10, 256 << 20, 3 << 29, 1 << 40] {
            XCTAssertEqual(try parseMemoryBytes(formatBytes(bytes)), bytes)
        }
    }
}
