import XCTest
final class AegisNodeTestsPlaceholder: XCTestCase { func testBuilds() {} }
