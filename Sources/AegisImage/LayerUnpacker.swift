// LayerUnpacker.swift — applies image layers, in order, to one rootfs directory (image-spec
// layer.md): regular files, directories, symlinks, hard links, modes, ownership, mtimes and xattrs
// (where the file system takes them); `.wh.NAME` whiteouts remove NAME from lower layers and
// `.wh..wh..opq` empties a directory of lower layers' entries. Device nodes and FIFOs are skipped
// with a warning. Untrusted input: an entry name with a ".." component is refused; every lookup
// resolves with the rootfs as "/" (RootDirectory), hard links are made from a descriptor of a
// file inside the rootfs, and the bytes and entries of the image are capped (a decompression
// bomb fails before its bytes are written: a file's declared size counts before any data does).
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// Caps on what an image may unpack to (all its layers together).
public struct UnpackLimits: Sendable {
    /// Bytes of regular-file content (logical sizes: a sparse file counts in full). Default 8 GiB.
    public var maxBytes: Int64
    /// Tar entries, whiteouts included, plus the parent directories created for them. Default 1,000,000.
    public var maxEntries: Int
    /// Directory depth below the rootfs (resolved, symlinks followed). Default 128.
    public var maxDepth: Int
    /// Bytes of entry names of one layer (kept while it applies, for opaque whiteouts). Default 64 MiB.
    public var maxNameBytesPerLayer: Int

    public init(maxBytes: Int64 = 8 << 30, maxEntries: Int = 1_000_000, maxDepth: Int = 128, maxNameBytesPerLayer: Int = 64 << 20) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.maxDepth = maxDepth
        self.maxNameBytesPerLayer = maxNameBytesPerLayer
    }
}

/// What unpacking did, for the caller's log.
public struct UnpackReport: Sendable {
    public var entries = 0
    public var bytes: Int64 = 0
    /// One line per entry not reproduced ("layer 2: skipped device node dev/null"), the first
    /// `maxWarnings`; `warningsLeftOut` counts the others (an image may hold a million of them).
    public var warnings: [String] = []
    public var warningsLeftOut = 0
    public static let maxWarnings = 100

    mutating func warn(_ line: String) {
        if warnings.count < Self.maxWarnings { warnings.append(line) } else { warningsLeftOut += 1 }
    }
}

/// Unpacks layers into a rootfs directory (which should be new and empty).
public final class LayerUnpacker {
    private let root: RootDirectory
    private let limits: UnpackLimits
    public private(set) var report = UnpackReport()
    /// Paths written by the layer being applied (an opaque whiteout keeps them), their bytes, and
    /// the directories already made opaque by it.
    private var writtenThisLayer: Set<String> = []
    private var writtenNameBytes = 0
    private var opaqueThisLayer: Set<String> = []

    public init(rootfs: String, limits: UnpackLimits = UnpackLimits()) throws(ImageError) {
        root = try RootDirectory(path: rootfs, maxDepth: limits.maxDepth)
        self.limits = limits
    }

    /// Applies the tar at `blobPath`; `what` names it in errors ("layer 2 sha256:…"). With
    /// `diffID` (the config's `rootfs.diff_ids` entry) it is an image layer — gzip, zstd or plain —
    /// whose uncompressed stream must hash to it; without, a plain tar (an OCI archive).
    public func apply(layerAt blobPath: String, diffID: Digest?, what: String) throws(ImageError) {
        // O_NONBLOCK: a FIFO named as a layer or archive must not hang the pull; only files are read.
        let fd = open(blobPath, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ImageError(.io, what, underlying: SystemError("open", blobPath)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ImageError(.invalidManifest, "\(what): \(blobPath) is not a regular file")
        }
        let reader = try LayerReader(fd: fd, what: what, diffID: diffID)
        writtenThisLayer = []
        writtenNameBytes = 0
        opaqueThisLayer = []
        while let entry = try reader.next() {
            report.entries += 1
            try applyEntry(entry, reader, what)
            guard report.entries + root.directoriesCreated <= limits.maxEntries else {
                throw ImageError(
                    .limitExceeded, "\(what): more than \(limits.maxEntries) entries in the image (directories it implies included)")
            }
        }
        try reader.finish()
    }

    /// The cleaned components of an entry name: "./a//b/" → ["a", "b"]; a leading "/" is dropped
    /// (paths are relative to the rootfs); ".." anywhere is refused.
    static func components(_ path: String, _ what: String) throws(ImageError) -> [String] {
        let parts = path.split(separator: "/").map(String.init).filter { $0 != "." }
        if parts.contains("..") {
            throw ImageError(.unsafeLayer, "\(what): entry \(path) has a \"..\" component (refused: entries stay inside the rootfs)")
        }
        guard path.utf8.count <= 4096 else { throw ImageError(.unsafeLayer, "\(what): an entry name is longer than 4096 bytes") }
        return parts
    }

    private func applyEntry(_ e: LayerEntry, _ reader: LayerReader, _ what: String) throws(ImageError) {
        let parts = try Self.components(e.path, what)
        guard let name = parts.last else { return }  // the root itself ("./"): nothing to create
        let parentParts = parts.dropLast()
        if name.hasPrefix(".wh.") {
            try applyWhiteout(name: name, parentParts: parentParts, what)
            return
        }
        let parent = try root.directory(parentParts)
        let joined = parts.joined(separator: "/")
        if writtenThisLayer.insert(joined).inserted {
            writtenNameBytes += joined.utf8.count
            guard writtenNameBytes <= limits.maxNameBytesPerLayer else {
                throw ImageError(.limitExceeded, "\(what): entry names of one layer exceed \(limits.maxNameBytesPerLayer) bytes")
            }
        }
        switch e.kind {
        case .directory:
            try makeDirectory(e, name: name, in: parent, joined)
        case .file:
            guard e.size <= limits.maxBytes - report.bytes else {
                throw ImageError(
                    .limitExceeded,
                    "\(what): entry \(e.path) (\(e.size) bytes) takes the image past its \(limits.maxBytes)-byte unpack limit (a decompression bomb?)"
                )
            }
            report.bytes += e.size
            try root.remove(name, in: parent)
            try writeFile(e, name: name, in: parent, reader, joined)
        case .symlink:
            try root.remove(name, in: parent)
            guard symlinkat(e.linkTarget!, parent, name) == 0 else {
                throw ImageError(.io, "\(what): symlink \(joined)", underlying: SystemError("symlinkat", joined))
            }
            fchownat(parent, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW)
            setTimes(e, name: name, in: parent)
        case .hardlink:
            try makeHardLink(e, name: name, in: parent, joined, what)
        case .fifo, .device, .other:
            report.warn("\(what): skipped \(e.kind == .fifo ? "FIFO" : e.kind == .device ? "device node" : "special file") \(joined)")
        }
    }

    private func applyWhiteout(name: String, parentParts: ArraySlice<String>, _ what: String) throws(ImageError) {
        let dirPath = parentParts.joined(separator: "/")
        let parent = Syscall.openat2(
            root.fd, dirPath.isEmpty ? "." : dirPath, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, resolve: [.inRoot, .noMagicLinks])
        guard parent >= 0 else { return }  // nothing below to hide
        if name == ".wh..wh..opq" {
            guard opaqueThisLayer.insert(dirPath).inserted else {  // lower entries are already gone
                close(parent)
                return
            }
            let prefix = dirPath.isEmpty ? "" : dirPath + "/"
            let kept = writtenThisLayer
            try root.removeChildren(of: parent, keeping: { kept.contains(prefix + $0) })  // closes parent
            return
        }
        defer { close(parent) }
        let hidden = String(name.dropFirst(4))
        guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
            throw ImageError(.unsafeLayer, "\(what): whiteout \(dirPath)/\(name) names no entry")
        }
        try root.remove(hidden, in: parent)
    }

    private func makeDirectory(_ e: LayerEntry, name: String, in parent: Int32, _ joined: String) throws(ImageError) {
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) != S_IFDIR {
            try root.remove(name, in: parent)
        }
        let created = mkdirat(parent, name, 0o700) == 0
        if !created && errno != EEXIST {
            throw ImageError(.io, "directory \(joined)", underlying: SystemError("mkdirat", joined))
        }
        let d = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard d >= 0 else { throw ImageError(.io, "directory \(joined)", underlying: SystemError("openat", joined)) }
        defer { close(d) }
        if created { try root.recordCreated(d, in: parent, joined) }
        applyMetadata(e, fd: d, joined)
    }

    private func writeFile(_ e: LayerEntry, name: String, in parent: Int32, _ reader: LayerReader, _ joined: String) throws(ImageError) {
        let f = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw ImageError(.io, "file \(joined)", underlying: SystemError("openat", joined)) }
        defer { close(f) }
        var end: Int64 = 0
        try reader.readData { (offset, bytes) throws(ImageError) in
            guard offset >= 0, Int64(bytes.count) <= e.size - offset else {
                throw ImageError(.unsafeLayer, "file \(joined): more data than its declared \(e.size) bytes")
            }
            var done = 0
            while done < bytes.count {
                let n = pwrite(f, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ImageError(.io, "file \(joined)", underlying: SystemError("write", joined))
                }
                done += n
            }
            end = max(end, offset + Int64(bytes.count))
        }
        if end < e.size && ftruncate(f, off_t(e.size)) != 0 {  // a sparse file's trailing hole
            throw ImageError(.io, "file \(joined)", underlying: SystemError("ftruncate", joined))
        }
        applyMetadata(e, fd: f, joined)
    }

    private func makeHardLink(_ e: LayerEntry, name: String, in parent: Int32, _ joined: String, _ what: String) throws(ImageError) {
        let targetParts = try Self.components(e.linkTarget!, what)
        let target = root.openNoFollow(targetParts)
        guard target >= 0 else {
            throw ImageError(
                .unsafeLayer, "\(what): hard link \(joined) → \(e.linkTarget!): the target is not a file of the image",
                underlying: SystemError("openat2", e.linkTarget!))
        }
        defer { close(target) }
        var st = stat()
        guard fstat(target, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else {
            throw ImageError(.unsafeLayer, "\(what): hard link \(joined) → \(e.linkTarget!): the target is a directory")
        }
        try root.remove(name, in: parent)
        guard linkat(target, "", parent, name, Syscall.AT_EMPTY_PATH) == 0 else {
            throw ImageError(.io, "\(what): hard link \(joined)", underlying: SystemError("linkat", joined))
        }
    }

    /// Owner, mode (set after chown, which would clear setuid bits: they are kept as the image has
    /// them; sandboxes mount images nosuid), `user.*` xattrs and mtime of an open file. Other
    /// xattr namespaces (`security.capability`, `system.posix_acl_*`, `trusted.overlay.*`, …) are
    /// dropped with a warning: they would grant what mode and owner do not show.
    private func applyMetadata(_ e: LayerEntry, fd: Int32, _ joined: String) {
        fchown(fd, e.uid, e.gid)
        fchmod(fd, e.mode)
        for (name, value) in e.xattrs {
            guard name.hasPrefix("user.") else {
                report.warn("\(joined): xattr \(name) dropped (only user.* xattrs are kept)")
                continue
            }
            let r = value.withUnsafeBytes { Syscall.setExtendedAttribute(fd, name, $0) }
            if r != 0 { report.warn("\(joined): xattr \(name) not set: \(Errno.current.explained)") }
        }
        var times = Self.times(e)
        futimens(fd, &times)
    }

    private func setTimes(_ e: LayerEntry, name: String, in parent: Int32) {
        var times = Self.times(e)
        utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// Access and modification time, both the entry's mtime (tar keeps no other).
    private static func times(_ e: LayerEntry) -> [timespec] {
        let mtime = timespec(tv_sec: e.mtimeSeconds, tv_nsec: e.mtimeNanoseconds)
        return [mtime, mtime]
    }
}
