// FileSystem.swift — whole-file reads, mkdir -p with mode and owner, and tree removal that stays
// inside the tree. Every failure is a `SystemError` naming the step, the path and the errno.
#if canImport(Glibc)
import Glibc
#endif

/// File operations of the OS layer (the atomic write is in FileSystem+Atomic.swift).
public enum FileSystem {
    /// Reads the whole file at `path`.
    /// - Parameter limit: largest size accepted, in bytes; a longer file fails with EFBIG.
    /// - Throws: `SystemError` ("open", "read") with the errno.
    public static func readBytes(_ path: String, limit: Int = .max) throws(SystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path) }
        defer { close(fd) }
        return try readBytes(fd: fd, path: path, limit: limit)
    }

    /// Reads what is left of the open file `fd` (its owner closes it); `path` names it in errors.
    /// - Parameter limit: largest size accepted, in bytes; more fails with EFBIG.
    /// - Throws: `SystemError` ("read") with the errno.
    public static func readBytes(fd: Int32, path: String, limit: Int = .max) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", path)
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit { throw SystemError("read (file larger than \(limit) bytes)", path, code: EFBIG) }
        }
    }

    /// The names in an open directory stream, "." and ".." left out (readdir from where it is).
    public static func entryNames(_ dir: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The names in the directory at `path` ("." and ".." left out); empty when it can't be opened.
    public static func entryNames(in path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        return entryNames(dir)
    }

    /// Reads the whole file at `path` as UTF-8 (invalid sequences replaced).
    /// - Parameter limit: largest size accepted, in bytes.
    public static func readText(_ path: String, limit: Int = .max) throws(SystemError) -> String {
        String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
    }

    /// mkdir -p: creates `path` and its missing parents. Directories it creates get exactly `mode`
    /// (chmod after mkdir, so the umask doesn't narrow it) and, with `owner`, that uid and gid.
    /// Existing directories (or symlinks to directories) are left as they are.
    /// - Throws: `SystemError` ("mkdir", "chmod", "chown"); an existing non-directory on the way
    ///   fails with ENOTDIR.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755, owner: UInt32? = nil) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) == 0 {
                guard chmod(current, mode) == 0 else { throw SystemError("chmod", current) }
                if let owner, chown(current, owner, owner) != 0 { throw SystemError("chown", current) }
                continue
            }
            let failure = Errno.current
            var st = stat()
            guard failure.code == EEXIST, stat(current, &st) == 0 else { throw SystemError("mkdir", current, errno: failure) }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw SystemError("mkdir", current, code: ENOTDIR) }
        }
    }

    /// True when `path` exists (lstat: a dangling symlink exists).
    /// - Throws: `SystemError("lstat")` for errors other than ENOENT.
    public static func exists(_ path: String) throws(SystemError) -> Bool {
        var st = stat()
        if lstat(path, &st) == 0 { return true }
        if errno == ENOENT { return false }
        throw SystemError("lstat", path)
    }

    /// rm -rf that never leaves the tree: every entry is opened relative to its directory's
    /// descriptor with O_NOFOLLOW, symlinks are unlinked (never followed), and directories on
    /// another file system (mount points) are left alone. Best effort: what can't be removed stays.
    /// - Returns: true when `path` is gone.
    @discardableResult
    public static func removeTree(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return unlink(path) == 0 }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 { removeContents(of: fd, device: st.st_dev) }
        return rmdir(path) == 0
    }

    /// Removes everything below the directory `fd` (which it closes) that is on `device`.
    private static func removeContents(of fd: Int32, device: dev_t) {
        guard let dir = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(dir) }
        for name in entryNames(dir) {
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                unlinkat(fd, name, 0)
                continue
            }
            guard st.st_dev == device else { continue }
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 { removeContents(of: child, device: device) }
            unlinkat(fd, name, AT_REMOVEDIR)
        }
    }

    /// The directory part of `path`: "/a/b" → "/a", "/a" → "/", "b" → ".".
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
