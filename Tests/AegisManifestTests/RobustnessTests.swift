import AegisManifest
import XCTest

/// Hostile manifests: the controller parses tenant text, so none of these may hang or crash it.
final class RobustnessTests: XCTestCase {
    /// Ten aliases per level, nine levels: 10^9 nodes if anything walked the expansion.
    func laughs(levels: Int = 9) -> String {
        var s = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...levels {
            s += "x\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        return s
    }

    func elapsed(_ body: () throws -> Void) rethrows -> Duration {
        let start = ContinuousClock.now
        try body()
        return ContinuousClock.now - start
    }

    func testAliasBombAsKeyIsRefusedQuickly() throws {
        let text = laughs() + "? *a9\n: v\n"
        let t = try elapsed {
            XCTAssertThrowsError(try ManifestParser.parse(text, defaultTenant: "t")) {
                let e = $0 as? ManifestError
                XCTAssertEqual(e?.line, 11)
                XCTAssertTrue(e?.message.contains("mapping keys must be plain names, found an alias") ?? false, "\($0)")
            }
        }
        XCTAssertLessThan(t, Duration.seconds(2))
        // Inside a flow mapping as well.
        XCTAssertThrowsError(try ManifestParser.parse(laughs() + "y: {*a9 : v}\n", defaultTenant: "t")) {
            XCTAssertTrue("\($0)".contains("found an alias used as a key"), "\($0)")
        }
    }

    func testAliasBombInValuesIsRefusedQuickly() throws {
        // Unknown field first; and in a known field, the first non-string element ends the walk.
        let t = try elapsed {
            XCTAssertThrowsError(try ManifestParser.parse(laughs() + "name: a\n", defaultTenant: "t")) {
                XCTAssertEqual(($0 as? ManifestError)?.path, "x0")
            }
            XCTAssertThrowsError(
                try ManifestParser.parse(
                    "name: a\ncommand: [echo]\nargs: &z [" + Array(repeating: "q", count: 10).joined(separator: ",") + "]\nenv: {A: *z}\n",
                    defaultTenant: "t")
            ) {
                XCTAssertEqual(($0 as? ManifestError)?.path, "env.A")
            }
        }
        XCTAssertLessThan(t, Duration.seconds(2))
        // Many aliases of one large string: the argv + env cap stops it.
        let big = String(repeating: "b", count: 100_000)
        let text = "name: a\ncommand: [echo, &s \(big)]\nargs: [" + Array(repeating: "*s", count: 20).joined(separator: ", ") + "]\n"
        XCTAssertThrowsError(try ManifestParser.parse(text, defaultTenant: "t")) {
            XCTAssertEqual(($0 as? ManifestError)?.path, "args")
            XCTAssertTrue("\($0)".contains("over the limit of 1048576 bytes"), "\($0)")
        }
    }

    func testDeepNestingIsAnErrorNotACrash() async {
        // libyaml stops at 1000 levels; run off the main thread, where stacks are smaller.
        for depth in [900, 5000] {
            let text =
                "name: a\ncommand: [echo]\nargs: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
            let result = await Task.detached { () -> String in
                do {
                    _ = try ManifestParser.parse(text, defaultTenant: "t")
                    return "parsed"
                } catch {
                    return "\(error)"
                }
            }.value
            if depth == 900 {
                XCTAssertTrue(result.contains("args[0]: expected a string, found a list"), result)
            } else {
                XCTAssertTrue(result.contains("Maximum nesting level"), result)
                XCTAssertTrue(result.hasPrefix("manifest:3:"), result)
            }
        }
    }

    func testManifestSizeCap() {
        let text = "name: a\ncommand: [echo]\n#" + String(repeating: "c", count: 2000) + "\n"
        XCTAssertNoThrow(try ManifestParser.parse(text, defaultTenant: "t"))
        XCTAssertThrowsError(try ManifestParser.parse(text, file: "m.yaml", defaultTenant: "t", maxManifestBytes: 1024)) {
            XCTAssertEqual(
                "\($0)",
                "m.yaml: manifest is \(text.utf8.count) bytes, over the limit of 1024 bytes; put large scripts or data in files.inputs")
        }
    }

    func testMultipleDocumentsAreRefused() {
        XCTAssertThrowsError(try ManifestParser.parse("name: a\ncommand: [echo]\n---\nname: b\n", defaultTenant: "t")) {
            let e = $0 as? ManifestError
            XCTAssertEqual(e?.path, "")
            XCTAssertEqual(e?.line, 3)
        }
    }
}
