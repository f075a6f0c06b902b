// Copying an agent's outputs out of its volume: only regular files and directories, never through
// a link (the output directory itself a link included), at most the volume's size in bytes.
import AegisSandbox
import Foundation
import XCTest
@testable import AegisNode

final class TreeCopyTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-treecopy-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SandboxError.system("mkdtemp") }
        root = String(cString: p)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func copy(budget: Int64 = 1 << 30, entries: Int64 = 1 << 20) throws -> (complete: Bool, files: [String]) {
        let fd = open(root + "/volume", O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let complete = try TreeCopy.replace(
            root + "/dest", withOutputsOf: fd, outputDir: "output", budget: .init(bytes: budget, entries: entries))
        let files = (FileManager.default.enumerator(atPath: root + "/dest")?.allObjects as? [String] ?? []).sorted()
        return (complete, files)
    }

    func testCopiesFilesAndDirectoriesButNoLinksOrSpecialFiles() throws {
        try write("a\n", root + "/volume/output/a.txt")
        try write("b\n", root + "/volume/output/sub/b.txt")
        try write("secret\n", root + "/host-secret")
        try write("not an output\n", root + "/volume/scratch")
        symlink(root + "/host-secret", root + "/volume/output/link")
        symlink(root, root + "/volume/output/dirlink")
        mkfifo(root + "/volume/output/fifo", 0o600)
        try write("old\n", root + "/dest/stale")
        let r = try copy()
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.files, ["output", "output/a.txt", "output/sub", "output/sub/b.txt"])
        XCTAssertEqual(try String(contentsOfFile: root + "/dest/output/sub/b.txt", encoding: .utf8), "b\n")
    }

    func testAnOutputDirectoryThatIsALinkCopiesNothing() throws {
        try write("secret\n", root + "/elsewhere/shadow")
        try FileManager.default.createDirectory(atPath: root + "/volume", withIntermediateDirectories: true)
        symlink(root + "/elsewhere", root + "/volume/output")
        let r = try copy()
        XCTAssertEqual(r.files, [])
    }

    /// Hard links cost the agent one inode; the copy creates at most as many entries as allowed.
    func testHardLinksAreNotMultipliedPastTheEntryBudget() throws {
        try write("x", root + "/volume/output/f")
        for i in 0..<50 { XCTAssertEqual(link(root + "/volume/output/f", root + "/volume/output/l\(i)"), 0) }
        let r = try copy(entries: 10)
        XCTAssertFalse(r.complete)
        XCTAssertEqual(r.files.count, 1 + 10, "the output dir and ten files: \(r.files)")
    }

    func testTheCopyStopsAtTheBudget() throws {
        try FileManager.default.createDirectory(atPath: root + "/volume/output", withIntermediateDirectories: true)
        let fd = open(root + "/volume/output/sparse", O_WRONLY | O_CREAT, 0o600)
        XCTAssertEqual(ftruncate(fd, 1 << 40), 0)  // 1 TiB apparent, no blocks
        close(fd)
        let r = try copy(budget: 3 << 20)
        XCTAssertFalse(r.complete)
        let size = try FileManager.default.attributesOfItem(atPath: root + "/dest/output/sparse")[.size] as? Int
        XCTAssertEqual(size, 3 << 20)
    }
}
