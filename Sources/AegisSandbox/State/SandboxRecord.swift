// SandboxRecord.swift — what a sandbox's state directory holds so that any later process (the
// OCI CLI's next invocation, a restarted worker daemon) can find the sandbox again.
//
// Layout of <state root>/<id>/:
//   state.json    SandboxRecord (written once the container process exists, atomically)
//   exec.fifo     present between `create` and `start` (runc's exec FIFO)
//   outcome.json  SandboxOutcome, written by the supervisor when the process has ended
//   exec.json     SandboxExecConfig, mode 0600, written before the container process exists: what
//                 `exec` needs of the spec (process user, env, cwd, the five capability sets,
//                 no_new_privs, rlimits, the compiled seccomp program, whether the root is only
//                 chroot'ed), so that an exec'd process is confined as the container's own
//   stdout.log, stderr.log   when stdio goes to log files
//   rootfs/       the default profile's generated root (bind-mount points only)
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisOCI
#if canImport(Glibc)
import Glibc
#endif

/// The durable description of one sandbox (state.json).
public struct SandboxRecord: Codable, Sendable, Equatable {
    public var id: String
    /// The bundle directory (OCI) or the state directory for generated specs.
    public var bundle: String
    public var rootfs: String
    /// The container process (PID 1 of its namespace), host pid.
    public var pid: Int32
    /// Field 22 of /proc/PID/stat (clock ticks since boot): tells the process from a later one
    /// that reused its pid.
    public var pidStartTime: UInt64
    public var supervisorPid: Int32
    public var supervisorStartTime: UInt64
    /// Absolute path of the sandbox's cgroup v2 leaf, if it has one.
    public var cgroupPath: String?
    /// CLOCK_REALTIME nanoseconds when the sandbox was created.
    public var createdAtNs: Int64
    public var annotations: [String: String]?
    public var ociVersion: String
    public var useInit: Bool
    /// True when clone3 + CLONE_INTO_CGROUP was used (false: clone + cgroup.procs fallback).
    public var usedClone3: Bool
    /// The lease file the supervisor watches (self-fencing) and its grace in ms; nil without one.
    public var leaseFile: String? = nil
    public var leaseGraceMs: Int? = nil
    /// The spec's lifecycle hooks, run by `start` (startContainer, poststart) and `delete`
    /// (poststop) of whichever process calls them later.
    public var hooks: Hooks? = nil
}

/// How a sandbox ended (outcome.json, written by the supervisor, never by the starter).
public struct SandboxOutcome: Codable, Sendable, Equatable {
    /// Exit status: the code, or 128 + signal number when killed by a signal.
    public var exitCode: Int32
    /// Terminating signal, 0 when the process exited.
    public var signal: Int32
    /// memory.events `oom_kill` > 0 for the sandbox's cgroup.
    public var oomKilled: Bool
    public var oomKillCount: Int64
    public var startedAtNs: Int64
    public var finishedAtNs: Int64
    /// Wall time from the start request to the end, µs.
    public var wallTimeUs: Int64
    /// CPU time of the process and the descendants it waited for (rusage), µs.
    public var cpuUserUs: Int64
    public var cpuSystemUs: Int64
    /// Peak RSS of the largest process, KiB (rusage ru_maxrss).
    public var maxRssKiB: Int64
    /// memory.peak of the cgroup in bytes, when the memory controller provides it.
    public var peakMemoryBytes: Int64?
    /// The cgroup's cpu.stat at the end: usage_usec (all processes of the sandbox), and with the cpu
    /// controller nr_throttled / throttled_usec (cgroup-v2.rst § CPU Interface Files).
    public var cgroupCpuUsageUs: Int64?
    public var cpuNrThrottled: Int64?
    public var cpuThrottledUs: Int64?
    /// A step that failed after `start` (between the exec FIFO and execve).
    public var error: StepError?
    /// With a lease file: true when the supervisor killed the sandbox because the lease lapsed
    /// (self-fencing), false when it ended otherwise. nil: the sandbox had no lease.
    public var fenced: Bool?
    /// When fenced: the lease's age (now − mtime, truncated to ms) at that moment, or `leaseErrno`
    /// when the lease file could not be stat'ed (ENOENT: deleted).
    public var leaseAgeMs: Int64?
    public var leaseErrno: Int32?
    /// When fenced and cgroup.kill failed (SIGKILL of the container process was sent instead).
    public var fenceError: StepError?

    public struct StepError: Codable, Sendable, Equatable {
        public var step: String
        public var errno: Int32
        public var detail: String
    }
}
