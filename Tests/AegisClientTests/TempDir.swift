import AegisClient
import XCTest
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed (recursively) by `remove()`.
struct TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/aegis-client-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ClientError("mkdtemp: \(Errno.current.explained)") }
        path = String(cString: p)
    }

    func write(_ rel: String, _ text: String) throws {
        let full = path + "/" + rel
        if let slash = full.lastIndex(of: "/") { try mkdirs(String(full[..<slash])) }
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ClientError("open \(full): \(Errno.current.explained)") }
        defer { close(fd) }
        try writeAll(fd: fd, Array(text.utf8), what: full)
    }

    func mkdirs(_ dir: String) throws { try FileSystem.makeDirectories(dir, mode: 0o755) }

    func remove() { FileSystem.removeTree(path) }
}
