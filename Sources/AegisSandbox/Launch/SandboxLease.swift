// SandboxLease.swift — the lease file of self-fencing, seen from the Swift side: its age, and the
// check `create` makes before handing it to a sandbox's supervisor (aegis_shim.h, lease.c).
#if canImport(Glibc)
import Glibc
#endif

/// The lease file a node daemon keeps fresh (its mtime) and sandbox supervisors watch.
public enum SandboxLease {
    /// Largest accepted grace: one day, in ms.
    public static let maxGraceMs = 86_400_000
    /// Default grace: the controller declares a silent node Down after 40 s.
    public static let defaultGraceMs = 40_000

    /// The lease's age in ms: CLOCK_REALTIME now − the file's st_mtim (the clock the supervisor
    /// compares with). Negative when the mtime is ahead of the clock.
    /// - Throws: `SandboxError(.system)` naming `stat` and the errno (ENOENT when it is missing).
    public static func ageMs(path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SandboxError.system("stat lease file", path) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        let nowNs = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        return (nowNs - mtimeNs) / 1_000_000
    }

    /// What `create` requires of `SandboxCreateOptions.leaseFile`: an absolute path, a grace in
    /// 1 ... `maxGraceMs`, and a lease that exists and is not older than the grace (a sandbox
    /// started on a lapsed lease would be fenced at once).
    /// - Throws: `SandboxError(.invalidSpec)` for the path or grace, `.system` when the file can't be
    ///   stat'ed, `.wrongState` when the lease has lapsed.
    public static func checkFresh(path: String, graceMs: Int) throws {
        guard path.hasPrefix("/") else {
            throw SandboxError(.invalidSpec, "leaseFile: must be an absolute path, got \"\(path)\"")
        }
        guard graceMs > 0, graceMs <= maxGraceMs else {
            throw SandboxError(.invalidSpec, "leaseGraceMs: must be 1...\(maxGraceMs) ms, got \(graceMs)")
        }
        let age = try ageMs(path: path)
        guard age <= Int64(graceMs) else {
            throw SandboxError(
                .wrongState,
                "lease \(path) lapsed: last renewed \(age) ms ago, grace \(graceMs) ms (this node is fenced; no sandbox may start)")
        }
    }
}
