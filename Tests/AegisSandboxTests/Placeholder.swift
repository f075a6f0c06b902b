import XCTest
final class AegisSandboxTestsPlaceholder: XCTestCase { func testBuilds() {} }
