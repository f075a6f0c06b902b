// ImageFixtures.swift — builds test images with Fixtures/make-image.py (real OCI layouts, hostile
// ones included) and runs the tools the tests compare against (umoci, tar).
import AegisImage
import Foundation
import XCTest

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// A tar entry of a test layer (see make-image.py for the fields).
typealias LayerEntrySpec = [String: Any]

enum ImageFixtures {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/make-image.py").path

    /// Runs a program (looked up in PATH) in `cwd`, returning its stdout; throws with its stderr
    /// when it exits non-zero. stderr goes to a file, so a chatty program never blocks on a full pipe
    /// while stdout is read.
    @discardableResult
    static func runBytes(_ argv: [String], cwd: String? = nil) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe()
        let stderrPath = NSTemporaryDirectory() + "aegis-fixture-stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: stderrPath) }
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try? err.close()
        guard p.terminationStatus == 0 else {
            let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw FixtureError(description: "\(argv.joined(separator: " ")) exited \(p.terminationStatus): \(stderr)")
        }
        return Array(stdout)
    }

    /// `runBytes` with stdout as text.
    @discardableResult
    static func run(_ argv: [String], cwd: String? = nil) throws -> String {
        String(decoding: try runBytes(argv, cwd: cwd), as: UTF8.self)
    }

    /// Writes an OCI layout at `dir` holding `layers` tagged `tag`; returns the manifest digest.
    @discardableResult
    static func makeImage(
        at dir: String, tag: String = "latest", layers: [[LayerEntrySpec]], layerTars: [String] = [],
        extra: [String] = []
    ) throws -> String {
        var args = ["python3", script, dir, "--tag", tag]
        for (i, layer) in layers.enumerated() {
            let spec = "\(dir).layer\(i)-\(tag).json"
            try JSONSerialization.data(withJSONObject: layer).write(to: URL(fileURLWithPath: spec))
            args += ["--layer", spec]
        }
        for t in layerTars { args += ["--layer-tar", t] }
        return try run(args + extra).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh directory under /tmp, removed by the test case's teardown.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let dir = NSTemporaryDirectory() + "aegis-image-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Every entry under `root` as "path type mode uid:gid content-or-target", sorted (the
    /// file-by-file comparison with a peer's unpacked tree); hard-linked files also list their link group.
    static func describeTree(_ root: String) throws -> [String] {
        let script = """
            import os, sys, hashlib, stat
            root = sys.argv[1]
            inodes = {}
            out = []
            for d, dirs, files in os.walk(root):
                for n in sorted(dirs + files):
                    p = os.path.join(d, n); rel = os.path.relpath(p, root); st = os.lstat(p)
                    mode = oct(st.st_mode & 0o7777); own = f"{st.st_uid}:{st.st_gid}"
                    if os.path.islink(p): out.append(f"{rel} link {own} -> {os.readlink(p)}")
                    elif os.path.isdir(p): out.append(f"{rel} dir {mode} {own}")
                    elif not stat.S_ISREG(st.st_mode): out.append(f"{rel} special {oct(st.st_mode)} {own}")
                    else:
                        h = hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]
                        inodes.setdefault(st.st_ino, []).append(rel)
                        out.append(f"{rel} file {mode} {own} {h} links={st.st_nlink}")
            print("\\n".join(sorted(out)))
            """
        return try run(["python3", "-c", script, root]).split(separator: "\n").map(String.init)
    }
}

/// The ImageError `body` throws; a test failure (and nil) when it throws nothing or something else.
func imageError<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> T) async -> ImageError? {
    do {
        _ = try await body()
        XCTFail("expected an ImageError", file: file, line: line)
    } catch let error as ImageError {
        return error
    } catch {
        XCTFail("expected an ImageError, got \(error)", file: file, line: line)
    }
    return nil
}

/// Asserts `body` throws an ImageError of `kind` whose text contains `text`.
func expectImageError<T>(
    _ kind: ImageError.Kind, containing text: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> T
) async {
    guard let e = await imageError(file: file, line: line, body) else { return }
    XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
    XCTAssertTrue(e.description.contains(text), "\"\(e)\" does not contain \"\(text)\"", file: file, line: line)
}

/// A test case with a fresh directory and an image store in it (`limits` as the test sets them).
class ImageStoreTestCase: XCTestCase {
    var dir = ""
    var store: ImageStore!
    /// Limits of the store `setUp` opens (a subclass overrides them).
    var limits: UnpackLimits { UnpackLimits() }

    override func setUpWithError() throws {
        dir = try ImageFixtures.temporaryDirectory(self)
        store = try ImageStore(root: "\(dir)/store", limits: limits)
    }
}
