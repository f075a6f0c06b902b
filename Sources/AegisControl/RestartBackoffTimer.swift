// RestartBackoffTimer.swift — the scheduling loop's timer: wakes a pass when a workload's restart
// back-off ends (`Workload.nextAttemptAtMs`) or when a pass that failed on the store is due again.
// Run it in the node's ServiceGroup: it ends with a graceful shutdown.
import AegisStore
import ServiceLifecycle

/// Sleeps until the earliest back-off among the pending workloads ends, or a failed pass is due
/// again (looking again at least every `recheck`, so that a back-off set meanwhile is seen), then
/// runs a scheduling pass.
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
            let backoffEnds = await controller.nextRestartAttemptMs(after: handledUpTo)
            let retry = await controller.schedulingRetryAtMs
            let due = [backoffEnds, retry].compactMap { $0 }.min()
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
    /// A store failure is logged and answered "now": the pass it triggers retries the store.
    public func nextRestartAttemptMs(after: Int64) async -> Int64? {
        do {
            return try await store.listWorkloads(states: [.pending]).compactMap(\.nextAttemptAtMs).filter { $0 > after }.min()
        } catch {
            logger.error("reading restart back-offs failed", metadata: ["error": "\(error)"])
            return ControlStore.nowMs()
        }
    }
}
