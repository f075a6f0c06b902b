import XCTest
final class AegisOCITestsPlaceholder: XCTestCase { func testBuilds() {} }
