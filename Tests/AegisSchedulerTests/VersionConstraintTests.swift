@testable import AegisScheduler
import XCTest

final class VersionConstraintTests: XCTestCase {
    /// (constraint, version, satisfied)
    let table: [(String, String, Bool)] = [
        (">=3.10", "3.11.2", true), (">=3.10", "3.10", true), (">=3.10", "3.9.18", false), (">=3.10", "3.10.0", true),
        (">3", "3.11", true), (">3", "3", false), (">3", "3.0.0", false), (">3", "2.7", false),
        ("<=3.11", "3.11.0", true), ("<=3.11", "3.11.2", false), ("<3.12", "3.11.9", true), ("<3.12", "3.12", false),
        ("==3.11.2", "3.11.2", true), ("==3.11.2", "3.11.3", false), ("==3.11", "3.11.0", true), ("==3.11", "3.11.2", false),
        ("==3.11.*", "3.11.7", true), ("==3.11.*", "3.12.0", false),
        ("=3.11", "3.11.2", true), ("=3.11", "3.12.0", false), ("=3.11", "3.1", false),
        ("3.11", "3.11.2", true), ("3.11", "3.11", true), ("3.11", "3.110.0", false), ("3", "3.9.1", true),
        ("3.11.2", "3.11.2", true), ("3.11.2", "3.11.20", false),
        ("3.11.*", "3.11.0", true), ("3.11.*", "3.10.9", false), ("3.x", "3.12.1", true), ("3.x", "4.0", false),
        ("^20", "20.11.1", true), ("^20", "20", true), ("^20", "21.0.0", false), ("^20", "18.19.0", false),
        ("^20.10", "20.9.0", false), ("^20.10", "20.11.1", true),
        ("~3.11", "3.11.0", true), ("~3.11", "3.11.9", true), ("~3.11", "3.12.0", false), ("~3.11", "3.10.9", false),
        ("~3.11.2", "3.11.1", false), ("~3.11.2", "3.11.4", true), ("~3", "3.12", true), ("~3", "4.0", false),
        ("~=3.11", "3.12.1", true), ("~=3.11", "3.10", false), ("~=3.11", "4.0", false),
        ("~=3.11.2", "3.11.5", true), ("~=3.11.2", "3.12.0", false),
        ("!=3.11.2", "3.11.3", true), ("!=3.11.2", "3.11.2", false), ("!=3.11.*", "3.11.9", false),
        (">=3.10,<3.12", "3.11.4", true), (">=3.10, <3.12", "3.12.0", false), (">= 3.10 < 3.12", "3.10.1", true),
        (">=3.10 <3.12", "3.9", false),
        ("*", "0.1", true), ("", "1.0", true), ("x", "9", true),
        // Version text as runtimes print it.
        (">=20", "v20.11.1", true), (">=3.13", "3.13.0rc1", true), ("3.13", "3.13.0rc1", true),
        (">=1", "unknown", false),
    ]

    func testConstraintTable() throws {
        for (constraint, version, want) in table {
            let c = try VersionConstraint(constraint)
            XCTAssertEqual(c.isSatisfied(by: version), want, "\"\(constraint)\" vs \(version)")
        }
    }

    func testInvalidConstraintsNameTheClause() {
        let bad: [(String, String)] = [
            (">=", "operator >= has no version after it"),
            (">=three", "\"three\" is not a version"),
            ("3..1", "\"3..1\" is not a version"),
            ("~=3", "~= needs at least two components"),
            ("!=*", "excludes every version"),
        ]
        for (text, expected) in bad {
            XCTAssertThrowsError(try VersionConstraint(text), text) { error in
                let d = "\(error)"
                XCTAssertTrue(d.hasPrefix("invalid version constraint \"\(text)\""), d)
                XCTAssertTrue(d.contains(expected), "\(d) lacks \(expected)")
            }
        }
    }

    func testVersionParsingAndOrder() {
        XCTAssertEqual(RuntimeVersion("v20.11.1")?.components, [20, 11, 1])
        XCTAssertEqual(RuntimeVersion(" 3.13.0rc1 ")?.components, [3, 13, 0])
        XCTAssertEqual(RuntimeVersion("1.2-nightly.5")?.components, [1, 2])
        XCTAssertNil(RuntimeVersion("python"))
        XCTAssertNil(RuntimeVersion(""))
        XCTAssertEqual(RuntimeVersion("3.11"), RuntimeVersion("3.11.0"))
        XCTAssertLessThan(RuntimeVersion("3.9.18")!, RuntimeVersion("3.10")!)
    }
}
