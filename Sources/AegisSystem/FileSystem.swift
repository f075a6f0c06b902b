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

    /// Removes everything below the directory `top` (which it closes) that is on `device`.
    /// Depth-first without recursion and with one directory open at a time, so no depth (an agent
    /// can nest directories tens of thousands deep) exhausts the stack or the descriptors: each
    /// level keeps only its unvisited subdirectory names; going back up opens "..", which must be
    /// the directory it came from (same device and inode), or the removal stops there.
    private static func removeContents(of top: Int32, device: dev_t) {
        var fd = top
        var pending = clearFiles(fd, device: device)
        var stack: [(name: String, parent: (dev_t, ino_t), pending: [String])] = []
        while true {
            if let name = pending.popLast() {
                var own = stat()
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { continue }
                guard fstat(fd, &own) == 0 else {
                    close(child)
                    continue
                }
                stack.append((name, (own.st_dev, own.st_ino), pending))
                close(fd)
                fd = child
                pending = clearFiles(fd, device: device)
                continue
            }
            guard let up = stack.popLast() else {
                close(fd)
                return
            }
            let parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            var st = stat()
            guard parent >= 0, fstat(parent, &st) == 0, st.st_dev == up.parent.0, st.st_ino == up.parent.1 else {
                if parent >= 0 { close(parent) }
                return
            }
            unlinkat(parent, up.name, AT_REMOVEDIR)
            fd = parent
            pending = up.pending
        }
    }

    /// Unlinks every entry of directory `fd` that is not a directory; returns the names of its
    /// subdirectories on `device` (mount points of other file systems are left alone).
    private static func clearFiles(_ fd: Int32, device: dev_t) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return []
        }
        let names = entryNames(dir)
        closedir(dir)
        var directories: [String] = []
        for name in names {
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (st.st_mode & S_IFMT) != S_IFDIR {
                unlinkat(fd, name, 0)
            } else if st.st_dev == device {
                directories.append(name)
            }
        }
        return directories
    }

    /// The directory part of `path`: "/a/b" → "/a", "/a" → "/", "b" → ".".
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}
