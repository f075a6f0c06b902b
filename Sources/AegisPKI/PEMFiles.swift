#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// File helpers for the PEM files of this module: directories created 0700, files written to a
/// temporary name in the same directory (O_CREAT|O_EXCL, exact mode set with fchmod so the umask
/// does not matter, fsync'ed) and then published by rename(2) or link(2), so a reader never sees a
/// half-written file. The directory is fsync'ed after publishing so the new name survives a crash.
enum PEMFiles {
    /// Largest PEM file read (bytes); PKI files here are a few KiB.
    static let maxFileSize = 1 << 20

    /// `directory + "/" + name`, without doubling a trailing slash.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates `path` and missing parents with mode 0700 (like `mkdir -p -m 0700`). An existing
    /// directory is left as it is; an existing non-directory fails with ENOTDIR.
    static func ensureDirectory(_ path: String) throws {
        precondition(!path.isEmpty, "directory path must not be empty")
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw PKIError.syscall("mkdir", path, errno: ENOTDIR) }
            return
        }
        let err = Glibc.errno
        guard err == ENOENT else { throw PKIError.syscall("stat", path, errno: err) }
        var parent = path
        while parent.count > 1, parent.hasSuffix("/") { parent.removeLast() }
        if let slash = parent.lastIndex(of: "/") {
            let up = String(parent[..<slash])
            if !up.isEmpty { try ensureDirectory(up) }
        }
        if mkdir(path, 0o700) != 0 {
            let err = Glibc.errno
            if err == EEXIST { return try ensureDirectory(path) }
            throw PKIError.syscall("mkdir", path, errno: err)
        }
        // mkdir's mode is masked by the umask; set it exactly.
        if chmod(path, 0o700) != 0 { throw PKIError.syscall("chmod 0700", path, errno: Glibc.errno) }
    }

    /// Whether `path` exists (lstat). Errors other than ENOENT are thrown.
    static func exists(_ path: String) throws -> Bool {
        var st = stat()
        if lstat(path, &st) == 0 { return true }
        let err = Glibc.errno
        if err == ENOENT { return false }
        throw PKIError.syscall("lstat", path, errno: err)
    }

    /// The contents of `path` as UTF-8 text (at most `maxFileSize` bytes).
    static func readText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PKIError.syscall("open", path, errno: Glibc.errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let err = Glibc.errno
                if err == EINTR { continue }
                throw PKIError.syscall("read", path, errno: err)
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > maxFileSize { throw PKIError.syscall("read (file larger than 1 MiB)", path, errno: EFBIG) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `contents` to a new temporary file next to `finalPath` with exactly `mode`, fsyncs it,
    /// and returns the temporary path. The caller publishes it with `publish` or removes it.
    static func writeTemporary(for finalPath: String, contents: String, mode: mode_t) throws -> String {
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() as UInt64, radix: 16)
        let slash = finalPath.lastIndex(of: "/")
        let directory = slash.map { String(finalPath[...$0]) } ?? ""
        let name = slash.map { String(finalPath[finalPath.index(after: $0)...]) } ?? finalPath
        let temp = directory + "." + name + ".tmp." + String(getpid()) + "." + suffix
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw PKIError.syscall("open(O_CREAT|O_EXCL)", temp, errno: Glibc.errno) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temp) }
        }
        if fchmod(fd, mode) != 0 { throw PKIError.syscall("fchmod", temp, errno: Glibc.errno) }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let err = Glibc.errno
                if err == EINTR { continue }
                throw PKIError.syscall("write", temp, errno: err)
            }
            offset += n
        }
        if fsync(fd) != 0 { throw PKIError.syscall("fsync", temp, errno: Glibc.errno) }
        ok = true
        return temp
    }

    /// Moves `temp` to `finalPath`. With `replace == false` the move fails with EEXIST when
    /// `finalPath` exists (link(2) then unlink(2)), so two creators cannot overwrite each other.
    /// On failure the temporary file is removed.
    static func publish(_ temp: String, to finalPath: String, replace: Bool) throws {
        if replace {
            if rename(temp, finalPath) != 0 {
                let err = Glibc.errno
                unlink(temp)
                throw PKIError.syscall("rename \(temp) to", finalPath, errno: err)
            }
        } else {
            if link(temp, finalPath) != 0 {
                let err = Glibc.errno
                unlink(temp)
                throw PKIError.syscall("link \(temp) to", finalPath, errno: err)
            }
            unlink(temp)
        }
    }

    /// fsyncs a directory so renames inside it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PKIError.syscall("open directory", path, errno: Glibc.errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw PKIError.syscall("fsync directory", path, errno: Glibc.errno) }
    }

    /// Decides what a key/certificate pair in `directory` looks like on disk.
    /// Returns `true` when both exist, `false` when neither does, and throws `.incompleteFilePair`
    /// naming the missing file when only one exists.
    static func pairExists(directory: String, keyName: String, certificateName: String) throws -> Bool {
        let keyPath = join(directory, keyName)
        let certificatePath = join(directory, certificateName)
        let haveKey = try exists(keyPath)
        let haveCertificate = try exists(certificatePath)
        switch (haveKey, haveCertificate) {
        case (true, true): return true
        case (false, false): return false
        case (true, false):
            throw PKIError(code: .incompleteFilePair, path: certificatePath,
                           description: "\(certificatePath) is missing but \(keyPath) exists; "
                               + "refusing to guess — restore \(certificateName) or remove \(keyName)")
        case (false, true):
            throw PKIError(code: .incompleteFilePair, path: keyPath,
                           description: "\(keyPath) is missing but \(certificatePath) exists; "
                               + "refusing to guess — restore \(keyName) or remove \(certificateName)")
        }
    }

    /// Writes a private key (0600) and certificate (0644) into `directory` (created 0700) without
    /// replacing existing files. Both are written to temporary names first; the key is published,
    /// then the certificate; if publishing the certificate fails the key is unlinked again, so the
    /// only torn state possible is a crash between the two link(2) calls, which `pairExists` reports.
    static func writeNewPair(directory: String, keyName: String, keyPEM: String,
                             certificateName: String, certificatePEM: String) throws {
        try ensureDirectory(directory)
        let keyPath = join(directory, keyName)
        let certificatePath = join(directory, certificateName)
        let keyTemp = try writeTemporary(for: keyPath, contents: keyPEM, mode: 0o600)
        let certificateTemp: String
        do {
            certificateTemp = try writeTemporary(for: certificatePath, contents: certificatePEM, mode: 0o644)
        } catch {
            unlink(keyTemp)
            throw error
        }
        do {
            try publish(keyTemp, to: keyPath, replace: false)
        } catch {
            unlink(certificateTemp)
            throw error
        }
        do {
            try publish(certificateTemp, to: certificatePath, replace: false)
        } catch {
            unlink(keyPath)
            throw error
        }
        try syncDirectory(directory)
    }
}

/// Writes `contents` to `path` atomically: a new temporary file next to it with exactly `mode`
/// (fsync'ed), rename(2) over `path`, then an fsync of the directory.
/// - Throws: `PKIError.syscall` naming the call, the path and the errno.
public func writeFileAtomically(_ path: String, contents: String, mode: mode_t) throws {
    let temp = try PEMFiles.writeTemporary(for: path, contents: contents, mode: mode)
    try PEMFiles.publish(temp, to: path, replace: true)
    let slash = path.lastIndex(of: "/")
    try PEMFiles.syncDirectory(slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? ".")
}
