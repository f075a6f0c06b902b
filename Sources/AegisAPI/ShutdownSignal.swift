// ShutdownSignal.swift — tells the API's long-lived responses that the node is stopping, so they
// end at once (an `error` event naming the shutdown) instead of holding the server's graceful
// shutdown until the workloads they follow have ended.
import AegisProtocol
import Synchronization

/// Set once, when the node begins to stop; read by every open log stream on each poll (≤ 100 ms).
public final class ShutdownSignal: Sendable {
    private let started = Atomic<Bool>(false)

    public init() {}

    /// Marks the node as stopping (idempotent).
    public func begin() { started.store(true, ordering: .releasing) }

    public var isShuttingDown: Bool { started.load(ordering: .acquiring) }
}
