// ControllerServices.swift — the controller's long-running loops as swift-service-lifecycle
// Services, so that the daemon owns them in its ServiceGroup (and tests can run them in one):
// the lease monitor and the scheduling loop's timer (RestartBackoffTimer). The worker-event pump of
// an in-process worker is the daemon's (AegisDaemon/DaemonServices.swift).
import AegisProtocol
import ServiceLifecycle

/// Declares remote nodes NotReady and Down at their lease deadlines and moves a Down node's agents
/// (`Controller.runLeaseMonitor`). Ends on graceful shutdown or cancellation.
public struct LeaseMonitor: Service {
    let controller: Controller

    public init(controller: Controller) {
        self.controller = controller
    }

    public func run() async throws {
        let controller = controller
        try await cancelWhenGracefulShutdown { await controller.runLeaseMonitor() }
    }
}
