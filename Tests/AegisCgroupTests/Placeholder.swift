import XCTest
final class AegisCgroupTestsPlaceholder: XCTestCase { func testBuilds() {} }
