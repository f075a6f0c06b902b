import Glibc
import XCTest
@testable import AegisCgroup

final class LimitsTests: XCTestCase {
    func testSwapConversionFollowsRunc() {
        let gib: Int64 = 1 << 30
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: 3 * gib, ociLimit: gib), 2 * gib)
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: gib, ociLimit: gib), 0, "memory+swap == memory means no swap")
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: -1, ociLimit: gib), -1, "-1 stays max")
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: 0, ociLimit: -1), -1, "unlimited memory, unset swap → max")
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: 0, ociLimit: gib), 0, "unset stays unset")
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: 5 * gib, ociLimit: -1), 5 * gib, "no memory limit: swap as is")
        XCTAssertEqual(CgroupLimits.swapOnly(ociSwap: gib / 2, ociLimit: gib), 0, "below the limit clamps to no swap")
    }

    func testSharesToWeightAnchorsOfTheCurrentFormula() {
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 2), 1)
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 1024), 100, "OCI default shares → v2 default weight")
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 262_144), 10_000)
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 0), 0, "0 = unset")
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 1), 1)
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 1_000_000), 10_000)
        // Values between the anchors: 512 shares = half the default CPU → 59 (not 20 as linearly).
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 512), 59)
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 2048), 174)
        XCTAssertEqual(CgroupLimits.cpuWeight(fromShares: 262_143), 10_000)
        var previous: UInt64 = 0
        for shares in stride(from: UInt64(2), through: 262_144, by: 97) {
            let w = CgroupLimits.cpuWeight(fromShares: shares)
            XCTAssertGreaterThanOrEqual(w, previous, "not monotonic at \(shares)")
            XCTAssertTrue((1...10_000).contains(w))
            previous = w
        }
    }

    func testLegacyLinearFormula() {
        XCTAssertEqual(CgroupLimits.legacyLinearCPUWeight(fromShares: 2), 1)
        XCTAssertEqual(CgroupLimits.legacyLinearCPUWeight(fromShares: 1024), 39)
        XCTAssertEqual(CgroupLimits.legacyLinearCPUWeight(fromShares: 262_144), 10_000)
    }

    func testSettingsAndRequiredControllers() {
        let limits = CgroupLimits(
            memoryMax: 512 << 20, memorySwapMax: -1,
            cpuMax: .init(quota: 50_000, period: 100_000), cpuWeight: 100, pidsMax: -1)
        XCTAssertEqual(limits.requiredControllers, ["memory", "cpu", "pids"])
        XCTAssertEqual(limits.settings.map(\.file), ["memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max"])
        XCTAssertEqual(limits.settings.map(\.value), ["536870912", "max", "50000 100000", "100", "max"])
        XCTAssertEqual(CgroupLimits(cpuMax: .init(quota: nil)).settings.map(\.value), ["max 100000"])
        XCTAssertEqual(CgroupLimits(pidsMax: 10).requiredControllers, ["pids"])
        XCTAssertEqual(CgroupLimits.none.requiredControllers, [])
    }

    func testCPUMaxParsing() {
        XCTAssertEqual(CgroupLimits.CPUMax(fileValue: "max 100000\n"), .init(quota: nil, period: 100_000))
        XCTAssertEqual(CgroupLimits.CPUMax(fileValue: "25000 50000"), .init(quota: 25_000, period: 50_000))
        XCTAssertNil(CgroupLimits.CPUMax(fileValue: "garbage"))
    }

    func testValidationRejectsKernelInvalidValues() {
        for bad in [
            CgroupLimits(memoryMax: -2), CgroupLimits(cpuWeight: 0), CgroupLimits(cpuWeight: 10_001),
            CgroupLimits(cpuMax: .init(quota: 0)), CgroupLimits(cpuMax: .init(quota: 1000, period: 999)),
            CgroupLimits(pidsMax: -5),
        ] {
            let error = assertCgroupError { try bad.validate() }
            XCTAssertEqual(error?.code, .invalidArgument, "\(bad)")
        }
        XCTAssertNoThrow(try CgroupLimits(memoryMax: -1, cpuMax: .init(quota: nil, period: 1_000_000), pidsMax: 0).validate())
    }
}
