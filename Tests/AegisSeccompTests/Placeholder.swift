import XCTest
final class AegisSeccompTestsPlaceholder: XCTestCase { func testBuilds() {} }
