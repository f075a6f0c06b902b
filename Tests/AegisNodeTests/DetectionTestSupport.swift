import XCTest
import Foundation
@testable import AegisNode
import AegisProtocol

/// Fixture trees (Tests/AegisNodeTests/Fixtures/<name>) as detection roots. SwiftPM's `.copy`
/// resource rule keeps file modes, so the fake `usr/bin` scripts stay executable; if a toolchain
/// ever dropped the exec bit, the tree is copied to a temporary directory and chmod'ed there
/// (removed again by `cleanUp()`).
final class FixtureRoots: @unchecked Sendable {
    private var temporary: [String] = []

    static var bundleFixtures: URL {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("Fixtures resource directory missing from the test bundle")
        }
        return url
    }

    /// True when the bundle copy of `<fixture>/usr/bin/*` is executable as committed.
    static func bundleKeepsExecBit(_ name: String) -> Bool {
        let bin = bundleFixtures.appendingPathComponent(name).appendingPathComponent("usr/bin")
        guard let scripts = try? FileManager.default.contentsOfDirectory(atPath: bin.path), !scripts.isEmpty else { return true }
        return scripts.allSatisfy { access(bin.appendingPathComponent($0).path, X_OK) == 0 }
    }

    func root(_ name: String) throws -> String {
        let source = Self.bundleFixtures.appendingPathComponent(name)
        XCTAssertTrue(FileManager.default.fileExists(atPath: source.path), "fixture \(name) missing")
        if Self.bundleKeepsExecBit(name) { return source.path }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-detect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        temporary.append(dir.path)
        let copy = dir.appendingPathComponent(name)
        try FileManager.default.copyItem(at: source, to: copy)
        let bin = copy.appendingPathComponent("usr/bin")
        for script in (try? FileManager.default.contentsOfDirectory(atPath: bin.path)) ?? [] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent(script).path)
        }
        return copy.path
    }

    func cleanUp() {
        for dir in temporary { try? FileManager.default.removeItem(atPath: dir) }
        temporary.removeAll()
    }
}

/// Detection options for a fixture: PATH is the fixture's /usr/bin only.
func fixtureOptions(
    _ root: String, nvidiaSMI: String? = "nvidia-smi", commandTimeout: Duration = .seconds(5),
    runtimeTimeout: Duration = .seconds(2), labels: [String: String] = [:]
) -> DetectionOptions {
    DetectionOptions(
        root: root, path: ["/usr/bin"], labels: labels, nvidiaSMI: nvidiaSMI,
        commandTimeout: commandTimeout, runtimeTimeout: runtimeTimeout)
}

/// Pids of live processes whose argv is exactly `argv` (e.g. ["sleep", "61"]).
func processes(withArgv argv: [String]) -> [Int32] {
    let wanted = argv.joined(separator: "\0") + "\0"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry),
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
            String(decoding: data, as: UTF8.self) == wanted
        else { return nil }
        // Zombies keep no cmdline, so a match is a live process.
        return pid
    }
}

/// Waits up to `seconds` for no process with `argv` to remain; returns the survivors.
func survivors(argv: [String], within seconds: Double) async -> [Int32] {
    let deadline = Date().addingTimeInterval(seconds)
    var left = processes(withArgv: argv)
    while !left.isEmpty && Date() < deadline {
        try? await Task.sleep(for: .milliseconds(50))
        left = processes(withArgv: argv)
    }
    return left
}

extension Array where Element == String {
    func containing(_ parts: String...) -> [String] {
        filter { w in parts.allSatisfy { w.contains($0) } }
    }
}
