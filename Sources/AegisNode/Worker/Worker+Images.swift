// Worker+Images.swift — placements that run from an OCI image: the pull by the workload's policy
// (off the launch threads: pulls are async and may take minutes), the sandbox's image root, and
// which unpacked images live sandboxes use (so `prune` keeps them).
//
// A placement's image scratch (`<workload dir>/rootfs.g<generation>`: the overlay's mount point
// and, in mode overlay, the mount point of its upper's tmpfs) records the rootfs key it runs on in
// `image-key`; it is removed when the placement is
// released, so an image is in use exactly while some scratch names it.
#if canImport(Glibc)
import Glibc
#endif
import AegisImage
import AegisProtocol
import AegisSandbox
import AegisSystem

/// The image a placement runs from, as pulled: where its rootfs is and its config.
public struct PulledImage: Sendable {
    public var record: ImageRecord
    public var rootfs: String

    public init(record: ImageRecord, rootfs: String) {
        self.record = record
        self.rootfs = rootfs
    }
}

extension Worker {
    /// The shared skeleton layer of image sandboxes (`AgentProfile.prepareImageSkeleton`).
    var imageSkeleton: String { paths.sandboxes + "/.image-skeleton" }

    /// The image scratch of one placement.
    func imageScratch(_ workloadID: String, generation: Int64) -> String {
        paths.workloadDir(workloadID) + "/rootfs.g\(generation)"
    }

    /// Starts an assignment: at once when it has no image; otherwise hands it to the image queue
    /// (`imageStarts`, drained by the node's image service through `startFromImage`).
    public func submit(_ a: Assignment) async {
        if a.workload.spec.image == nil { return await startOffPool(a) }
        imageStartInput.yield(a)
    }

    /// Pulls the assignment's image by its policy, then starts it (`startOffPool`). A pull that
    /// fails reports `.imagePullFailed` and starts nothing.
    /// - Parameter pulled: called after the store changed (to advertise the node's images).
    public func startFromImage(_ a: Assignment, pulled: @Sendable () async -> Void = {}) async {
        guard let spec = a.workload.spec.image else { return await startOffPool(a) }
        let w = a.workload
        let id = Self.sandboxID(w.id, w.generation)
        let stopped = { [self] in flags.withLock { $0.cancelled.contains(id) } }
        do {
            var resolved = a
            // The pull as a task a kill can cancel (`cancel` → `pullCancellers`), awaited here.
            let pull = Task { [self] () async throws -> (PulledImage, pulled: Bool) in try await pullImage(spec) }
            pullCancellers.withLock { $0[id] = { pull.cancel() } }
            defer { _ = pullCancellers.withLock { $0.removeValue(forKey: id) } }
            if stopped() { pull.cancel() }
            let (image, changed) = try await withTaskCancellationHandler {
                try await pull.value
            } onCancel: {
                pull.cancel()
            }
            // Pinned by `pullImage` (kept from garbage collection) until its sandbox exists and
            // records the image itself.
            let key = image.record.rootfsKey
            defer {
                startingImages.withLock {
                    $0[key, default: 1] -= 1
                    if $0[key] == 0 { $0[key] = nil }
                }
            }
            if changed {
                await collectImageGarbage()
                await pulled()
            }
            // Killed (or drained) while the image was pulled: nothing starts.
            if stopped() {
                onEvent(.imagePullFailed(id: w.id, generation: w.generation, error: "stopped before it started", retryable: false))
                return
            }
            resolved.image = image
            await startOffPool(resolved)
        } catch  where stopped() {
            onEvent(.imagePullFailed(id: w.id, generation: w.generation, error: "stopped while its image was pulled", retryable: false))
        } catch {
            let e = error as? ImageError ?? ImageError(.transport, "image \(spec.reference): pull interrupted", underlying: error)
            logger.warning("image pull failed", metadata: ["workload": "\(w.id)", "image": "\(spec.reference)", "error": "\(e)"])
            // Policy Never: only an operator's `aegis image pull` on this node can help.
            let retryable = spec.pullPolicy != .never && Self.retryable(e)
            onEvent(.imagePullFailed(id: w.id, generation: w.generation, error: e.description, retryable: retryable))
        }
    }

    /// The names of the images this node holds, advertised for the scheduler's locality score
    /// (`NodeCapabilities.images`): every spelling of each image's reference
    /// (`ImageReference.names`: `python:3.12` and `docker.io/library/python:3.12` alike).
    public func heldImages() -> [String] {
        guard let records = try? images?.list() else { return [] }
        let names = records.flatMap { r in (try? ImageReference(parsing: r.reference))?.names ?? [r.reference] }
        return Array(Set(names)).sorted()
    }

    /// The image of `spec` on this node, pulled first when its policy says so.
    /// - Throws: `ImageError`; `.notFound` for policy Never without the image, `.unsupported`
    ///   when this worker has no image store.
    /// - Returns: the image, and whether it was pulled (the store may have changed).
    /// The image comes back pinned in `startingImages` (the caller unpins it once its sandbox
    /// records the image): lookup, pull and pin happen while the store's garbage collection is held
    /// off, so no collection can take the image in between.
    func pullImage(_ spec: ImageSpec) async throws(ImageError) -> (PulledImage, pulled: Bool) {
        guard let images else { throw ImageError(.unsupported, "image \(spec.reference): this worker has no image store") }
        try checkLocalSource(try ImageReference(parsing: spec.reference))
        return try await images.holdingImages { () throws(ImageError) in
            var record: ImageRecord? = spec.pullPolicy == .always ? nil : try images.find(spec.reference)
            let pulled = record == nil
            if record == nil {
                guard spec.pullPolicy != .never else {
                    throw ImageError(
                        .notFound, "image \(spec.reference) is not on this node and imagePullPolicy is Never (aegis image pull it there)")
                }
                record = try await images.pull(spec.reference, options: registryOptions)
            }
            let image = PulledImage(record: record!, rootfs: images.rootfsPath(record!))
            startingImages.withLock { $0[image.record.rootfsKey, default: 0] += 1 }
            return (image, pulled)
        }
    }

    /// After a pull: when the image store's file system is at least `imageGC.highPercent` full,
    /// forgets and prunes the oldest-pulled images no placement uses (nor any being started) until
    /// it is below `imageGC.lowPercent` (the kubelet's image GC).
    func collectImageGarbage() async {
        guard let images, let gc = imageGC, let used = Self.usedPercent(images.root), used >= Double(gc.highPercent) else { return }
        do {
            let removed = try await images.collectGarbage(
                inUse: { Self.imagesInUse(paths: self.paths).union(self.startingImages.withLock { Set($0.keys) }) },
                until: { (Self.usedPercent(images.root) ?? 0) < Double(gc.lowPercent) })
            logger.notice(
                "image garbage collection", metadata: ["used-percent": "\(Int(used))", "removed": "\(removed.map(\.reference))"])
        } catch {
            logger.warning("image garbage collection failed", metadata: ["error": "\(error)"])
        }
    }

    /// How full the file system holding `path` is, percent of its blocks (statvfs), or nil.
    static func usedPercent(_ path: String) -> Double? {
        var st = statvfs()
        guard statvfs(path, &st) == 0, st.f_blocks > 0 else { return nil }
        return Double(st.f_blocks - st.f_bfree) * 100 / Double(st.f_blocks)
    }

    /// A workload may name a local source (`oci:`, `oci-archive:`) only beneath one of the node's
    /// `localImageDirectories` (real paths compared, so a symlink can't lead out): the worker
    /// reads as root, and a tenant must not make it open host files.
    /// - Throws: `.invalidReference` naming the path and the allowed directories.
    func checkLocalSource(_ reference: ImageReference) throws(ImageError) {
        let path: String
        switch reference {
        case .registry: return
        case let .layout(p, _), let .archive(p, _): path = p
        }
        let resolved = realpath(path, nil).map { real in
            defer { free(real) }
            return String(cString: real)
        }
        guard let resolved, localImageDirectories.contains(where: { resolved.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            let allowed =
                localImageDirectories.isEmpty ? "none are (aegis up --local-images DIR)" : localImageDirectories.joined(separator: ", ")
            throw ImageError(
                .invalidReference, "image \(reference): \(path) is not beneath the node's local image directories (\(allowed))")
        }
    }

    /// Whether a later attempt may succeed: connections, registry answers, a missing tag or
    /// credentials and local I/O may change; a bad reference, content refused as unsafe or
    /// unsupported, or a mismatching digest will not.
    static func retryable(_ error: ImageError) -> Bool {
        switch error.kind {
        case .transport, .registry, .notFound, .unauthorized, .io: return true
        case .invalidReference, .digestMismatch, .invalidManifest, .unsupported, .unsafeLayer, .limitExceeded, .inUse: return false
        }
    }

    /// The sandbox root of a placement from `image`, its scratch prepared and its key recorded.
    /// The image's `User` (resolved in its own /etc/passwd and /etc/group) is mapped onto the
    /// agent's uid: its files are the agent's (`ImageRoot.Owner`).
    /// - Throws: `SandboxError` naming the directory or file, or the user the image can't resolve.
    func imageRoot(_ a: Assignment, image: PulledImage) throws -> ImageRoot {
        let w = a.workload
        let config = image.record.config.config
        let user: ImageUser
        do { user = try ImageUser.resolve(w.spec.image?.user ?? config?.User, rootfs: image.rootfs) } catch {
            throw SandboxError(.invalidSpec, "image \(image.record.reference): \(error)", underlying: error)
        }
        let root = ImageRoot(
            imageRootfs: image.rootfs, skeleton: imageSkeleton, scratch: imageScratch(w.id, generation: w.generation),
            mode: w.spec.image?.rootfs == .overlay ? .overlay : .readOnly, env: Self.validEnv(config?.Env ?? []),
            workingDir: w.spec.image?.workingDir ?? config?.WorkingDir.flatMap { $0.hasPrefix("/") ? $0 : nil },
            owner: ImageRoot.Owner(imageUID: user.uid, imageGID: user.gid, uid: a.uid, gid: a.uid),
            upperSizeBytes: w.spec.resources.tmpBytes ?? ImageRoot.defaultUpperSizeBytes)
        try root.prepare()
        do { try FileSystem.writeAtomically(root.scratch + "/image-key", Array(image.record.rootfsKey.utf8), mode: 0o600) } catch {
            throw SandboxError(.system, "record the image of \(root.scratch)", underlying: error)
        }
        return root
    }

    /// The image's `Env` entries that are `KEY=VALUE` with a non-empty key (others are dropped, as
    /// an entry without "=" would fail every start).
    static func validEnv(_ env: [String]) -> [String] {
        env.filter { entry in entry.firstIndex(of: "=").map { $0 != entry.startIndex } ?? false }
    }

    /// The argv of a placement from `image`: the workload's, or the image's Entrypoint and Cmd
    /// (`ImageSpec.argv`).
    /// - Throws: `SandboxError` when that leaves nothing to run.
    static func imageArgv(_ spec: WorkloadSpec, image: PulledImage) throws -> [String] {
        let config = image.record.config.config
        let argv = spec.image?.argv(args: spec.args, entrypoint: config?.Entrypoint, cmd: config?.Cmd) ?? spec.args
        guard !argv.isEmpty else {
            throw SandboxError(
                .invalidSpec, "image \(image.record.reference) has no Entrypoint or Cmd and the workload gives no command")
        }
        return argv
    }

    /// Removes a released placement's image scratch (its overlay upper included).
    func removeImageScratch(_ workloadID: String, generation: Int64) {
        let dir = imageScratch(workloadID, generation: generation)
        if access(dir, F_OK) == 0 { FileSystem.removeTree(dir) }
    }

    /// Rootfs keys of the images placements on this node run from (see the file's header);
    /// what `ImageStore.prune(inUse:)` and `remove(_:inUse:)` must keep.
    public static func imagesInUse(paths: AegisPaths) -> Set<String> {
        var keys = Set<String>()
        for workload in FileSystem.entryNames(in: paths.workloads) {
            let dir = paths.workloadDir(workload)
            for name in FileSystem.entryNames(in: dir) where name.hasPrefix("rootfs.g") {
                if let bytes = try? FileSystem.readBytes(dir + "/" + name + "/image-key", limit: 256) {
                    keys.insert(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        return keys
    }
}
