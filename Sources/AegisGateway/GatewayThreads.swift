// GatewayThreads.swift — the threads of a process that only runs the gateway (`aegis gateway`, the
// controller pod's sidecar). A forwarded request crosses the client's channel, the handler task
// and the controller's channel; when those run on different threads each crossing is a thread
// hand-off, and on a CPU or two those hand-offs were most of the latency the gateway added
// (Benchmarks/gateway-bench.sh). So:
// - one NIO event loop per CPU the process may run on: NIO sizes its loops by CFS quota and cpuset
//   but not by the affinity mask (`taskset`, systemd's CPUAffinity=), so both are taken into account;
// - Swift concurrency's global executor runs its jobs on those event loops (NIO's take-over hook),
//   so a handler task resumes on a loop rather than on a separate cooperative thread.
// Not for processes that also run blocking work on the global executor (the controller's store
// in `aegis up`): a blocked job would hold up a loop's I/O.
import AegisSystem
import NIOCore
import NIOPosix

/// Thread set-up for a gateway-only process.
public enum GatewayThreads {
    /// Sizes NIO's shared event loop group by the CPUs this process may use and makes it Swift
    /// concurrency's global executor. Call once, first thing, before anything uses NIO or starts
    /// tasks.
    /// - Returns: the number of event loops, and whether the executor take-over happened (NIO
    ///   refuses it on toolchains it does not know).
    @discardableResult
    public static func configure() -> (eventLoops: Int, executorTakenOver: Bool) {
        let allowed = (try? Syscall.affinityCPUCount()) ?? System.coreCount
        let loops = max(1, min(System.coreCount, allowed))
        NIOSingletons.groupLoopCountSuggestion = loops
        let takenOver = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        return (loops, takenOver)
    }
}
