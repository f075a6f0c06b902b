// PodManifestParserSupport.swift — helpers shared by the Pod manifest parser tests: the error
// expectation, a small base pod whose line numbers the error tests count on, and the repository root.
import AegisManifest
import AegisPod
import Foundation
import XCTest

enum PodFixtures {
    /// Lines 1-8; a test appends container fields at 6 spaces (from line 9 on), or pod fields at 2
    /// spaces after them.
    static let base = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
        spec:
          containers:
            - name: app
              image: busybox:1.36

        """

    /// The repository root, from this file's path (Tests/AegisPodTests/…).
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var controllerPodURL: URL { repoRoot.appendingPathComponent("pod/aegis-controller.yaml") }
}

extension XCTestCase {
    /// Parses `text` expecting one `ManifestError` at `path` and `line` (and `column` when given)
    /// whose message contains `fragment`; returns it.
    @discardableResult
    func expectPodError(
        _ text: String, path: String, line: Int?, column: Int? = nil, _ fragment: String, file: String = "pod.yaml",
        sourceLine: UInt = #line
    ) -> ManifestError? {
        do {
            let pod = try PodManifestParser.parse(text, file: file)
            XCTFail("parsed, expected an error at \(path): \(pod)", line: sourceLine)
            return nil
        } catch let e as ManifestError {
            XCTAssertEqual(e.path, path, "\(e)", line: sourceLine)
            XCTAssertEqual(e.line, line, "\(e)", line: sourceLine)
            if let column { XCTAssertEqual(e.column, column, "\(e)", line: sourceLine) }
            XCTAssertEqual(e.file, file, line: sourceLine)
            XCTAssertTrue(
                e.message.contains(fragment), "message \(e.message.debugDescription) lacks \(fragment.debugDescription)", line: sourceLine)
            return e
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", line: sourceLine)
            return nil
        }
    }

    /// Parses `text`, failing the test (and returning nil) on an error.
    func parsePod(_ text: String, sourceLine: UInt = #line) -> PodManifest? {
        do {
            return try PodManifestParser.parse(text, file: "pod.yaml")
        } catch {
            XCTFail("\(error)", line: sourceLine)
            return nil
        }
    }
}
