// FileIO.swift — the few file operations the client needs (read a whole file, classify a path,
// write a downloaded file), on Glibc directly, with errors naming the path and errno.
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// What a path is (following symlinks unless `lstat` was asked for).
public enum LocalFileKind: Sendable, Equatable {
    case missing, regular, directory, socket, other
}

/// Classifies `path` with stat(2) (or lstat(2) when `followSymlinks` is false). Errors other than
/// ENOENT/ENOTDIR are reported as `.other`.
public func localFileKind(_ path: String, followSymlinks: Bool = true) -> LocalFileKind {
    var st = stat()
    let rc = followSymlinks ? stat(path, &st) : lstat(path, &st)
    if rc != 0 { return (errno == ENOENT || errno == ENOTDIR) ? .missing : .other }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .regular
    case S_IFDIR: return .directory
    case S_IFSOCK: return .socket
    default: return .other
    }
}

/// Size in bytes of a regular file (stat(2) st_size).
/// - Throws: `ClientError` naming the path and errno when stat fails.
public func localFileSize(_ path: String) throws -> Int64 {
    var st = stat()
    guard stat(path, &st) == 0 else { throw ClientError("cannot stat \(path): \(Errno.current.explained)") }
    return Int64(st.st_size)
}

/// Reads a whole file. `limit` (bytes) guards against reading something huge by mistake.
/// - Throws: `ClientError` naming the path and errno (open/read), or the limit when exceeded.
public func readLocalFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ClientError("cannot open \(path): \(Errno.current.explained)") }
    defer { close(fd) }
    return try readAll(fd: fd, what: path, limit: limit)
}

/// Reads `fd` to its end; `what` names it in errors (errno, or the limit in bytes when exceeded).
func readAll(fd: Int32, what: String, limit: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ClientError("cannot read \(what): \(Errno.current.explained)")
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
        if out.count > limit { throw ClientError("\(what) is larger than \(formatBytes(Int64(limit)))") }
    }
    return out
}

/// Writes all of `bytes` to `fd`, retrying on EINTR and short writes.
/// - Throws: `ClientError` naming `what` and errno.
public func writeAll(fd: Int32, _ bytes: some Collection<UInt8>, what: String) throws {
    let array = Array(bytes)
    var offset = 0
    while offset < array.count {
        let n = array.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            let e = errno
            if e == EINTR { continue }
            throw ClientError("cannot write \(what): \(Errno(e).explained)", errno: e)
        }
        offset += n
    }
}

/// The last path component ("a/b/c.txt" → "c.txt"; trailing slashes ignored).
public func lastPathComponent(_ path: String) -> String {
    let parts = path.split(separator: "/", omittingEmptySubsequences: true)
    return parts.last.map(String.init) ?? path
}
