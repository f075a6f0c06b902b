// QuantityGrammarTests.swift — one grammar for quantities everywhere a user writes one: a manifest's
// fields, `aegis run`'s flags (CLIRunOptions), `aegis tenant create`'s quota flags (tenantQuota) and
// `aegis up`'s durations (Quantity.durationMilliseconds, what Up.duration calls). The same text gives
// the same value through each, and an error names the field or flag it came from.
import AegisClient
import AegisManifest
import AegisProtocol
import XCTest

final class QuantityGrammarTests: XCTestCase {
    func manifest(memory: String = "1Gi", cpu: String = "1", timeout: String = "60s") throws -> WorkloadSpec {
        let text = "name: g\ncommand: [\"true\"]\nresources: {memory: \"\(memory)\", cpu: \"\(cpu)\"}\ntimeout: \"\(timeout)\"\n"
        return try ManifestParser.parse(text, file: "g.yaml", defaultTenant: "t")
    }

    func runFlags(memory: String? = nil, cpus: String? = nil, timeout: String? = nil) throws -> WorkloadSpec {
        try CLIRunOptions(cpus: cpus, memory: memory, timeout: timeout, command: ["true"]).spec(inputs: [:], defaultTenant: "t")
    }

    func testMemoryIsTheSameEverywhere() throws {
        let cases: [(String, Int64)] = [("1.5G", 1_500_000_000), ("512Mi", 512 << 20), ("1.5Gi", 3 << 29), ("64M", 64_000_000)]
        for (text, bytes) in cases {
            XCTAssertEqual(try manifest(memory: text).resources.memoryBytes, bytes, text)
            XCTAssertEqual(try runFlags(memory: text).resources.memoryBytes, bytes, text)
            XCTAssertEqual(try tenantQuota(maxCPU: nil, maxMemory: text, maxGPUs: nil, maxAgents: nil).memoryBytes, bytes, text)
        }
    }

    func testCPUIsTheSameEverywhere() throws {
        for (text, millis) in [("0.5", Int64(500)), ("250m", Int64(250)), ("2", Int64(2000)), ("1.25", Int64(1250))] {
            XCTAssertEqual(try manifest(cpu: text).resources.cpuMillis, millis, text)
            XCTAssertEqual(try runFlags(cpus: text).resources.cpuMillis, millis, text)
            XCTAssertEqual(try tenantQuota(maxCPU: text, maxMemory: nil, maxGPUs: nil, maxAgents: nil).cpuMillis, millis, text)
        }
    }

    func testDurationsAreTheSameEverywhere() throws {
        for (text, seconds) in [("90s", 90), ("1h30m", 5400), ("300", 300), ("1d", 86_400)] {
            XCTAssertEqual(try manifest(timeout: text).timeoutSeconds, seconds, text)
            XCTAssertEqual(try runFlags(timeout: text).timeoutSeconds, seconds, text)
            XCTAssertEqual(try Quantity.durationMilliseconds(text, field: "--down-after"), seconds * 1000, text)
        }
        // Lease timings also take milliseconds; timeouts refuse them.
        XCTAssertEqual(try Quantity.durationMilliseconds("500ms", field: "--lease-renew-every"), 500)
        XCTAssertEqual(try Quantity.durationMilliseconds("1m30s500ms", field: "--lease-renew-every"), 90_500)
        XCTAssertEqual(try Quantity.durationMilliseconds("0", field: "--lease-grace", allowZero: true), 0)
        XCTAssertThrowsError(try runFlags(timeout: "500ms")) { XCTAssertTrue("\($0)".contains("finer than one second"), "\($0)") }
    }

    /// A bad value names where it came from: the manifest field (with its line), or the flag.
    func testErrorsNameTheFieldOrTheFlag() throws {
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body() } catch { return "\(error)" }
            return "no error"
        }
        XCTAssertTrue(message { try self.manifest(memory: "12x") }.contains("resources.memory: \"12x\" is not a memory quantity"))
        XCTAssertTrue(message { try self.manifest(memory: "12x") }.hasPrefix("g.yaml:3:"))
        XCTAssertTrue(message { try self.runFlags(memory: "12x") }.hasPrefix("--memory: \"12x\" is not a memory quantity"))
        XCTAssertTrue(
            message { try tenantQuota(maxCPU: nil, maxMemory: "12x", maxGPUs: nil, maxAgents: nil) }
                .hasPrefix("--max-memory: \"12x\" is not a memory quantity"))
        XCTAssertTrue(
            message { try self.manifest(cpu: "-1") }
                .contains("resources.cpu: \"-1\" is out of range: CPU is 1m to 1000000 cores"))
        XCTAssertTrue(message { try self.runFlags(cpus: "-1") }.hasPrefix("--cpus: \"-1\" is out of range: CPU is 1m to 1000000 cores"))
        XCTAssertTrue(
            message { try tenantQuota(maxCPU: "-1", maxMemory: nil, maxGPUs: nil, maxAgents: nil) }
                .hasPrefix("--max-cpu: \"-1\" is out of range: CPU is 1m to 1000000 cores"))
        XCTAssertTrue(message { try self.manifest(timeout: "5 min") }.contains("timeout: \"5 min\" is not a duration"))
        XCTAssertTrue(message { try self.runFlags(timeout: "5 min") }.hasPrefix("--timeout: \"5 min\" is not a duration"))
        XCTAssertEqual(
            message { try Quantity.durationMilliseconds("25h", field: "--down-after") },
            "--down-after: \"25h\" is out of range: 1 ms to 1 d (86400 s)")
        XCTAssertEqual(
            message { try Quantity.durationMilliseconds("9223372036854775807s", field: "--lease-renew-every") },
            "--lease-renew-every: \"9223372036854775807s\" is out of range: 1 ms to 1 d (86400 s)")
    }
}
