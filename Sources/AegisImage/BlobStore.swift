// BlobStore.swift — the content-addressed blob store under `<images>/blobs/<alg>/<hex>`. A blob
// enters only through `BlobWriter`, which hashes the bytes as they stream in (never holding the
// blob in memory), refuses a byte past the expected size, and publishes the file by rename only
// when size and digest match; anything else leaves no file behind.
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// Content-addressed blobs on disk. Thread- and process-safe: writers use unique temporary
/// names and publish with rename(2); `withLock` serialises work on one key across processes.
public final class BlobStore: Sendable {
    /// The image store's root (`<data-dir>/images`); blobs live in `root/blobs`.
    public let root: String

    public init(root: String) throws(ImageError) {
        self.root = root
        do {
            for dir in [root, "\(root)/blobs/sha256", "\(root)/blobs/sha512", "\(root)/ingest", "\(root)/locks"] {
                try FileSystem.makeDirectories(dir, mode: 0o700)
            }
        } catch { throw ImageError(.io, "create the image store at \(root)", underlying: error) }
    }

    /// Where the blob of `digest` is (whether or not it exists).
    public func path(of digest: Digest) -> String { "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.hex)" }

    /// Whether the blob is stored with the descriptor's size (its digest was checked when written).
    public func has(_ d: Descriptor) -> Bool {
        var st = stat()
        return lstat(path(of: d.digest), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && Int64(st.st_size) == d.size
    }

    /// Digests of every stored blob.
    public func list() -> [Digest] {
        [Digest.Algorithm.sha256, .sha512].flatMap { alg in
            FileSystem.entryNames(in: "\(root)/blobs/\(alg.rawValue)").compactMap { try? Digest(parsing: "\(alg.rawValue):\($0)") }
        }
    }

    /// Deletes a blob (no error when it is already gone).
    public func remove(_ digest: Digest) { unlink(path(of: digest)) }

    /// Reads a whole small blob (manifest, config), at most `limit` bytes, checking its digest again.
    public func read(_ d: Descriptor, limit: Int = 4 << 20) throws(ImageError) -> [UInt8] {
        guard d.size <= Int64(limit) else {
            throw ImageError(.limitExceeded, "blob \(d.digest) is \(d.size) bytes, more than the \(limit) a \(d.mediaType) may have")
        }
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path(of: d.digest), limit: limit + 1) } catch {
            throw ImageError(.io, "read blob \(d.digest)", underlying: error)
        }
        try d.verify(bytes, "stored blob \(d.digest)")
        return bytes
    }

    /// A writer for the blob `d`: stream its bytes in, then `commit()`.
    public func writer(for d: Descriptor) throws(ImageError) -> BlobWriter {
        try BlobWriter(store: self, expected: d)
    }

    /// Runs `body` holding the lock named `key` across threads and processes (flock(2) on
    /// `locks/<key>`, polled every 20 ms): exclusive, or `shared` with other shared holders. A
    /// second pull of the same blob or image waits and then finds the work done.
    public func withLock<T>(_ key: String, shared: Bool = false, _ body: () async throws -> T) async throws -> T {
        let lockPath = "\(root)/locks/\(key)"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ImageError(.io, "open lock", underlying: SystemError("open", lockPath)) }
        defer { close(fd) }
        while flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw ImageError(.io, "lock", underlying: SystemError("flock", lockPath)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await body()
    }
}

/// Streams one blob into the store: a temporary file under `ingest/`, hashed as written.
public final class BlobWriter {
    public let expected: Descriptor
    private let store: BlobStore
    private let tempPath: String
    private var fd: Int32
    private var hasher: DigestHasher
    private var done = false

    init(store: BlobStore, expected: Descriptor) throws(ImageError) {
        self.store = store
        self.expected = expected
        var rng = SystemRandomNumberGenerator()
        tempPath = "\(store.root)/ingest/\(expected.digest.hex).\(getpid()).\(rng.next() as UInt64)"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ImageError(.io, "create a blob download", underlying: SystemError("open", tempPath)) }
        hasher = DigestHasher(expected.digest.algorithm)
    }

    deinit { abandon() }

    /// Bytes written so far.
    public var written: Int64 { hasher.count }
    /// Called after every write with the bytes written so far (progress displays).
    public var onProgress: ((Int64) -> Void)?

    /// Appends bytes; refuses (and abandons the download) once they pass the expected size.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        guard !done else { throw ImageError(.io, "blob \(expected.digest): write after the download ended") }
        guard hasher.count + Int64(bytes.count) <= expected.size else {
            abandon()
            throw ImageError(.digestMismatch, "blob \(expected.digest): more than the \(expected.size) bytes its descriptor declares")
        }
        hasher.update(bytes)
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let e = SystemError("write", tempPath)
                abandon()
                throw ImageError(.io, "blob \(expected.digest)", underlying: e)
            }
            offset += n
        }
        onProgress?(hasher.count)
    }

    public func write(_ bytes: [UInt8]) throws(ImageError) {
        var failure: ImageError?
        bytes.withUnsafeBytes { raw in
            do throws(ImageError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Checks size and digest, syncs, and publishes the blob; on a mismatch removes the download.
    public func commit() throws(ImageError) {
        guard !done else { throw ImageError(.io, "blob \(expected.digest): commit after the download ended") }
        guard hasher.count == expected.size else {
            abandon()
            throw ImageError(
                .digestMismatch,
                "blob \(expected.digest): \(hasher.count) bytes arrived, its descriptor declares \(expected.size) (truncated)")
        }
        let got = hasher.finalize()
        guard got == expected.digest else {
            abandon()
            throw ImageError(.digestMismatch, "blob \(expected.digest): the content hashes to \(got)")
        }
        if fsync(fd) != 0 {
            let e = SystemError("fsync", tempPath)
            abandon()
            throw ImageError(.io, "blob \(expected.digest)", underlying: e)
        }
        close(fd)
        fd = -1
        let final = store.path(of: expected.digest)
        if rename(tempPath, final) != 0 {
            let e = SystemError("rename to", final)
            abandon()
            throw ImageError(.io, "blob \(expected.digest)", underlying: e)
        }
        done = true
        try? FileSystem.syncDirectory(FileSystem.parentDirectory(of: final))
    }

    /// Stops the download and removes what was written (idempotent).
    public func abandon() {
        guard !done else { return }
        done = true
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(tempPath)
    }
}
