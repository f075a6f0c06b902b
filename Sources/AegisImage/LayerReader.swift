// LayerReader.swift — reads a layer's tar entries through libarchive (tar/pax/GNU formats; gzip,
// zstd or no compression — no other filter, no external program). It only decodes: what an entry
// asks for is decided and written by LayerUnpacker, beneath the rootfs.
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

/// A libarchive reader over one file descriptor. Not thread-safe; one layer at a time.
final class LayerReader {
    private let archive: OpaquePointer
    private let what: String

    /// Opens `fd` (kept open by the caller until `close`) as a tar stream compressed as `compression`.
    init(fd: Int32, what: String) throws(ImageError) {
        guard let a = archive_read_new() else { throw ImageError(.io, "\(what): libarchive could not allocate a reader") }
        archive = a
        self.what = what
        archive_read_support_filter_gzip(a)
        archive_read_support_filter_zstd(a)
        archive_read_support_format_tar(a)
        guard archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK else {
            let message = errorText()
            archive_read_free(a)
            throw ImageError(.invalidManifest, "\(what): not a tar, tar+gzip or tar+zstd stream: \(message)")
        }
    }

    deinit { archive_read_free(archive) }

    private func errorText() -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "errno \(archive_errno(archive))"
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
            gid: UInt32(clamping: archive_entry_gid(e)), size: archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : 0,
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
