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

    func mkdirs(_ dir: String) throws {
        var cur = ""
        for part in dir.split(separator: "/") {
            cur += "/" + part
            if mkdir(cur, 0o755) != 0 && errno != EEXIST { throw ClientError("mkdir \(cur): \(Errno.current.explained)") }
        }
    }

    func remove() { removeTree(path) }

    private func removeTree(_ p: String) {
        if localFileKind(p, followSymlinks: false) == .directory, let d = opendir(p) {
            var names: [String] = []
            while let e = readdir(d) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if n != "." && n != ".." { names.append(n) }
            }
            closedir(d)
            for n in names { removeTree(p + "/" + n) }
            rmdir(p)
        } else {
            unlink(p)
        }
    }
}
