import XCTest
final class AegisManifestTestsPlaceholder: XCTestCase { func testBuilds() {} }
