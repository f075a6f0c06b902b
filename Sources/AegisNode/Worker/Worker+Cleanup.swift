// Worker+Cleanup.swift — nothing of a sandbox outlives its workload. A release removes the
// sandbox's cgroup leaf and state directory once its final state is recorded — also what a create
// cut short left without a record — and retries what could not be removed yet; a cancel that came
// while the sandbox was being created stops it as soon as it exists; start-up removes the leftovers
// of sandboxes this worker has no record of.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem
import Dispatch

extension Worker {
    /// Removes the sandbox (cgroup leaf, state dir) once its final state is recorded, then its
    /// work volume, keeping the outputs (`retainOutputs`). Logs and outputs stay in the workload's
    /// directory for the output retention. Called for every end of a placement (exit, loss,
    /// failed start, a stale copy); a leaf that can't be removed yet is retried in the background
    /// (every `removalRetry`, for about a minute).
    public func release(workloadID: String, generation: Int64) {
        let id = Self.sandboxID(workloadID, generation)
        flags.withLock {
            $0.timedOut.remove(id)
            $0.cancelled.remove(id)
            $0.evicted.remove(id)
        }
        // The copy's place on `outputCopies` is taken before the sandbox is removed: a read of the
        // outputs (`settleEndedVolumes`) waits on that queue, so it never falls between the removal
        // (the sandbox no longer listed) and the copy (the file not yet out of the volume).
        let removal = RemovalOutcome()
        outputCopies.async { [self] in
            guard removal.wait() else { return }
            copyOutputs(workloadID: workloadID, generation: generation)
        }
        let removed = removeSandbox(id)
        if removed { removeImageScratch(workloadID, generation: generation) }
        removal.finish(removed: removed)
        if !removed { retryRemoval(id, generation: generation, attemptsLeft: Self.removalAttempts) }
    }

    /// Milliseconds between two attempts to remove a sandbox.
    static var removalRetryMs: Int64 { 1_000 }
    static var removalAttempts: Int { 60 }

    /// Tries `removeSandbox(id)` again after `removalRetryMs`: a deadline on the monitor's thread
    /// (the worker owns it; no task sleeps for it), re-armed until it succeeds or no attempt is left.
    private func retryRemoval(_ id: String, generation: Int64, attemptsLeft: Int) {
        monitor.at(unixMs: SandboxMonitor.nowUnixMs() + Self.removalRetryMs) { [weak self] in
            guard let self else { return }
            if self.removeSandbox(id) {
                let workloadID = Self.parseSandboxID(id)?.0 ?? id
                self.removeImageScratch(workloadID, generation: generation)
                return self.retainOutputs(workloadID: workloadID, generation: generation)
            }
            if attemptsLeft > 1 { self.retryRemoval(id, generation: generation, attemptsLeft: attemptsLeft - 1); return }
            self.logger.error("sandbox not removed after a minute of retries", metadata: ["sandbox": "\(id)"])
        }
    }

    /// Deletes sandbox `id` (kills what is left), then whatever remains of it without a record: its
    /// cgroup leaf and its state directory. Returns true when neither is left.
    @discardableResult
    func removeSandbox(_ id: String) -> Bool {
        do { try runtime.delete(id, force: true) } catch let e as SandboxError where e.kind == .notFound {} catch {
            logger.warning("removing a sandbox failed; retrying", metadata: ["sandbox": "\(id)", "error": "\(error)"])
        }
        egress?.detach(sandbox: id)
        let leaf = runtime.cgroups.leafPath(id: id)
        if access(leaf, F_OK) == 0 {
            do { try runtime.cgroups.open(existingPath: leaf).remove() } catch {
                logger.warning("removing a sandbox's cgroup failed", metadata: ["cgroup": "\(leaf)", "error": "\(error.description)"])
            }
        }
        let dir = runtime.stateDirectory(id)
        if access(dir, F_OK) == 0 && access(dir + "/state.json", F_OK) != 0 { FileSystem.removeTree(dir) }
        return access(leaf, F_OK) != 0 && access(dir, F_OK) != 0
    }

    /// After `launch` created sandbox `id`: stops it when a cancel came while it was being created
    /// (that cancel found nothing to signal yet). A cancel after this check finds the sandbox.
    func stopIfCancelledWhileCreating(_ id: String) {
        if flags.withLock({ $0.cancelled.contains(id) }) { stop(sandboxID: id) }
    }

    /// At start-up, before anything is launched: removes what a worker that stopped abruptly (a
    /// crash in the middle of a create) can leave without a record — state directories without
    /// state.json, and cgroup leaves named like this worker's sandboxes ("<workload>.g<N>") that
    /// have no state directory. Sandboxes with a record are re-adopted or removed by `reconcile`.
    func removeUnrecordedSandboxes() {
        let recorded = Set(runtime.list())
        for name in directoryNames(runtime.stateRoot) where !name.hasPrefix(".") && !recorded.contains(name) {
            guard Self.parseSandboxID(name) != nil else { continue }
            logger.warning("removing a sandbox state directory without a record", metadata: ["sandbox": "\(name)"])
            FileSystem.removeTree(runtime.stateDirectory(name))
        }
        for name in directoryNames(runtime.cgroups.parentPath) where Self.parseSandboxID(name) != nil && !recorded.contains(name) {
            let leaf = runtime.cgroups.leafPath(id: name)
            logger.warning("removing a sandbox cgroup without a record", metadata: ["cgroup": "\(leaf)"])
            do { try runtime.cgroups.open(existingPath: leaf).remove() } catch {
                logger.error("cannot remove a leftover cgroup", metadata: ["cgroup": "\(leaf)", "error": "\(error.description)"])
            }
        }
    }
}

/// Whether a sandbox's removal succeeded, handed from `release` to the copy it queued first.
private final class RemovalOutcome: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    /// Written once before `done` is signalled, read only after it was waited for.
    private var removed = false

    func finish(removed: Bool) {
        self.removed = removed
        done.signal()
    }

    /// Blocks until `finish`; whether the sandbox was removed.
    func wait() -> Bool {
        done.wait()
        return removed
    }
}
