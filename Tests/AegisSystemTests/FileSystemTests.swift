// FileSystemTests.swift — atomic writes, mkdir -p with mode and owner, whole-file reads and tree
// removal, on real files under /tmp.
import AegisSystem
import Glibc
import XCTest

final class FileSystemTests: XCTestCase {
    var temp: TempDirectory!

    override func setUpWithError() throws { temp = try TempDirectory() }
    override func tearDown() { temp.remove() }

    func testAtomicWriteSetsTheModeWhateverTheUmask() throws {
        let old = umask(0o077)
        defer { umask(old) }
        try FileSystem.writeAtomically(temp.file("a.json"), Array("{}".utf8), mode: 0o644)
        XCTAssertEqual(fileMode(temp.file("a.json")), 0o644)
        XCTAssertEqual(try FileSystem.readText(temp.file("a.json")), "{}")
        try FileSystem.writeAtomically(temp.file("a.json"), text: "[1]", mode: 0o600)
        XCTAssertEqual(fileMode(temp.file("a.json")), 0o600, "a replacement gets the new mode")
        XCTAssertEqual(try FileSystem.readText(temp.file("a.json")), "[1]")
        XCTAssertEqual(temp.entries(), ["a.json"], "no temporary file left")
    }

    func testFailedAtomicWriteLeavesNoTemporaryFile() throws {
        // rename(2) of a file over a non-empty directory fails (EISDIR): the temp file must go.
        try FileSystem.makeDirectories(temp.file("target/sub"))
        XCTAssertThrowsError(try FileSystem.writeAtomically(temp.file("target"), Array("x".utf8))) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(EISDIR), "\(error)")
            XCTAssertEqual((error as? SystemError)?.path, self.temp.file("target"))
        }
        XCTAssertEqual(temp.entries(), ["target"])
        // Without replace, an existing file is kept and the temp file goes too.
        try temp.write("kept", "old")
        XCTAssertThrowsError(try FileSystem.writeAtomically(temp.file("kept"), Array("new".utf8), replace: false)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(EEXIST), "\(error)")
        }
        XCTAssertEqual(try FileSystem.readText(temp.file("kept")), "old")
        XCTAssertEqual(temp.entries(), ["kept", "target"])
        // A missing directory fails at the temp file's open.
        XCTAssertThrowsError(try FileSystem.writeAtomically(temp.file("missing/x"), [])) { error in
            XCTAssertEqual((error as? SystemError)?.step, "open")
            XCTAssertEqual((error as? SystemError)?.errno, Errno(ENOENT))
        }
    }

    func testAtomicWriteDoesNotFollowASymlinkedTemporaryName() throws {
        // The temp name is unpredictable and opened O_EXCL|O_NOFOLLOW; the target symlink itself
        // is replaced by rename, never written through.
        try temp.write("victim", "secret")
        XCTAssertEqual(symlink(temp.file("victim"), temp.file("link")), 0)
        try FileSystem.writeAtomically(temp.file("link"), Array("new".utf8))
        XCTAssertEqual(try FileSystem.readText(temp.file("victim")), "secret")
        XCTAssertEqual(try FileSystem.readText(temp.file("link")), "new")
        var st = stat()
        XCTAssertEqual(lstat(temp.file("link"), &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "the link was replaced by a regular file")
    }

    func testMakeDirectoriesWithModeAndOwner() throws {
        let old = umask(0o077)
        defer { umask(old) }
        try FileSystem.makeDirectories(temp.file("a/b/c"), mode: 0o711, owner: 4242)
        for dir in ["a", "a/b", "a/b/c"] {
            XCTAssertEqual(fileMode(temp.file(dir)), 0o711, dir)
            XCTAssertEqual(owner(temp.file(dir))?.uid, 4242, dir)
            XCTAssertEqual(owner(temp.file(dir))?.gid, 4242, dir)
        }
        // Existing directories are left as they are.
        XCTAssertEqual(chmod(temp.file("a"), 0o700), 0)
        try FileSystem.makeDirectories(temp.file("a/b/d"), mode: 0o755)
        XCTAssertEqual(fileMode(temp.file("a")), 0o700)
        XCTAssertEqual(fileMode(temp.file("a/b/d")), 0o755)
        XCTAssertEqual(owner(temp.file("a/b/d"))?.uid, getuid())
    }

    func testMakeDirectoriesThroughAFileFailsWithENOTDIR() throws {
        try temp.write("plain", "x")
        XCTAssertThrowsError(try FileSystem.makeDirectories(temp.file("plain/sub"))) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(ENOTDIR), "\(error)")
        }
        XCTAssertThrowsError(try FileSystem.makeDirectories(temp.file("plain"))) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(ENOTDIR), "\(error)")
            XCTAssertEqual((error as? SystemError)?.path, self.temp.file("plain"))
        }
    }

    func testReadWithLimit() throws {
        try temp.write("big", String(repeating: "x", count: 100))
        XCTAssertEqual(try FileSystem.readBytes(temp.file("big"), limit: 100).count, 100)
        XCTAssertThrowsError(try FileSystem.readBytes(temp.file("big"), limit: 99)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(EFBIG))
        }
    }

    func testRemoveTreeDoesNotFollowSymlinksOut() throws {
        let outside = try TempDirectory()
        defer { outside.remove() }
        try outside.write("keep", "precious")
        XCTAssertEqual(mkdir(outside.file("dir"), 0o755), 0)
        try outside.write("dir/inner", "precious too")

        try FileSystem.makeDirectories(temp.file("tree/a/b"))
        try temp.write("tree/a/b/file", "x")
        XCTAssertEqual(symlink(outside.path, temp.file("tree/a/to-dir")), 0)
        XCTAssertEqual(symlink(outside.file("keep"), temp.file("tree/a/b/to-file")), 0)
        XCTAssertEqual(symlink(outside.path, temp.file("tree/top-link")), 0)

        XCTAssertTrue(FileSystem.removeTree(temp.file("tree")))
        XCTAssertEqual(temp.entries(), [], "the tree is gone")
        XCTAssertEqual(outside.entries(), ["dir", "keep"], "nothing outside was removed")
        XCTAssertEqual(try FileSystem.readText(outside.file("dir/inner")), "precious too")

        // A symlink given as the tree itself is unlinked, not followed.
        XCTAssertEqual(symlink(outside.path, temp.file("alias")), 0)
        XCTAssertTrue(FileSystem.removeTree(temp.file("alias")))
        XCTAssertEqual(outside.entries(), ["dir", "keep"])
        XCTAssertTrue(FileSystem.removeTree(temp.file("never-existed")))
    }

    func testParentDirectory() {
        XCTAssertEqual(FileSystem.parentDirectory(of: "/a/b"), "/a")
        XCTAssertEqual(FileSystem.parentDirectory(of: "/a"), "/")
        XCTAssertEqual(FileSystem.parentDirectory(of: "/a/b/"), "/a")
        XCTAssertEqual(FileSystem.parentDirectory(of: "b"), ".")
    }
}

extension FileSystemTests {
    func testRemoveTreeLeavesOtherFileSystemsAlone() throws {
        try FileSystem.makeDirectories(temp.file("tree/mnt"))
        guard mount("tmpfs", temp.file("tree/mnt"), "tmpfs", 0, nil) == 0 else {
            throw XCTSkip("mount tmpfs: \(Errno.current) (needs root)")
        }
        defer { umount2(temp.file("tree/mnt"), 2 /* MNT_DETACH */) }
        try temp.write("tree/mnt/on-tmpfs", "kept")
        try temp.write("tree/plain", "gone")
        XCTAssertFalse(FileSystem.removeTree(temp.file("tree")), "the mount point keeps the tree from going")
        XCTAssertEqual(try FileSystem.readText(temp.file("tree/mnt/on-tmpfs")), "kept", "nothing on the other file system was removed")
        XCTAssertEqual(temp.entries(temp.file("tree")), ["mnt"])
    }
}

extension FileSystemTests {
    /// An agent can nest directories far deeper than a recursive removal's stack allows (an
    /// attack pass crashed the node at 12,000 levels): removal is iterative, one directory open.
    func testRemoveTreeOfADirectoryChain40000Deep() throws {
        try FileSystem.makeDirectories(temp.file("deep"))
        var fd = open(temp.file("deep"), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        for i in 0..<40_000 {
            XCTAssertEqual(mkdirat(fd, "d", 0o755), 0)
            if i % 1000 == 0 { XCTAssertGreaterThanOrEqual(openat(fd, "f\(i)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644).closing(), 0) }
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            fd = next
        }
        close(fd)
        for i in 0..<50 { try FileSystem.makeDirectories(temp.file("deep/wide\(i)/x")) }
        let before = Self.openDescriptors()
        XCTAssertTrue(FileSystem.removeTree(temp.file("deep")))
        XCTAssertEqual(temp.entries(), [])
        // Other threads of the test process may close descriptors meanwhile, never one of ours.
        XCTAssertLessThanOrEqual(Self.openDescriptors(), before, "descriptors leaked")
    }

    static func openDescriptors() -> Int { FileSystem.entryNames(in: "/proc/self/fd").count }
}

extension Int32 {
    /// Closes a descriptor just made, returning it (for "was it made?" checks).
    fileprivate func closing() -> Int32 {
        if self >= 0 { close(self) }
        return self
    }
}
