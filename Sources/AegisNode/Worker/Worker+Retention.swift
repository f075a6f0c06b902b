// Worker+Retention.swift — what stays of a placement once it ended: its logs and the outputs copied
// out of its work volume (`WorkVolume.retainOutputs`), in its workload directory, marked with the
// end time (`ended`). `removeExpiredWorkloads` deletes directories whose mark is older than the
// node's output retention (default 24 h) and that no sandbox uses; `OutputRetentionSweeper` runs it
// as a service of the node.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem
import Logging
import ServiceLifecycle

extension Worker {
    /// Marks the end of a workload's last placement on this node; its mtime is the end time.
    static let endedMarker = "ended"

    /// After sandbox `generation` of `workloadID` is removed (a retried removal; `release` queues
    /// its copy itself, before the removal): copies its outputs out of its work
    /// volume (deleting the volume) and marks the workload directory ended — on `outputCopies`, a
    /// serial queue, never on the caller's thread (the controller's event path, start-up). A copy
    /// that fails is not retried: what it copied and the image are removed (the error is logged).
    func retainOutputs(workloadID: String, generation: Int64) {
        outputCopies.async { [self] in copyOutputs(workloadID: workloadID, generation: generation) }
    }

    /// Waits until every copy queued so far is done, when `workloadDir` still has a volume (a new
    /// placement must not have its work directory replaced under a running copy).
    func waitForOutputCopies(workloadDir: String) {
        guard directoryNames(workloadDir, directories: false).contains(where: { $0.hasPrefix("work.g") }) else { return }
        outputCopies.sync {}
    }

    /// Before a read of `workloadID`'s outputs from the node's disk: copies out, now, the volumes
    /// of its sandboxes that have stopped (a read right after the end can come before `release`),
    /// and waits for copies already queued. A placement being created (no record yet) or running
    /// is left alone.
    func settleEndedVolumes(workloadID: String) {
        let dir = paths.workloadDir(workloadID)
        for sid in runtime.list() {
            guard let (wid, generation) = Self.parseSandboxID(sid), wid == workloadID,
                WorkVolume.load(from: dir, generation: generation) != nil,
                let record = try? runtime.record(sid), runtime.status(record) == .stopped
            else { continue }
            outputCopies.sync { copyOutputs(workloadID: workloadID, generation: generation) }
        }
        waitForOutputCopies(workloadDir: dir)
    }

    func copyOutputs(workloadID: String, generation: Int64) {
        let dir = paths.workloadDir(workloadID)
        if let volume = WorkVolume.load(from: dir, generation: generation) {
            do {
                if try !volume.retainOutputs(in: dir, destination: dir + "/work") {
                    logger.warning(
                        "outputs cut at what the agent used in its work volume (sparse files, hard links)",
                        metadata: ["workload": "\(workloadID)", "bytes": "\(volume.sizeBytes)"])
                }
            } catch {
                logger.error(
                    "outputs not copied out of the work volume; removed",
                    metadata: ["workload": "\(workloadID)", "error": "\(error)"])
                FileSystem.removeTree(dir + "/work")
                WorkVolume.remove(in: dir, generation: generation)
            }
        }
        let marker = dir + "/" + Self.endedMarker
        let fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    /// At start-up: volumes whose sandbox has no record (a worker stopped between removing the
    /// sandbox and copying its outputs, or in the middle of a create) get their outputs copied out.
    func retainLeftoverVolumes() {
        let recorded = Set(runtime.list())
        for name in directoryNames(paths.workloads) {
            for entry in directoryNames(paths.workloadDir(name), directories: false) {
                guard entry.hasPrefix("work.g"), entry.hasSuffix(".json"),
                    let generation = Int64(entry.dropFirst(6).dropLast(5)),
                    !recorded.contains(Self.sandboxID(name, generation))
                else { continue }
                retainOutputs(workloadID: name, generation: generation)
            }
        }
    }

    /// Removes the directories (logs, outputs) of workloads that ended more than
    /// `outputRetentionSeconds` before `nowMs` (Unix ms) and have no sandbox on this node.
    /// - Returns: the workload IDs removed.
    @discardableResult
    public func removeExpiredWorkloads(nowMs: Int64) -> [String] {
        let inUse = Set(runtime.list().compactMap { Self.parseSandboxID($0)?.0 })
        var removed: [String] = []
        for name in directoryNames(paths.workloads) where !inUse.contains(name) {
            var st = stat()
            guard lstat(paths.workloadDir(name) + "/" + Self.endedMarker, &st) == 0 else { continue }
            let endedMs = Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
            guard nowMs - endedMs >= outputRetentionSeconds * 1000 else { continue }
            logger.info("removing an ended workload's logs and outputs (retention over)", metadata: ["workload": "\(name)"])
            FileSystem.removeTree(paths.workloadDir(name))
            removed.append(name)
        }
        return removed
    }

    /// Names in `path` that are directories (or, with `directories: false`, anything else).
    func directoryNames(_ path: String, directories: Bool = true) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            guard (e.pointee.d_type == UInt8(DT_DIR)) == directories else { continue }
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." && !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }
}

/// Runs `Worker.removeExpiredWorkloads` every `interval` (a tenth of the retention, at most a
/// minute) until the node shuts down.
public struct OutputRetentionSweeper: Service {
    let worker: Worker

    public init(worker: Worker) { self.worker = worker }

    var interval: Duration { .seconds(max(1, min(60, worker.outputRetentionSeconds / 10))) }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            worker.removeExpiredWorkloads(nowMs: SandboxMonitor.nowUnixMs())
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
