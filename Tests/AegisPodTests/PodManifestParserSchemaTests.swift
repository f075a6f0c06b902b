// PodManifestParserSchemaTests.swift — pod/aegis-controller.yaml is what a Kubernetes user would
// apply: it passes Kubernetes' own OpenAPI schema in strict mode (no unknown fields), checked by the
// PyPI package kubernetes-validate (tested with 1.37.0), for Kubernetes 1.33 (native sidecars GA;
// restartPolicy on initContainers is in the schema since 1.28). A copy with a bogus field must fail
// the same check (so a broken validator cannot pass silently), and our parser refuses it too.
import AegisManifest
import AegisPod
import Foundation
import XCTest

final class PodManifestParserSchemaTests: XCTestCase {
    /// The Kubernetes version whose schema the manifest is checked against.
    static let kubernetesVersion = "1.33.0"

    /// `kubernetes-validate` on PATH, or nil.
    static func validatorPath() -> String? {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["HOME"] ?? "/root"
        // PATH first; then where pip puts scripts when PATH lacks them (user installs, pyenv).
        let dirs =
            (environment["PATH"] ?? "").split(separator: ":").map(String.init) + [
                "/usr/local/bin", home + "/.local/bin", home + "/.pyenv/shims",
            ]
        return dirs.map { $0 + "/kubernetes-validate" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `kubernetes-validate --strict -k VERSION --quiet FILE`; exit status and combined output.
    func validate(_ file: URL) throws -> (status: Int32, output: String)? {
        guard let tool = Self.validatorPath() else {
            XCTFail("kubernetes-validate is not installed (pip install kubernetes-validate; .ci/run installs it)")
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--strict", "-k", Self.kubernetesVersion, "--quiet", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testControllerPodPassesKubernetesStrictSchema() throws {
        guard let result = try validate(PodFixtures.controllerPodURL) else { return }
        XCTAssertEqual(result.status, 0, result.output)
    }

    func testBogusFieldFailsKubernetesStrictSchemaAndOurParser() throws {
        let text = try String(contentsOf: PodFixtures.controllerPodURL, encoding: .utf8)
        let bogus = text.replacingOccurrences(of: "\n  hostNetwork: true\n", with: "\n  hostNetwork: true\n  bogusField: 1\n")
        XCTAssertNotEqual(bogus, text, "the manifest no longer has the line `  hostNetwork: true` this test edits")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "aegis-pod-schema-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bogus.yaml")
        try bogus.write(to: file, atomically: true, encoding: .utf8)
        if let result = try validate(file) {
            XCTAssertNotEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("bogusField"), result.output)
        }
        let line = (text.components(separatedBy: "\n").firstIndex(of: "  hostNetwork: true") ?? -2) + 2
        expectPodError(bogus, path: "spec.bogusField", line: line, column: 3, "unknown field", file: "bogus.yaml")
    }
}
