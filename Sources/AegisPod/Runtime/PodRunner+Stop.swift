// PodRunner+Stop.swift — the ordered stop (KEP-753): the main containers first, together; then the
// sidecars one at a time in reverse start order; each SIGTERM, then SIGKILL once the pod's
// `terminationGracePeriodSeconds` (one budget for the whole stop) is used up; then the infra. The
// order is written to the pod's events and the log (kubernetes#120620 was sidecars stopped before
// the main container).
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem

extension PodRunner {
    func stopPod() async {
        let graceMs = Int64(manifest.spec.terminationGracePeriodSeconds) * 1000
        let deadline = Self.nowMs() + graceMs
        if record.phase != .terminating {
            record.phase = .terminating
            event(
                "stopping the pod: main containers, then sidecars in reverse order, then the infra (grace \(manifest.spec.terminationGracePeriodSeconds) s)"
            )
            try? save()
        }
        let mains = manifest.spec.containers + manifest.spec.initContainers.filter { !$0.isSidecar }
        await stopTogether(mains, deadlineMs: deadline)
        for sidecar in manifest.spec.sidecars.reversed() { await stopTogether([sidecar], deadlineMs: deadline) }
        if record.infraGeneration > 0 {
            let id = paths.infraID(generation: record.infraGeneration)
            try? sandboxes.kill(id, signal: SIGTERM)
            _ = try? sandboxes.wait(id, timeout: .seconds(2))
            try? sandboxes.delete(id, force: true)
            event("infra \(id) stopped")
        }
        removeLeftovers()
        record.phase = endPhase ?? .stopped
        event("pod \(record.phase.rawValue.lowercased())")
        try? save()
    }

    /// SIGTERM to each running container of `containers`, then waits until they ended or
    /// `deadlineMs` (Unix ms) passed, then SIGKILL to what is left.
    func stopTogether(_ containers: [ContainerSpec], deadlineMs: Int64) async {
        let running = containers.filter { record[container: $0.name]?.phase == .running }
        guard !running.isEmpty else { return }
        let ids = running.map { c in (c, paths.sandboxID(c.name, attempt: record[container: c.name]?.attempt ?? 0)) }
        event("stopping \(running.map(\.name).joined(separator: ", ")) (SIGTERM)")
        let started = Self.nowMs()
        for (_, id) in ids { try? sandboxes.kill(id, signal: SIGTERM) }
        func alive(_ id: String) -> Bool { (try? sandboxes.record(id)).map { sandboxes.status($0) != .stopped } ?? false }
        while ids.contains(where: { alive($0.1) }) && Self.nowMs() < deadlineMs {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (c, id) in ids where alive(id) {
            try? sandboxes.kill(id, signal: SIGKILL)
            event("container \(c.name) did not stop within the grace period: SIGKILL")
        }
        for (c, id) in ids {
            let outcome = (try? sandboxes.wait(id, timeout: .seconds(2))) ?? nil
            guard var rec = record[container: c.name] else { continue }
            rec.phase = .terminated
            rec.lastExitCode = outcome?.exitCode ?? -1
            rec.finishedAtMs = Self.nowMs()
            rec.reason = "Stopped"
            rec.started = false
            rec.ready = false
            record[container: c.name] = rec
            event("container \(c.name) stopped: exit \(rec.lastExitCode ?? -1) after \(Self.nowMs() - started) ms")
            removeAttempt(c.name, attempt: rec.attempt)
        }
        try? save()
    }

    /// What a stopped pod leaves: nothing running and no emptyDir, overlay scratch or skeleton;
    /// its state, manifest and logs stay for `describe` and `logs`.
    func removeLeftovers() {
        for id in sandboxes.list() { try? sandboxes.delete(id, force: true) }
        for dir in ["/volumes", "/roots", "/skeletons", "/infra-root"] where access(paths.directory + dir, F_OK) == 0 {
            FileSystem.removeTree(paths.directory + dir)
        }
        // The pod's cgroup, then `pods/` when no other pod uses it (rmdir fails on a busy one).
        let parent = sandboxes.cgroups.parentPath
        if access(parent, F_OK) == 0 { rmdir(parent) }
        rmdir(FileSystem.parentDirectory(of: parent))
    }

    /// Probe kinds the runner cannot run yet, by field (checked before anything starts).
    func unsupportedProbes() -> [String] {
        var out: [String] = []
        for (i, c) in manifest.spec.initContainers.enumerated() { out += unsupported(c, "spec.initContainers[\(i)]") }
        for (i, c) in manifest.spec.containers.enumerated() { out += unsupported(c, "spec.containers[\(i)]") }
        return out
    }

    private func unsupported(_ c: ContainerSpec, _ path: String) -> [String] {
        var out: [String] = []
        for (name, p) in [("startupProbe", c.startupProbe), ("readinessProbe", c.readinessProbe), ("livenessProbe", c.livenessProbe)] {
            guard let p else { continue }
            if case let .httpGet(_, _, _, scheme, _) = p.handler, scheme != "HTTP" {
                out.append("\(path).\(name).httpGet.scheme \(scheme)")
            }
        }
        return out
    }
}
