import XCTest
final class AegisSchedulerTestsPlaceholder: XCTestCase { func testBuilds() {} }
