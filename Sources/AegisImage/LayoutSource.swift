// LayoutSource.swift — images from an OCI image layout directory (`oci:DIR[:TAG]`, image-spec
// image-layout.md) or from a tar of one (`oci-archive:FILE[:TAG]`), for air-gapped hosts. The
// layout is untrusted like a registry: every file is opened beneath its directory without
// following symlinks, documents are size-capped, and every byte is checked against its digest.
import AegisSystem
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

public struct LayoutSource: ImageSource {
    public let directory: String
    public let tag: String?
    public var name: String { "OCI layout \(directory)" }

    public init(directory: String, tag: String?) {
        self.directory = directory
        self.tag = tag
    }

    /// Unpacks the archive at `path` (a plain tar: an archive of compressed blobs is not
    /// compressed again) into `scratch` (a new directory the caller removes after the pull) with
    /// the same rules and `limits` as image layers, and reads it as a layout.
    public static func extractingArchive(
        _ path: String, tag: String?, into scratch: String, limits: UnpackLimits = UnpackLimits()
    ) throws(ImageError) -> LayoutSource {
        do { try FileSystem.makeDirectories(scratch, mode: 0o700) } catch {
            throw ImageError(.io, "oci-archive \(path): scratch directory", underlying: error)
        }
        try LayerUnpacker(rootfs: scratch, limits: limits).apply(layerAt: path, diffID: nil, what: "oci-archive \(path)")
        return LayoutSource(directory: scratch, tag: tag)
    }

    /// Opens `relative` beneath the layout directory: no "..", no symlink, no other mount's magic.
    private func openBeneath(_ relative: String) throws(ImageError) -> Int32 {
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw ImageError(.notFound, "\(name): cannot open", underlying: SystemError("open", directory)) }
        defer { close(dir) }
        let fd = Syscall.openat2(dir, relative, flags: O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, resolve: .strictlyBeneath)
        guard fd >= 0 else {
            let e = SystemError("openat2", "\(directory)/\(relative)")
            // A symlink or ".." out of the layout is refused for good, not retried as I/O.
            let kind: ImageError.Kind =
                e.errno.code == ENOENT ? .notFound : (e.errno.code == ELOOP || e.errno.code == EXDEV ? .unsafeLayer : .io)
            throw ImageError(kind, "\(name): \(relative)", underlying: e)
        }
        // A FIFO or device in a layout must not hang or feed the pull: regular files only.
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ImageError(.invalidManifest, "\(name): \(relative) is not a regular file")
        }
        return fd
    }

    private func readBeneath(_ relative: String, limit: Int) throws(ImageError) -> [UInt8] {
        let fd = try openBeneath(relative)
        defer { close(fd) }
        do { return try FileSystem.readBytes(fd: fd, path: "\(directory)/\(relative)", limit: limit) } catch {
            throw ImageError(error.errno.code == EFBIG ? .limitExceeded : .io, "\(name): \(relative)", underlying: error)
        }
    }

    private func blobPath(_ d: Digest) -> String { "blobs/\(d.algorithm.rawValue)/\(d.hex)" }

    public func fetchRoot() async throws(ImageError) -> FetchedManifest {
        let index = try ImageIndex.decode(try readBeneath("index.json", limit: maxManifestBytes), "\(name): index.json")
        let refName = "org.opencontainers.image.ref.name"
        let candidates = tag.map { t in index.manifests.filter { $0.annotations?[refName] == t } } ?? index.manifests
        guard let chosen = candidates.first, candidates.count == 1 else {
            let tags = index.manifests.compactMap { $0.annotations?[refName] }
            if let tag {
                throw ImageError(
                    .notFound, "\(name): no image tagged \(tag) (tags: \(tags.isEmpty ? "none" : tags.joined(separator: ", ")))")
            }
            throw ImageError(
                .invalidReference,
                "\(name) holds \(index.manifests.count) images: name one with :TAG (tags: \(tags.joined(separator: ", ")))")
        }
        return try await fetchManifest(chosen)
    }

    public func fetchManifest(_ descriptor: Descriptor) async throws(ImageError) -> FetchedManifest {
        guard descriptor.size <= Int64(maxManifestBytes) else {
            throw ImageError(.limitExceeded, "\(name): manifest \(descriptor.digest) is \(descriptor.size) bytes")
        }
        let bytes = try readBeneath(blobPath(descriptor.digest), limit: maxManifestBytes)
        try descriptor.verify(bytes, "\(name): manifest \(descriptor.digest)")
        return FetchedManifest(mediaType: descriptor.mediaType, bytes: bytes, digest: descriptor.digest)
    }

    public func fetchBlob(_ descriptor: Descriptor, into writer: BlobWriter) async throws(ImageError) {
        let fd = try openBeneath(blobPath(descriptor.digest))
        defer { close(fd) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk.baseAddress, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageError(
                    .io, "\(name): read blob \(descriptor.digest)", underlying: SystemError("read", blobPath(descriptor.digest)))
            }
            if n == 0 { return }
            try writer.write(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }
}
