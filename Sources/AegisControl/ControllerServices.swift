// ControllerServices.swift — the controller's long-running loops as swift-service-lifecycle
// Services, so that the daemon owns them in its ServiceGroup (and tests can run them in one):
// the lease monitor, the worker event pump, and the scheduling loop's timer (RestartBackoffTimer).
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

/// Hands the in-process worker's events (starts, exits, losses) to the controller one at a time,
/// in order. It does not end on graceful shutdown: a node stopping its agents needs their exits
/// recorded after its servers stopped. It ends when the stream finishes or its task is cancelled.
public struct WorkerEventPump: Service {
    let controller: Controller
    let events: AsyncStream<WorkerEvent>

    public init(controller: Controller, events: AsyncStream<WorkerEvent>) {
        self.controller = controller
        self.events = events
    }

    public func run() async throws {
        await pump()
    }

    /// `run()` without `throws`, for an `async let` in the daemon.
    public func pump() async {
        for await event in events {
            await controller.handle(event)
        }
    }
}
