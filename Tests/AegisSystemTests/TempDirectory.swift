// TempDirectory.swift — a fresh directory under /tmp per test, removed afterwards.
import AegisSystem
import Glibc
import XCTest

struct TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/aegis-system-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SystemError("mkdtemp", "/tmp") }
        path = String(cString: p)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        let fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open", file(name)) }
        defer { close(fd) }
        let n = text.utf8CString.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        guard n == text.utf8.count else { throw SystemError("write", file(name)) }
    }

    func entries(_ directory: String? = nil) -> [String] {
        guard let d = opendir(directory ?? path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() { FileSystem.removeTree(path) }
}

func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o7777
}

func owner(_ path: String) -> (uid: uid_t, gid: gid_t)? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return (st.st_uid, st.st_gid)
}
