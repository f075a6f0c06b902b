// resources.disk (the size of /work) and resources.tmp (the size of /tmp): byte quantities within
// their ranges; errors name the field.
import AegisManifest
import AegisProtocol
import XCTest

final class DiskLimitManifestTests: XCTestCase {
    func testDiskAndTmpSizesAreParsed() throws {
        let spec = try ManifestParser.parse("name: a\ncommand: [echo]\nresources: {disk: 2Gi, tmp: 256Mi}\n", defaultTenant: "t")
        XCTAssertEqual(spec.resources.diskBytes, 2 << 30)
        XCTAssertEqual(spec.resources.tmpBytes, 256 << 20)
        let none = try ManifestParser.parse("name: a\ncommand: [echo]\n", defaultTenant: "t")
        XCTAssertNil(none.resources.diskBytes)
        XCTAssertNil(none.resources.tmpBytes)
    }

    func testOutOfRangeSizesNameTheField() {
        for (text, field) in [
            ("disk: 1Mi", "resources.disk"), ("disk: 17Ti", "resources.disk"), ("tmp: 1Ki", "resources.tmp"),
            ("disk: lots", "resources.disk"), ("tmp: -5Mi", "resources.tmp"),
        ] {
            XCTAssertThrowsError(try ManifestParser.parse("name: a\ncommand: [echo]\nresources: {\(text)}\n", defaultTenant: "t"), text) {
                XCTAssertEqual(($0 as? ManifestError)?.path, field, "\(text): \($0)")
            }
        }
    }

    func testStoredSpecsAreBoundsChecked() {
        XCTAssertThrowsError(try ResourceRequest(diskBytes: 1024).checkBounds())
        XCTAssertThrowsError(try ResourceRequest(tmpBytes: 0).checkBounds())
        XCTAssertNoThrow(try ResourceRequest(diskBytes: 1 << 30, tmpBytes: 1 << 30).checkBounds())
    }
}
