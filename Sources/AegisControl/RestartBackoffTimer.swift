// RestartBackoffTimer.swift — wakes the scheduling pass when a workload's restart back-off ends
// (`Workload.nextAttemptAtMs`). Run it in the node's ServiceGroup: it ends with a graceful shutdown.
import AegisStore
import ServiceLifecycle

/// Sleeps until the earliest back-off among the pending workloads ends (looking again at least
/// every `recheck`, so that a back-off set meanwhile is seen), then runs a scheduling pass.
public struct RestartBackoffTimer: Service {
    let controller: Controller
    /// Longest sleep between two looks at the pending workloads.
    let recheck: Duration

    public init(controller: Controller, recheck: Duration = .seconds(1)) {
        self.controller = controller
        self.recheck = recheck
    }

    public func run() async throws {
        // Back-offs ending up to here had their pass (one that still can't be placed is an
        // ordinary pending workload from then on: no pass again and again for it).
        var handledUpTo: Int64 = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = ControlStore.nowMs()
            let due = await controller.nextRestartAttemptMs(after: handledUpTo)
            if let due, due <= now {
                handledUpTo = now
                await controller.schedule()
                continue
            }
            let wait = due.map { Duration.milliseconds($0 - now) } ?? recheck
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: min(wait, recheck)) }
        }
    }
}

extension Controller {
    /// The earliest end of a restart back-off after `after` (Unix ms) among the pending workloads,
    /// nil if none.
    public func nextRestartAttemptMs(after: Int64) -> Int64? {
        ((try? store.listWorkloads(states: [.pending])) ?? []).compactMap(\.nextAttemptAtMs).filter { $0 > after }.min()
    }
}
