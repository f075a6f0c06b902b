// NodeControl.swift — `aegis down`: finds the local node by its pid file and asks it to stop.
import AegisProtocol
import Foundation

public enum NodeControl {
    /// Signals the node running on `paths` — SIGUSR2 (drain: stop agents, record their states,
    /// then exit) or with `keepAgents` SIGTERM (exit; agents keep running) — and waits up to
    /// `timeout` for it to exit. Returns its pid.
    /// - Throws: `NodeStartError` when no node runs there or it outlives the timeout.
    @discardableResult
    public static func stop(paths: AegisPaths, keepAgents: Bool, timeout: Duration) throws -> Int32 {
        guard let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0
        else {
            throw NodeStartError("no node running for \(paths.dataDir) (no live pid in \(paths.pidFile))")
        }
        kill(pid, keepAgents ? SIGTERM : SIGUSR2)
        let deadline = ContinuousClock.now + timeout
        while kill(pid, 0) == 0 {
            if ContinuousClock.now > deadline { throw NodeStartError("node \(pid) still running after \(timeout.components.seconds) s") }
            usleep(50_000)
        }
        return pid
    }
}
