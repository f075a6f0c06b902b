// LayerReader.swift — reads tar entries through libarchive (tar/pax/GNU formats): an image layer
// (gzip, zstd or no compression — no other filter, no external program — hashed against its
// diff_id) or a plain tar (an OCI archive). It only decodes: what an entry asks for is decided and
// written by LayerUnpacker, beneath the rootfs.
import AegisSystem
import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// One tar entry's header, decoded.
struct LayerEntry {
    enum Kind { case file, directory, symlink, hardlink, fifo, device, other }
    var path: String
    var kind: Kind
    /// Permission bits and setuid/setgid/sticky (07777).
    var mode: mode_t
    var uid: UInt32
    var gid: UInt32
    /// Logical size in bytes (regular files; sparse files count their full size).
    var size: Int64
    /// Symlink target or hard-link target path, as written in the tar.
    var linkTarget: String?
    var mtimeSeconds: Int
    var mtimeNanoseconds: Int
    var xattrs: [(name: String, value: [UInt8])]
}

/// The decompressed bytes of a layer, read through libarchive's gzip/zstd filters (the "raw"
/// format: no archive parsing) and hashed as they pass, so the tar stream can be checked against
/// the config's diff_id (image-spec config.md `rootfs.diff_ids`) without a second pass.
final class DecompressedStream {
    let archive: OpaquePointer
    private(set) var hasher = DigestHasher(.sha256)
    private(set) var failure: String?

    init(fd: Int32, what: String) throws(ImageError) {
        guard let a = archive_read_new() else { throw ImageError(.io, "\(what): libarchive could not allocate a reader") }
        archive = a
        archive_read_support_filter_gzip(a)
        archive_read_support_filter_zstd(a)
        archive_read_support_format_raw(a)
        var entry: OpaquePointer?
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK, archive_read_next_header(a, &entry) == ARCHIVE_OK else {
            let message = archive_error_string(a).map { String(cString: $0) } ?? "errno \(archive_errno(a))"
            throw ImageError(.invalidManifest, "\(what): not a tar, tar+gzip or tar+zstd stream: \(message)")  // deinit frees
        }
    }

    deinit { archive_read_free(archive) }

    /// The next decompressed block (hashed), or an empty one at the end; nil after a failure.
    func next() -> UnsafeRawBufferPointer? {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        let r = archive_read_data_block(archive, &buffer, &size, &offset)
        if r == ARCHIVE_EOF { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN else {
            failure = archive_error_string(archive).map { String(cString: $0) } ?? "errno \(archive_errno(archive))"
            return nil
        }
        let block = UnsafeRawBufferPointer(start: buffer, count: size)
        hasher.update(block)
        return block
    }

    /// Reads (and hashes) whatever follows the tar's end-of-archive blocks.
    func drain() -> Bool {
        while let block = next() {
            if block.count == 0 { return true }
        }
        return false
    }
}

/// libarchive read callback of the tar reader: the next block of the decompressed stream.
private func readDecompressed(
    _ archive: OpaquePointer?, _ context: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?
) -> la_ssize_t {
    let stream = Unmanaged<DecompressedStream>.fromOpaque(context!).takeUnretainedValue()
    guard let block = stream.next() else { return -1 }  // the reason is in stream.failure
    buffer?.pointee = block.baseAddress
    return block.count
}

/// A libarchive reader over one file descriptor. Not thread-safe; one layer at a time.
final class LayerReader {
    private let archive: OpaquePointer
    private let what: String
    /// With a diff_id to check: the decompressing first stage (the tar reader parses its output).
    private let stream: DecompressedStream?
    private let diffID: Digest?

    /// Opens `fd` (kept open by the caller until the reader is gone). With `diffID`: an image
    /// layer, plain or compressed with gzip or zstd, whose decompressed stream `finish()` checks
    /// against it. Without: a plain, uncompressed tar.
    init(fd: Int32, what: String, diffID: Digest?) throws(ImageError) {
        guard let a = archive_read_new() else { throw ImageError(.io, "\(what): libarchive could not allocate a reader") }
        archive = a
        self.what = what
        self.diffID = diffID
        archive_read_support_format_tar(a)
        let opened: Int32
        if let diffID {
            guard diffID.algorithm == .sha256 else {
                archive_read_free(a)
                throw ImageError(.unsupported, "\(what): diff_id \(diffID) is not sha256")
            }
            do {
                let s = try DecompressedStream(fd: fd, what: what)
                stream = s
            } catch {
                archive_read_free(a)
                throw error
            }
            opened = archive_read_open(a, Unmanaged.passUnretained(stream!).toOpaque(), nil, readDecompressed, nil)
        } else {
            stream = nil
            opened = archive_read_open_fd(a, fd, 1 << 16)
        }
        guard opened == ARCHIVE_OK else {
            let message = errorText()  // every property is set: deinit frees the reader
            throw ImageError(
                .invalidManifest,
                "\(what): not a tar\(diffID == nil ? " (it must be plain, uncompressed)" : ", tar+gzip or tar+zstd stream"): \(message)")
        }
    }

    deinit { archive_read_free(archive) }

    /// After the last entry: the whole decompressed stream must hash to the diff_id.
    func finish() throws(ImageError) {
        guard let stream, let diffID else { return }
        guard stream.drain() else {
            throw ImageError(.invalidManifest, "\(what): damaged compressed stream: \(stream.failure ?? "?")")
        }
        let got = stream.hasher.finalize()
        guard got == diffID else {
            throw ImageError(.digestMismatch, "\(what): the uncompressed layer hashes to \(got), the config's diff_id is \(diffID)")
        }
    }

    private func errorText() -> String {
        if let failure = stream?.failure { return "decompression: \(failure)" }
        return archive_error_string(archive).map { String(cString: $0) } ?? "errno \(archive_errno(archive))"
    }

    /// The next entry's header, nil at the end of the archive.
    func next() throws(ImageError) -> LayerEntry? {
        var entry: OpaquePointer?
        let r = archive_read_next_header(archive, &entry)
        if r == ARCHIVE_EOF { return nil }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e = entry else {
            throw ImageError(.invalidManifest, "\(what): damaged tar stream: \(errorText())")
        }
        guard let rawPath = archive_entry_pathname(e), let path = String(validatingCString: rawPath) else {
            throw ImageError(.unsafeLayer, "\(what): an entry's name is missing or not UTF-8")
        }
        var linkTarget: String?
        var kind: LayerEntry.Kind
        if let hard = archive_entry_hardlink(e) {
            kind = .hardlink
            linkTarget = String(validatingCString: hard)
        } else {
            switch archive_entry_filetype(e) & S_IFMT {
            case S_IFREG: kind = .file
            case S_IFDIR: kind = .directory
            case S_IFLNK:
                kind = .symlink
                linkTarget = archive_entry_symlink(e).flatMap { String(validatingCString: $0) }
            case S_IFIFO: kind = .fifo
            case S_IFCHR, S_IFBLK: kind = .device
            default: kind = .other
            }
        }
        let size = archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : 0
        guard size >= 0 else { throw ImageError(.unsafeLayer, "\(what): entry \(path) declares a negative size (\(size))") }
        if (kind == .hardlink || kind == .symlink) && linkTarget == nil {
            throw ImageError(.unsafeLayer, "\(what): entry \(path): its link target is missing or not UTF-8")
        }
        var xattrs: [(String, [UInt8])] = []
        if archive_entry_xattr_reset(e) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
                guard let name else { continue }
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                xattrs.append((String(cString: name), bytes))
            }
        }
        return LayerEntry(
            path: path, kind: kind, mode: archive_entry_perm(e) & 0o7777, uid: UInt32(clamping: archive_entry_uid(e)),
            gid: UInt32(clamping: archive_entry_gid(e)), size: size,
            linkTarget: linkTarget, mtimeSeconds: Int(archive_entry_mtime(e)), mtimeNanoseconds: Int(archive_entry_mtime_nsec(e)),
            xattrs: xattrs)
    }

    /// Streams the current entry's data: `body(offset, bytes)` per block (sparse files skip holes).
    func readData(_ body: (Int64, UnsafeRawBufferPointer) throws(ImageError) -> Void) throws(ImageError) {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let r = archive_read_data_block(archive, &buffer, &size, &offset)
            if r == ARCHIVE_EOF { return }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN else {
                throw ImageError(.invalidManifest, "\(what): damaged data in the tar stream: \(errorText())")
            }
            if size > 0, let buffer { try body(Int64(offset), UnsafeRawBufferPointer(start: buffer, count: size)) }
        }
    }
}
