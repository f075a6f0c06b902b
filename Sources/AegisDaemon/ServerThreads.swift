// ServerThreads.swift — the threads of an AEGIS server process, set up before anything uses NIO
// or starts tasks.
// - One NIO event loop per CPU the process may run on: NIO sizes its shared group by CFS quota and
//   cpuset but not by the affinity mask (`taskset`, systemd's CPUAffinity=), so both count.
// - For the gateway (`aegis gateway`), Swift concurrency's global executor runs its jobs on those
//   event loops (NIO's take-over hook): a forwarded request crosses the client's channel, the
//   handler task and the controller's channel, and on a CPU or two the thread hand-offs between
//   them were most of what the gateway added to a request (Benchmarks/gateway-bench.sh: 0.45–0.61
//   ms at p50 before, 0.33–0.37 after). The controller keeps the cooperative pool: its store
//   writes block the thread they run on, and the same change made no difference beyond the noise
//   to its submissions/s (Benchmarks/submit-bench-split.sh, alternating runs).
import AegisSystem
import NIOCore
import NIOPosix

/// Thread set-up of a server process.
public enum ServerThreads {
    /// What `configure` did.
    public struct Configured: Sendable, Equatable {
        /// Event loops in NIO's shared group.
        public var eventLoops: Int
        /// Whether Swift concurrency's global executor is now those event loops.
        public var executorOnEventLoops: Bool
    }

    /// Sizes NIO's shared event loop group by the CPUs this process may use and, with
    /// `eventLoopExecutor` (only for processes whose tasks never block), makes it Swift
    /// concurrency's global executor (NIO refuses on toolchains it does not know; then the
    /// cooperative pool stays). Call once, first thing.
    @discardableResult
    public static func configure(eventLoopExecutor: Bool) -> Configured {
        let allowed = (try? Syscall.affinityCPUCount()) ?? System.coreCount
        let loops = max(1, min(System.coreCount, allowed))
        NIOSingletons.groupLoopCountSuggestion = loops
        let takenOver = eventLoopExecutor && NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        return Configured(eventLoops: loops, executorOnEventLoops: takenOver)
    }
}
