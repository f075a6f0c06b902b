// Worker+Deadlines.swift — an agent's timeout as a deadline: the absolute wall-clock time is
// computed once at launch and written next to the placement (`<workload dir>/deadline.json`,
// with its generation), armed on the sandbox monitor, and armed again from that file when a
// restarted node re-adopts the sandbox. An agent whose deadline passed while the node was down is
// stopped as soon as it is re-adopted, with the same "timeout reached" outcome.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import AegisSandbox
import AegisSystem
import Logging

/// When a placement's timeout ends.
struct TimeoutDeadline: Codable, Equatable {
    /// The placement it belongs to (a file left by an older generation is ignored).
    var generation: Int64
    /// Unix time, milliseconds.
    var deadlineMs: Int64
    /// The timeout as the spec gave it, seconds (for the reason).
    var timeoutSeconds: Int

    static let fileName = "deadline.json"

    /// Written atomically (temporary file, fsync, rename) into the workload's directory.
    /// - Throws: `SandboxError(.system)` naming the step, the file and the errno.
    func save(in workloadDir: String) throws {
        let data = try JSONEncoder().encode(self)
        try SandboxError.os(
            try FileSystem.writeAtomically(workloadDir + "/" + Self.fileName, Array(data), mode: 0o600, syncDirectory: false))
    }

    /// The deadline stored for `generation`, or nil (none, unreadable, or another generation's).
    static func load(from workloadDir: String, generation: Int64) -> TimeoutDeadline? {
        guard let data = FileManager.default.contents(atPath: workloadDir + "/" + fileName),
            let d = try? JSONDecoder().decode(TimeoutDeadline.self, from: data), d.generation == generation
        else { return nil }
        return d
    }
}

extension Worker {
    /// Records the placement's deadline (now + its timeout) before its sandbox is created.
    func recordDeadline(_ w: Workload) throws -> TimeoutDeadline? {
        guard let t = w.spec.timeoutSeconds else { return nil }
        // Bounded as the controller bounds it: the deadline's arithmetic can't overflow.
        let seconds = min(max(1, Int64(t)), Int64(Bounds.maxTimeoutSeconds))
        let d = TimeoutDeadline(generation: w.generation, deadlineMs: SandboxMonitor.nowUnixMs() + seconds * 1000, timeoutSeconds: t)
        try d.save(in: paths.workloadDir(w.id))
        return d
    }

    /// Arms `deadline` for sandbox `id`: once it passes, a still-running sandbox is stopped and its
    /// exit reported as timed out. A deadline already past fires at once.
    func arm(_ deadline: TimeoutDeadline, sandboxID id: String) {
        let key = monitor.at(unixMs: deadline.deadlineMs) { [weak self] in
            guard let self else { return }
            _ = self.deadlineKeys.withLock { $0.removeValue(forKey: id) }
            guard (try? self.runtime.state(id).status) == .running else { return }
            self.logger.info("timeout reached", metadata: ["sandbox": "\(id)", "timeout": "\(deadline.timeoutSeconds)s"])
            _ = self.flags.withLock { $0.timedOut.insert(id) }
            self.stop(sandboxID: id)
        }
        if let old = deadlineKeys.withLock({ $0.updateValue(key, forKey: id) }) { monitor.cancelDeadline(old) }
    }

    /// Drops the sandbox's armed deadline (it ended).
    func disarm(sandboxID id: String) {
        if let key = deadlineKeys.withLock({ $0.removeValue(forKey: id) }) { monitor.cancelDeadline(key) }
    }
}
