// NodeControl.swift — `aegis down`: finds the local node by the holder of its data dir's lock
// (as /proc/locks names it in this pid namespace; the pid file may hold a pid of another
// namespace — a controller in its pod writes the container's) and asks it to stop.
import AegisProtocol
import Foundation

public enum NodeControl {
    /// Signals the node running on `paths` — SIGUSR2 (drain: stop agents, record their states,
    /// then exit) or with `keepAgents` SIGTERM (exit; agents keep running) — and waits up to
    /// `timeout` for it to exit. Returns its pid.
    /// - Throws: `NodeStartError` when no node runs there or it outlives the timeout.
    @discardableResult
    public static func stop(paths: AegisPaths, keepAgents: Bool, timeout: Duration) throws -> Int32 {
        guard let pid = lockHolder(paths), kill(pid, 0) == 0 else {
            throw NodeStartError("no node running for \(paths.dataDir) (nothing holds \(paths.dataDir)/aegis.lock)")
        }
        kill(pid, keepAgents ? SIGTERM : SIGUSR2)
        let deadline = ContinuousClock.now + timeout
        while kill(pid, 0) == 0 {
            if ContinuousClock.now > deadline { throw NodeStartError("node \(pid) still running after \(timeout.components.seconds) s") }
            usleep(50_000)
        }
        return pid
    }

    /// The pid (in this pid namespace) holding the flock on `<data-dir>/aegis.lock`, from
    /// /proc/locks ("N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF"); nil when none does or
    /// it runs in a pid namespace this one can't see.
    static func lockHolder(_ paths: AegisPaths) -> Int32? {
        var st = stat()
        guard stat(paths.dataDir + "/aegis.lock", &st) == 0,
            let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8)
        else { return nil }
        let dev = UInt64(st.st_dev)  // glibc's major()/minor() are macros: the same arithmetic
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        let device = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(st.st_ino))
        var sameInode: [Int32] = []
        for line in locks.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]), pid > 0 else { continue }
            if fields[5] == Substring(device) { return pid }
            if fields[5].hasSuffix(":\(st.st_ino)") { sameInode.append(pid) }
        }
        // On overlayfs /proc/locks names the upper file's device, not the one stat() sees: a lock
        // on the same inode number counts when that process has the lock file open.
        let lockFile = paths.dataDir + "/aegis.lock"
        return sameInode.first { pid in
            let fds = "/proc/\(pid)/fd"
            return ((try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? []).contains { fd in
                (try? FileManager.default.destinationOfSymbolicLink(atPath: fds + "/" + fd)) == lockFile
            }
        }
    }
}
