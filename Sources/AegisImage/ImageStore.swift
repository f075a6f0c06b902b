// ImageStore.swift — the node's images under `<data-dir>/images`: blobs (BlobStore), one unpacked
// read-only rootfs per layer chain under `rootfs/<key>`, and the records of pulled references in
// `images.json`. A pull fetches the manifest (an index resolved to the node's platform), config
// and layers — each verified as it streams, each downloaded once however many pulls want it — and
// unpacks into a scratch directory that becomes the rootfs by rename only when every layer applied:
// an interrupted or refused pull leaves no usable partial image.
//
// Pulls hold the store's "gc" lock shared and `prune` holds it exclusively, so a prune never
// removes the blobs, downloads or scratch directory of a pull in progress.
//
// The rootfs key is the sha256 of the manifest's layer digests, not the config digest: the layer
// blobs are what was verified, so two images can share a rootfs only when their verified layers
// are the same (a config copied from another image cannot make a pull reuse that image's rootfs).
import AegisSystem
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A pulled image, as `aegis image ls` lists it.
public struct ImageRecord: Codable, Sendable, Equatable {
    /// The reference as pulled (`ImageReference.description`).
    public var reference: String
    public var manifestDigest: Digest
    public var configDigest: Digest
    public var layers: [Descriptor]
    /// Names the rootfs under `rootfs/`.
    public var rootfsKey: String
    public var config: ImageConfiguration
    /// Compressed bytes of config and layers.
    public var sizeBytes: Int64
    public var pulledAtMs: Int64
}

/// Steps of a pull, for a progress display.
public enum PullProgress: Sendable {
    case resolved(manifest: Digest, layers: Int, bytes: Int64)
    case blobStarted(Digest, size: Int64)
    case blobBytes(Digest, written: Int64, size: Int64)
    case blobDone(Digest, alreadyStored: Bool)
    case unpacking(layers: Int)
    /// Entries not reproduced (device nodes, FIFOs, dropped xattrs): the first
    /// `UnpackReport.maxWarnings` lines and how many more there were. Only when it unpacked.
    case unpacked(warnings: [String], leftOut: Int)
    case done(ImageRecord)
}

public final class ImageStore: Sendable {
    public let blobs: BlobStore
    public let limits: UnpackLimits
    public var root: String { blobs.root }

    public init(root: String, limits: UnpackLimits = UnpackLimits()) throws(ImageError) {
        blobs = try BlobStore(root: root)
        self.limits = limits
        do { try FileSystem.makeDirectories("\(root)/rootfs", mode: 0o700) } catch {
            throw ImageError(.io, "create \(root)/rootfs", underlying: error)
        }
    }

    /// Where the rootfs of `record` is.
    public func rootfsPath(_ record: ImageRecord) -> String { "\(root)/rootfs/\(record.rootfsKey)" }

    // MARK: - pull

    /// Pulls `reference` from `source` (already fetched blobs and unpacked rootfs are reused).
    public func pull(
        _ reference: ImageReference, from source: any ImageSource, platform: Platform = .node,
        progress: @escaping @Sendable (PullProgress) -> Void = { _ in }
    ) async throws(ImageError) -> ImageRecord {
        try await locked("gc", shared: true) { () throws(ImageError) in
            try await pullHoldingGC(reference, from: source, platform: platform, progress: progress)
        }
    }

    /// `pull`, the caller holding "gc" shared.
    func pullHoldingGC(
        _ reference: ImageReference, from source: any ImageSource, platform: Platform = .node,
        progress: @escaping @Sendable (PullProgress) -> Void
    ) async throws(ImageError) -> ImageRecord {
        let what = "image \(reference)"
        var fetched = try await source.fetchRoot()
        if MediaType.isIndex(fetched.mediaType) || (!MediaType.isManifest(fetched.mediaType) && Self.looksLikeIndex(fetched.bytes)) {
            let index = try ImageIndex.decode(fetched.bytes, "\(what): index \(fetched.digest)")
            fetched = try await source.fetchManifest(try index.manifest(for: platform, "\(what): index \(fetched.digest)"))
        }
        let manifest = try ImageManifest.decode(fetched.bytes, "\(what): manifest \(fetched.digest)")
        guard manifest.config.size <= Int64(maxManifestBytes) else {
            throw ImageError(
                .limitExceeded,
                "\(what): its config declares \(manifest.config.size) bytes, more than \(maxManifestBytes) (nothing fetched)")
        }
        var total = manifest.config.size
        for layer in manifest.layers {
            guard layer.size <= limits.maxBytes - total else {
                throw ImageError(
                    .limitExceeded, "\(what): its blobs declare more than the \(limits.maxBytes) bytes an image may have (nothing fetched)")
            }
            total += layer.size
        }
        progress(.resolved(manifest: fetched.digest, layers: manifest.layers.count, bytes: total))

        try await fetchBlob(manifest.config, from: source, progress: progress)
        let configBytes = try blobs.read(manifest.config)
        let config: ImageConfiguration
        do { config = try JSONDecoder().decode(ImageConfiguration.self, from: Data(configBytes)) } catch {
            throw ImageError(.invalidManifest, "\(what): config \(manifest.config.digest) is not an image configuration", underlying: error)
        }
        guard config.os == platform.os, config.architecture == platform.architecture else {
            throw ImageError(
                .unsupported, "\(what) is for \(config.os)/\(config.architecture); this node runs \(platform.os)/\(platform.architecture)")
        }
        guard config.rootfs.diff_ids.count == manifest.layers.count else {
            throw ImageError(
                .invalidManifest, "\(what): the config lists \(config.rootfs.diff_ids.count) layers, the manifest \(manifest.layers.count)")
        }
        for layer in manifest.layers { try await fetchBlob(layer, from: source, progress: progress) }

        let key = Digest.of(Array(manifest.layers.map(\.digest.description).joined(separator: "\n").utf8)).hex
        progress(.unpacking(layers: manifest.layers.count))
        try await unpackIfMissing(key: key, layers: manifest.layers, diffIDs: config.rootfs.diff_ids, what: what, progress: progress)

        let record = ImageRecord(
            reference: reference.description, manifestDigest: fetched.digest, configDigest: manifest.config.digest,
            layers: manifest.layers, rootfsKey: key, config: config, sizeBytes: total, pulledAtMs: Self.nowMs())
        try await updateRecords { (records) throws(ImageError) in
            records.removeAll { $0.reference == record.reference }
            records.append(record)
        }
        progress(.done(record))
        return record
    }

    static func looksLikeIndex(_ bytes: [UInt8]) -> Bool {
        (try? JSONDecoder().decode(ImageIndex.self, from: Data(bytes))) != nil
            && (try? JSONDecoder().decode(ImageManifest.self, from: Data(bytes))) == nil
    }

    /// Fetches one blob unless stored; concurrent pulls of it (threads or processes) share one download.
    private func fetchBlob(
        _ d: Descriptor, from source: any ImageSource, progress: @escaping @Sendable (PullProgress) -> Void
    ) async throws(ImageError) {
        if blobs.has(d) {
            progress(.blobDone(d.digest, alreadyStored: true))
            return
        }
        try await locked("blob-\(d.digest.hex)") { () throws(ImageError) in
            if blobs.has(d) {
                progress(.blobDone(d.digest, alreadyStored: true))
                return
            }
            progress(.blobStarted(d.digest, size: d.size))
            let writer = try blobs.writer(for: d)
            writer.onProgress = { progress(.blobBytes(d.digest, written: $0, size: d.size)) }
            do throws(ImageError) {
                try await source.fetchBlob(d, into: writer)
                try writer.commit()
            } catch {
                writer.abandon()
                throw error
            }
            progress(.blobDone(d.digest, alreadyStored: false))
        }
    }

    private func unpackIfMissing(
        key: String, layers: [Descriptor], diffIDs: [Digest], what: String, progress: @Sendable (PullProgress) -> Void
    ) async throws(ImageError) {
        let final = "\(root)/rootfs/\(key)"
        if (try? FileSystem.exists(final)) == true { return }
        try await locked("rootfs-\(key)") { () throws(ImageError) in
            if (try? FileSystem.exists(final)) == true { return }
            var rng = SystemRandomNumberGenerator()
            let scratch = "\(root)/rootfs/.unpack-\(key)-\(rng.next() as UInt64)"
            guard mkdir(scratch, 0o755) == 0 else { throw ImageError(.io, "\(what): unpack", underlying: SystemError("mkdir", scratch)) }
            do throws(ImageError) {
                let (limits, blobs) = (limits, blobs)
                let report = try await Self.offPool { () throws(ImageError) -> UnpackReport in
                    let unpacker = try LayerUnpacker(rootfs: scratch, limits: limits)
                    for (i, layer) in layers.enumerated() {
                        try unpacker.apply(
                            layerAt: blobs.path(of: layer.digest), diffID: diffIDs[i], what: "\(what): layer \(i + 1) \(layer.digest)")
                    }
                    return unpacker.report
                }
                chmod(scratch, 0o755)
                guard rename(scratch, final) == 0 else {
                    throw ImageError(.io, "\(what): unpack", underlying: SystemError("rename to", final))
                }
                progress(.unpacked(warnings: report.warnings, leftOut: report.warningsLeftOut))
            } catch {
                FileSystem.removeTree(scratch)
                throw error
            }
        }
    }

    /// Runs blocking file work (unpacking a layer reads and writes for seconds) on a dispatch
    /// queue's thread, not on one of the few threads of Swift's cooperative pool, which the node's
    /// API and lease renewals share.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws(ImageError) -> T) async throws(ImageError) -> T {
        let result = await withCheckedContinuation { (done: CheckedContinuation<Result<T, ImageError>, Never>) in
            blockingWork.async {
                do throws(ImageError) { done.resume(returning: .success(try body())) } catch { done.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }

    static let blockingWork = DispatchQueue(label: "aegis.image.unpack", attributes: .concurrent)

    // MARK: - records

    /// Every pulled image, oldest first.
    public func list() throws(ImageError) -> [ImageRecord] {
        let path = "\(root)/images.json"
        guard (try? FileSystem.exists(path)) == true else { return [] }
        do {
            let bytes = try FileSystem.readBytes(path, limit: 64 << 20)
            return try JSONDecoder().decode([ImageRecord].self, from: Data(bytes))
        } catch { throw ImageError(.io, "read \(path)", underlying: error) }
    }

    /// The record of `reference` (as given to pull, or a manifest digest, or a unique prefix of one).
    public func find(_ reference: String) throws(ImageError) -> ImageRecord? { Self.find(reference, in: try list()) }

    static func find(_ reference: String, in all: [ImageRecord]) -> ImageRecord? {
        let normalized = (try? ImageReference(parsing: reference))?.description
        if let hit = all.first(where: { $0.reference == reference || $0.reference == normalized }) { return hit }
        let byDigest = all.filter { $0.manifestDigest.description.hasPrefix(reference) || $0.manifestDigest.hex.hasPrefix(reference) }
        return byDigest.count == 1 ? byDigest[0] : nil
    }

    /// Forgets a reference; its blobs and rootfs go at the next `prune` unless another image uses them.
    /// - Throws: `.notFound`; `.inUse` when `inUse` holds its rootfs key (a live sandbox runs on it).
    public func remove(_ reference: String, inUse: Set<String> = []) async throws(ImageError) -> ImageRecord {
        try await updateRecords { (records) throws(ImageError) in
            guard let record = Self.find(reference, in: records) else {
                let prefixed = records.filter {
                    $0.manifestDigest.hex.hasPrefix(reference) || $0.manifestDigest.description.hasPrefix(reference)
                }
                if prefixed.count > 1 {
                    throw ImageError(
                        .notFound,
                        "\(reference) is an ambiguous digest prefix: it matches \(prefixed.map(\.reference).joined(separator: ", "))")
                }
                throw ImageError(.notFound, "no image \(reference) on this node")
            }
            records.removeAll { $0.reference == record.reference }
            if inUse.contains(record.rootfsKey) && !records.contains(where: { $0.rootfsKey == record.rootfsKey }) {
                throw ImageError(.inUse, "image \(record.reference) is used by a running sandbox")
            }
            return record
        }
    }

    /// Automatic garbage collection (the kubelet's image GC): while `enough()` is false, forgets
    /// the oldest-pulled image whose rootfs no live sandbox uses (`inUse()`, rootfs keys, asked
    /// anew each round) and prunes what that freed. Stops when `enough()` holds or nothing unused
    /// is left. Holds "gc" exclusively throughout, so it never runs between a `holdingImages`
    /// caller's lookup and the pin it records there.
    /// - Returns: the records removed, oldest first.
    public func collectGarbage(inUse: () -> Set<String>, until enough: () -> Bool) async throws(ImageError) -> [ImageRecord] {
        try await locked("gc") { () throws(ImageError) in
            var removed: [ImageRecord] = []
            while !enough() {
                let keep = inUse()
                let oldest = try await updateRecords { (records) throws(ImageError) -> ImageRecord? in
                    let unused = records.indices.filter { !keep.contains(records[$0].rootfsKey) }
                    guard let i = unused.min(by: { records[$0].pulledAtMs < records[$1].pulledAtMs }) else { return nil }
                    return records.remove(at: i)
                }
                guard let oldest else { break }
                removed.append(oldest)
                _ = try pruneHoldingGC(inUse: keep)
            }
            return removed
        }
    }

    /// Runs `body` holding "gc" shared: no `prune` or `collectGarbage` runs meanwhile, so an image
    /// found in it stays until the caller records it in use (pulls hold it the same way).
    public func holdingImages<T>(_ body: () async throws(ImageError) -> T) async throws(ImageError) -> T {
        try await locked("gc", shared: true, body)
    }

    /// What `prune` removed.
    public struct PruneReport: Sendable {
        public var blobs = 0
        public var rootfs = 0
        public var bytes: Int64 = 0
    }

    /// Removes blobs and rootfs directories no record names and no live sandbox uses (`inUse`:
    /// rootfs keys), plus what interrupted pulls left (downloads, unpack scratch, lock files).
    /// Waits for pulls in progress and holds new ones off meanwhile ("gc" held exclusively).
    public func prune(inUse: Set<String> = []) async throws(ImageError) -> PruneReport {
        try await locked("gc") { () throws(ImageError) in try pruneHoldingGC(inUse: inUse) }
    }

    /// `prune`, the caller holding "gc" exclusively.
    func pruneHoldingGC(inUse: Set<String>) throws(ImageError) -> PruneReport {
        let records = try list()
        let keepBlobs = Set(records.flatMap { [$0.configDigest] + $0.layers.map(\.digest) })
        let keepRootfs = Set(records.map(\.rootfsKey)).union(inUse)
        var report = PruneReport()
        for d in blobs.list() where !keepBlobs.contains(d) {
            var st = stat()
            if lstat(blobs.path(of: d), &st) == 0 { report.bytes += Int64(st.st_size) }
            blobs.remove(d)
            report.blobs += 1
        }
        for name in FileSystem.entryNames(in: "\(root)/rootfs") where !keepRootfs.contains(name) {
            FileSystem.removeTree("\(root)/rootfs/\(name)")
            report.rootfs += 1
        }
        // No pull runs now: every download and every per-blob or per-rootfs lock file is a leftover.
        for name in FileSystem.entryNames(in: "\(root)/ingest") { FileSystem.removeTree("\(root)/ingest/\(name)") }
        for name in FileSystem.entryNames(in: "\(root)/locks") where name.hasPrefix("blob-") || name.hasPrefix("rootfs-") {
            unlink("\(root)/locks/\(name)")
        }
        return report
    }

    /// Reads, changes and rewrites images.json under the "images" lock; nothing is written when
    /// `change` throws.
    @discardableResult
    private func updateRecords<T>(_ change: (inout [ImageRecord]) throws(ImageError) -> T) async throws(ImageError) -> T {
        try await locked("images") { () throws(ImageError) in
            var records = try list()
            let result = try change(&records)
            let path = "\(root)/images.json"
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                try FileSystem.writeAtomically(path, Array(try encoder.encode(records)), mode: 0o600)
            } catch { throw ImageError(.io, "write \(path)", underlying: error) }
            return result
        }
    }

    func locked<T>(_ key: String, shared: Bool = false, _ body: () async throws(ImageError) -> T) async throws(ImageError) -> T {
        do {
            return try await blobs.withLock(key, shared: shared) { try await body() }
        } catch let e as ImageError { throw e } catch {
            throw ImageError(.io, "lock \(key)", underlying: error)
        }
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
