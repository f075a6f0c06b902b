// PodControl.swift — what `aegis pod ls|describe|logs|stop` do, from outside the runner process:
// they read the pods' state.json files and capped logs, and stop a pod by signalling its runner
// (or, when no runner serves it any more, by adopting it and stopping it here).
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem
import Logging

public enum PodControl {
    /// Every pod under `root` with a readable state, by name.
    public static func list(root: String) -> [PodRecord] {
        FileSystem.entryNames(in: root).sorted().compactMap { name in
            try? PodRecord.load(PodPaths(root: root, name: name))
        }
    }

    /// One pod's record and the manifest text it runs.
    /// - Throws: `PodError(.notFound)`, `.state`.
    public static func describe(root: String, name: String) throws(PodError) -> (record: PodRecord, manifest: String) {
        let paths = PodPaths(root: root, name: name)
        guard let record = try PodRecord.load(paths) else { throw PodError(.notFound, "pod \(name) not found under \(root)") }
        let text = (try? FileSystem.readText(paths.manifest, limit: 1 << 20)) ?? ""
        return (record, text)
    }

    /// Whether the runner recorded in `record` still runs (pid and start time match).
    public static func runnerAlive(_ record: PodRecord) -> Bool {
        ProcFS.isAlive(record.runnerPid, startTime: record.runnerStartTime)
    }

    /// Stops a pod: SIGTERM to its runner, which stops the containers in order; waits until the
    /// pod is final (at most its grace period plus `slackSeconds`). Without a live runner the pod
    /// is adopted here and stopped the same way.
    /// - Returns: the final record.
    /// - Throws: `PodError(.notFound)`; `.busy` when the runner did not finish in time.
    public static func stop(
        root: String, name: String, options: PodRunnerOptions, logger: Logger, slackSeconds: Int = 15
    ) async throws(PodError) -> PodRecord {
        let (record, text) = try describe(root: root, name: name)
        if record.phase.isFinal { return record }
        if runnerAlive(record) {
            kill(record.runnerPid, SIGTERM)
            let grace =
                (try? PodManifestParser.parse(text, file: PodPaths(root: root, name: name).manifest))?.spec
                .terminationGracePeriodSeconds ?? 30
            let deadline = ContinuousClock.now + .seconds(grace + slackSeconds)
            while ContinuousClock.now < deadline {
                if let r = try PodRecord.load(PodPaths(root: root, name: name)), r.phase.isFinal { return r }
                if !runnerAlive(record) { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            if let r = try PodRecord.load(PodPaths(root: root, name: name)), r.phase.isFinal { return r }
            if runnerAlive(record) {
                throw PodError(
                    .busy, "pod \(name): its runner (pid \(record.runnerPid)) did not finish stopping within \(grace + slackSeconds) s")
            }
        }
        let manifest: PodManifest
        do { manifest = try PodManifestParser.parse(text, file: PodPaths(root: root, name: name).manifest) } catch {
            throw PodError(.invalidManifest, "pod \(name): its stored manifest: \(error)", underlying: error)
        }
        let runner = try PodRunner(manifest: manifest, manifestText: text, options: options, logger: logger)
        await runner.stopPod()
        return await runner.currentRecord()
    }

    /// Which log of a container.
    public enum Stream: String, Sendable { case stdout, stderr }

    /// Up to `maxBytes` of a container's capped log from logical offset `offset` (see
    /// `CappedLog.read`); nil when the container has written none.
    public static func log(
        root: String, pod: String, container: String, stream: Stream, offset: Int64, maxBytes: Int = 1 << 20
    )
        -> CappedLogChunk?
    {
        CappedLog.read(
            path: PodPaths(root: root, name: pod).logs(container) + "/\(stream.rawValue).log", offset: offset, maxBytes: maxBytes)
    }
}
