import AegisClient
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class InputFilesTests: XCTestCase {
    func testMentionBoundaries() {
        func m(_ text: String, _ path: String) -> Bool { mentions(text: Array(text.utf8), path: path) }
        XCTAssertTrue(m("file: agent.py\n", "agent.py"))
        XCTAssertTrue(m("args: [./agent.py]", "agent.py"))
        XCTAssertTrue(m("run agent.py.", "agent.py"))
        XCTAssertTrue(m("inputs:\n  - data/in.csv\n", "data/in.csv"))
        XCTAssertTrue(m("\"agent.py\"", "agent.py"))
        XCTAssertFalse(m("file: myagent.py", "agent.py"))
        XCTAssertFalse(m("file: agent.pyc", "agent.py"))
        XCTAssertFalse(m("file: data.csv.gz", "data.csv"))
        XCTAssertFalse(m("file: other/agent.py", "agent.py"))
        XCTAssertFalse(m("file: x./agent.py", "agent.py"))
        XCTAssertFalse(m("", "agent.py"))
    }

    func testManifestInputs() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let manifest = """
            name: demo
            file: agent.py
            files:
              inputs:
                - data/in.csv
                - ./prompt.txt
                - missing.txt
            """
        try dir.write("agent.yaml", manifest)
        try dir.write("agent.py", "print('hi')\n")
        try dir.write("data/in.csv", "a,b\n1,2\n")
        try dir.write("prompt.txt", "hello")
        try dir.write("unmentioned.py", "secret")
        try dir.write("data/in.csv.bak", "old")
        try dir.write(".hidden/agent.py", "not this one")
        XCTAssertEqual(symlink(dir.path + "/prompt.txt", dir.path + "/link-to-prompt.txt"), 0)
        let files = try collectManifestInputs(manifestPath: dir.path + "/agent.yaml", manifestText: manifest)
        XCTAssertEqual(files.keys.sorted(), ["agent.py", "data/in.csv", "prompt.txt"])
        XCTAssertEqual(files["data/in.csv"], Array("a,b\n1,2\n".utf8))
        XCTAssertEqual(base64Inputs(files)["prompt.txt"], "aGVsbG8=")

        // A symlink to a regular file counts when mentioned.
        let viaLink = try collectManifestInputs(manifestPath: dir.path + "/agent.yaml", manifestText: "file: link-to-prompt.txt")
        XCTAssertEqual(viaLink, ["link-to-prompt.txt": Array("hello".utf8)])
    }

    func testUploadCap() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try dir.write("big.bin", String(repeating: "x", count: 3000))
        try dir.write("small.txt", "y")
        XCTAssertThrowsError(
            try collectManifestInputs(
                manifestPath: dir.path + "/m.yaml", manifestText: "big.bin small.txt",
                limit: 2048)
        ) { e in
            XCTAssertTrue("\(e)".contains("over the 2Ki upload limit") && "\(e)".contains("big.bin (2.9Ki)"), "\(e)")
        }
        XCTAssertEqual(try collectManifestInputs(manifestPath: dir.path + "/m.yaml", manifestText: "small.txt", limit: 2048).count, 1)
    }

    func testWalkLimit() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        for i in 0..<5 { try dir.write("f\(i)", "") }
        XCTAssertThrowsError(try collectManifestInputs(manifestPath: dir.path + "/m.yaml", manifestText: "", maxEntries: 3))
        XCTAssertThrowsError(try collectManifestInputs(manifestPath: dir.path + "/nope/m.yaml", manifestText: "")) { e in
            XCTAssertTrue("\(e)".contains("ENOENT"), "\(e)")
        }
    }

    func testCommandInputs() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try dir.write("script.py", "print(1)")
        try dir.write("data/x.json", "{}")
        try dir.write("../outside-\(lastPathComponent(dir.path)).txt", "no")
        defer { unlink(dir.path + "/../outside-\(lastPathComponent(dir.path)).txt") }
        let cmd = [
            "script.py", "--flag", "./data//x.json", "data", "nonexistent.txt", "/etc/hostname",
            "../outside-\(lastPathComponent(dir.path)).txt", "script.py",
        ]
        let files = try collectCommandInputs(command: cmd, baseDir: dir.path)
        XCTAssertEqual(files.keys.sorted(), ["data/x.json", "script.py"])
        XCTAssertEqual(files["script.py"], Array("print(1)".utf8))
    }

    /// Only regular files beneath the manifest's directory are uploaded: a mentioned symlink
    /// leading out of it, a FIFO or a device node is refused with an error naming it.
    func testManifestInputsStayBeneathTheDirectory() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let outside = try TempDir()
        defer { outside.remove() }
        try outside.write("secret.txt", "outside")
        try dir.write("agent.yaml", "")
        try dir.write("sub/data.txt", "inside")
        XCTAssertEqual(symlink("/etc/shadow", dir.path + "/shadow"), 0)
        XCTAssertEqual(symlink("../" + lastPathComponent(outside.path) + "/secret.txt", dir.path + "/up"), 0)
        XCTAssertEqual(mkfifo(dir.path + "/pipe", 0o644), 0)
        XCTAssertEqual(mknod(dir.path + "/null", S_IFCHR | 0o644, dev_t(0x103)), 0, "mknod needs root")  // 1:3, as /dev/null
        XCTAssertEqual(symlink("sub/data.txt", dir.path + "/inner-link"), 0)
        let manifest = dir.path + "/agent.yaml"
        for (name, expected) in [
            ("shadow", "symlink leading out of"), ("up", "symlink leading out of"),
            ("pipe", "a FIFO, not a regular file"), ("null", "a character device, not a regular file"),
        ] {
            XCTAssertThrowsError(try collectManifestInputs(manifestPath: manifest, manifestText: "file: sub/data.txt\nargs: [\(name)]")) {
                e in
                XCTAssertTrue("\(e)".contains("input file \(name) ") && "\(e)".contains(expected), "\(name): \(e)")
            }
        }
        // The same through a command's arguments.
        XCTAssertThrowsError(try collectCommandInputs(command: ["cat", "shadow"], baseDir: dir.path)) { e in
            XCTAssertTrue("\(e)".contains("input file shadow is a symlink leading out of"), "\(e)")
        }
        let ok = try collectManifestInputs(manifestPath: manifest, manifestText: "file: sub/data.txt inner-link")
        XCTAssertEqual(ok, ["sub/data.txt": Array("inside".utf8), "inner-link": Array("inside".utf8)])
    }
}
