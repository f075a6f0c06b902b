import AegisOCI
import AegisSeccomp
import Foundation
import XCTest

final class SeccompProgramCacheTests: XCTestCase {
    func testSecondLookupReturnsTheSameProgramFast() throws {
        let cache = SeccompProgramCache()
        var t0 = DispatchTime.now().uptimeNanoseconds
        let first = try cache.program(for: DefaultSeccompProfile.profile)
        let compileNs = DispatchTime.now().uptimeNanoseconds - t0
        t0 = DispatchTime.now().uptimeNanoseconds
        let second = try cache.program(for: DefaultSeccompProfile.profile)
        let hitNs = DispatchTime.now().uptimeNanoseconds - t0
        print("cache: compile \(compileNs / 1000) µs, hit \(hitNs / 1000) µs")
        XCTAssertEqual(first, second)
        XCTAssertEqual(cache.count, 1)
        XCTAssertLessThan(hitNs, compileNs, "a hit must not recompile")
        first.withUnsafeFilter { a, _ in second.withUnsafeFilter { b, _ in XCTAssertEqual(a, b, "same storage") } }
    }

    func testKeyCoversEveryFieldAndTheOption() throws {
        let cache = SeccompProgramCache()
        var profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO",
            syscalls: [LinuxSyscall(names: ["read"], action: "SCMP_ACT_ALLOW")])
        let a = try cache.program(for: profile)
        let noPrefix = try cache.program(for: profile, enosysForNewSyscalls: false)
        XCTAssertNotEqual(a, noPrefix)
        profile.syscalls?[0].args = [LinuxSeccompArg(index: 0, value: 0, op: "SCMP_CMP_EQ")]
        let b = try cache.program(for: profile)
        XCTAssertNotEqual(a, b)
        profile.syscalls?[0].args?[0].value = 1
        let c = try cache.program(for: profile)
        XCTAssertNotEqual(b, c)
        XCTAssertEqual(cache.count, 4)
        cache.removeAll()
        XCTAssertEqual(cache.count, 0)
    }

    func testWarningsAreReportedOnceAndKept() throws {
        let cache = SeccompProgramCache()
        let profile = LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO",
            syscalls: [LinuxSyscall(names: ["read", "aegis_nonexistent"], action: "SCMP_ACT_ALLOW")])
        var seen = 0
        _ = try cache.program(for: profile) { _ in seen += 1 }
        let again = try cache.program(for: profile) { _ in seen += 1 }
        XCTAssertEqual(seen, 1)
        XCTAssertEqual(again.warnings.count, 1)
    }

    func testErrorsAreNotCached() {
        let cache = SeccompProgramCache()
        let bad = LinuxSeccomp(defaultAction: "SCMP_ACT_BOGUS")
        XCTAssertThrowsError(try cache.program(for: bad))
        XCTAssertThrowsError(try cache.program(for: bad))
        XCTAssertEqual(cache.count, 0)
    }

    func testCapacityBoundsTheCache() throws {
        let cache = SeccompProgramCache(capacity: 2)
        for errnoRet: UInt32 in [1, 2, 3, 4] {
            _ = try cache.program(
                for: LinuxSeccomp(
                    defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: errnoRet,
                    syscalls: [LinuxSyscall(names: ["read"], action: "SCMP_ACT_ALLOW")]))
        }
        XCTAssertEqual(cache.count, 2)
    }

    func testConcurrentLookupsAgree() throws {
        let cache = SeccompProgramCache()
        let results = Mutexed<[SeccompProgram]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let p = try? cache.program(for: DefaultSeccompProfile.profile) { results.append(p) }
        }
        let all = results.value
        XCTAssertEqual(all.count, 16)
        XCTAssertTrue(all.allSatisfy { $0 == all[0] })
        XCTAssertEqual(cache.count, 1)
    }
}

/// A lock-protected box for collecting results from concurrent closures.
final class Mutexed<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    func append<E>(_ e: E) where T == [E] { lock.lock(); stored.append(e); lock.unlock() }
}
