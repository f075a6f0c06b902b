// FileSystem+Atomic.swift — atomic file replacement: a new temporary file next to the target
// (O_EXCL, exact mode by fchmod, fsync'ed), rename(2) or link(2) over the target, then an fsync of
// the directory so the new name survives a crash. Readers see the old file or the new one, never
// half of one; a failure leaves no temporary file behind.
#if canImport(Glibc)
import Glibc
#endif

extension FileSystem {
    /// Replaces (or creates) `path` with `bytes` atomically.
    /// - Parameters:
    ///   - mode: the file's permission bits, set with fchmod (the umask doesn't apply).
    ///   - replace: false: fail with EEXIST when `path` exists (link(2) instead of rename(2)), so
    ///     two creators can't overwrite each other.
    ///   - syncDirectory: false skips the directory fsync, for files that need not outlive a
    ///     power loss (state of processes that don't survive one either).
    /// - Throws: `SystemError` naming the step ("open", "write", "fsync", "rename … to",
    ///   "fsync directory") and the errno.
    public static func writeAtomically(
        _ path: String, _ bytes: [UInt8], mode: mode_t = 0o644,
        replace: Bool = true, syncDirectory: Bool = true
    ) throws(SystemError) {
        let temp = try writeTemporary(for: path, bytes, mode: mode)
        try publish(temp, to: path, replace: replace)
        if syncDirectory { try self.syncDirectory(parentDirectory(of: path)) }
    }

    /// The same for UTF-8 text.
    public static func writeAtomically(
        _ path: String, text: String, mode: mode_t = 0o644,
        replace: Bool = true, syncDirectory: Bool = true
    ) throws(SystemError) {
        try writeAtomically(path, Array(text.utf8), mode: mode, replace: replace, syncDirectory: syncDirectory)
    }

    /// Writes `bytes` to a new temporary file next to `finalPath` (".<name>.tmp.<pid>.<random>",
    /// O_CREAT|O_EXCL|O_NOFOLLOW) with exactly `mode`, fsyncs it and returns its path. The caller
    /// publishes it with `publish` or unlinks it. On failure nothing is left behind.
    public static func writeTemporary(for finalPath: String, _ bytes: [UInt8], mode: mode_t) throws(SystemError) -> String {
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() as UInt64, radix: 16)
        let slash = finalPath.lastIndex(of: "/")
        let directory = slash.map { String(finalPath[...$0]) } ?? ""
        let name = slash.map { String(finalPath[finalPath.index(after: $0)...]) } ?? finalPath
        let temp = directory + "." + name + ".tmp." + String(getpid()) + "." + suffix
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw SystemError("open", temp) }
        func failed(_ step: String) -> SystemError {
            let error = SystemError(step, temp)
            close(fd)
            unlink(temp)
            return error
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failed("write")
            }
            offset += n
        }
        guard fchmod(fd, mode) == 0 else { throw failed("fchmod") }
        guard fsync(fd) == 0 else { throw failed("fsync") }
        guard close(fd) == 0 else {
            let error = SystemError("close", temp)
            unlink(temp)
            throw error
        }
        return temp
    }

    /// Moves the temporary file `temp` to `finalPath`: rename(2), or with `replace == false`
    /// link(2) + unlink(2), which fails with EEXIST when `finalPath` exists. On failure `temp` is
    /// removed.
    public static func publish(_ temp: String, to finalPath: String, replace: Bool) throws(SystemError) {
        let moved = replace ? rename(temp, finalPath) : link(temp, finalPath)
        guard moved == 0 else {
            let error = SystemError(replace ? "rename \(temp) to" : "link \(temp) to", finalPath)
            unlink(temp)
            throw error
        }
        if !replace { unlink(temp) }
    }

    /// fsyncs the directory `path`, so that renames and links inside it are durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemError("fsync directory", path) }
    }
}
