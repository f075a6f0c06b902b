import XCTest
final class AegisStoreTestsPlaceholder: XCTestCase { func testBuilds() {} }
