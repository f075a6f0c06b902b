#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

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
        try PKIError.os(try FileSystem.makeDirectories(path, mode: 0o700))
    }

    /// Whether `path` exists (lstat). Errors other than ENOENT are thrown.
    static func exists(_ path: String) throws -> Bool {
        try PKIError.os(try FileSystem.exists(path))
    }

    /// The contents of `path` as UTF-8 text (at most `maxFileSize` bytes, else EFBIG).
    static func readText(_ path: String) throws -> String {
        try PKIError.os(try FileSystem.readText(path, limit: maxFileSize))
    }

    /// Writes `contents` to a new temporary file next to `finalPath` with exactly `mode`, fsyncs it,
    /// and returns the temporary path. The caller publishes it with `publish` or removes it.
    static func writeTemporary(for finalPath: String, contents: String, mode: mode_t) throws -> String {
        try PKIError.os(try FileSystem.writeTemporary(for: finalPath, Array(contents.utf8), mode: mode))
    }

    /// Moves `temp` to `finalPath`. With `replace == false` the move fails with EEXIST when
    /// `finalPath` exists (link(2) then unlink(2)), so two creators cannot overwrite each other.
    /// On failure the temporary file is removed.
    static func publish(_ temp: String, to finalPath: String, replace: Bool) throws {
        try PKIError.os(try FileSystem.publish(temp, to: finalPath, replace: replace))
    }

    /// fsyncs a directory so renames inside it are durable.
    static func syncDirectory(_ path: String) throws {
        try PKIError.os(try FileSystem.syncDirectory(path))
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
            throw PKIError(
                code: .incompleteFilePair, path: certificatePath,
                description: "\(certificatePath) is missing but \(keyPath) exists; "
                    + "refusing to guess — restore \(certificateName) or remove \(keyName)")
        case (false, true):
            throw PKIError(
                code: .incompleteFilePair, path: keyPath,
                description: "\(keyPath) is missing but \(certificatePath) exists; "
                    + "refusing to guess — restore \(keyName) or remove \(certificateName)")
        }
    }

    /// Writes a private key (0600) and certificate (0644) into `directory` (created 0700) without
    /// replacing existing files. Both are written to temporary names first; the key is published,
    /// then the certificate; if publishing the certificate fails the key is unlinked again, so the
    /// only torn state possible is a crash between the two link(2) calls, which `pairExists` reports.
    static func writeNewPair(
        directory: String, keyName: String, keyPEM: String,
        certificateName: String, certificatePEM: String
    ) throws {
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
