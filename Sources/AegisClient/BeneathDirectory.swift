// BeneathDirectory.swift — reads input files strictly beneath one directory (the manifest's, or
// the working directory for `aegis run -- CMD`): every open is openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) from a descriptor of that directory, so neither ".." nor a symlink can
// lead outside it (a planted link to /etc/shadow is refused, never read), and only regular files
// are read (a FIFO, a device or a socket is refused before it is opened for reading).
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

final class BeneathDirectory {
    /// The directory as given (for messages).
    let path: String
    private let fd: Int32
    /// realpath(3) of the directory: where absolute symlinks that stay inside it point.
    private let resolved: String?

    /// - Throws: `ClientError` naming the directory and errno.
    init(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ClientError("cannot open directory \(path): \(Errno.current.explained)") }
        self.path = path
        self.fd = fd
        resolved = realpath(path, nil).map { p in
            defer { free(p) }; return String(cString: p)
        }
    }

    deinit { close(fd) }

    static let resolve: ResolveFlags = [.beneath, .noMagicLinks]

    /// Opens `rel` (relative to the directory) with `flags`, beneath it. An absolute symlink whose
    /// target is inside the directory is followed as the relative path it amounts to.
    private func openBeneath(_ rel: String, flags: Int32) -> Int32 {
        let f = Syscall.openat2(fd, rel, flags: flags | O_CLOEXEC, resolve: Self.resolve)
        guard f < 0, errno == EXDEV, let root = resolved else { return f }
        guard
            let target = realpath(path + "/" + rel, nil).map({ p in
                defer { free(p) }; return String(cString: p)
            }),
            target.hasPrefix(root == "/" ? "/" : root + "/")
        else {
            errno = EXDEV  // realpath's own errno is not the answer
            return f
        }
        let inside = String(target.dropFirst(root == "/" ? 1 : root.count + 1))
        let again = Syscall.openat2(fd, inside, flags: flags | O_CLOEXEC, resolve: Self.resolve)
        if again < 0 { errno = EXDEV }
        return again
    }

    /// What `rel` is once resolved beneath the directory: its file type bits (S_IFMT) and size.
    /// - Throws: `ClientError` naming the file: a symlink leading outside, a missing target.
    func kind(_ rel: String) throws -> (type: mode_t, size: Int64) {
        let f = openBeneath(rel, flags: Syscall.O_PATH)
        guard f >= 0 else { throw refusal(rel, errno) }
        defer { close(f) }
        var st = stat()
        guard fstat(f, &st) == 0 else { throw ClientError("cannot stat input file \(rel): \(Errno.current.explained)") }
        return (st.st_mode & S_IFMT, Int64(st.st_size))
    }

    /// Reads the regular file `rel`, at most `limit` bytes.
    /// - Throws: `ClientError` naming the file: not beneath the directory, not a regular file,
    ///   unreadable, or larger than `limit`.
    func readRegular(_ rel: String, limit: Int) throws -> [UInt8] {
        let (type, _) = try kind(rel)
        guard type == S_IFREG else {
            throw ClientError("input file \(rel) in \(path): \(Self.describe(type)), not a regular file; refused")
        }
        // O_NONBLOCK: should it have been swapped for a FIFO meanwhile, the open doesn't hang (and fstat refuses it).
        let f = openBeneath(rel, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        guard f >= 0 else { throw refusal(rel, errno) }
        defer { close(f) }
        var st = stat()
        guard fstat(f, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ClientError("input file \(rel) in \(path): not a regular file; refused")
        }
        return try readAll(fd: f, what: "input file \(rel)", limit: limit)
    }

    private func refusal(_ rel: String, _ e: Int32) -> ClientError {
        switch e {
        case EXDEV:
            return ClientError(
                "input file \(rel) is a symlink leading out of \(path); only files beneath the manifest's directory are uploaded")
        case ELOOP: return ClientError("input file \(rel) in \(path): too many levels of symlinks")
        case ENOENT: return ClientError("input file \(rel) in \(path): missing (a dangling symlink?)")
        default: return ClientError("cannot open input file \(rel) in \(path): \(Errno(e).explained)")
        }
    }

    static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symlink"
        default: return "a special file"
        }
    }
}
