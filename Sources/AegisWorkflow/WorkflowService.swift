// WorkflowService.swift — the workflow engine's loop as a swift-service-lifecycle Service, started
// with the controller's other services (NodeRuntime, a replicated controller's leader term).
import ServiceLifecycle

/// Runs `WorkflowEngine.run()` until graceful shutdown or cancellation: resumes every unfinished
/// workflow from the store, then follows workload changes and timers.
public struct WorkflowService: Service {
    let engine: WorkflowEngine

    public init(engine: WorkflowEngine) {
        self.engine = engine
    }

    public func run() async throws {
        let engine = engine
        await cancelWhenGracefulShutdown { await engine.run() }
    }
}
