// StopLatch.swift — how a node process ends: the first of a stop request (a signal, `aegis down`,
// the in-process harness) and a worker session that ended for good. One latch per runtime; the
// StopRequestService returns when it fires, which shuts the runtime's ServiceGroup down gracefully.
import Dispatch
import Glibc
import ServiceLifecycle
import AegisNodeLink
import Synchronization

/// The first reason a node was asked to stop; later ones are ignored.
public final class StopLatch: Sendable {
    public enum Reason: Sendable {
        /// A stop: with `drain`, agents are stopped and their final states recorded first.
        case stop(drain: Bool)
        /// The worker's session ended for good (refused, protocol version): the process fails.
        case sessionEnded(SessionError)
    }

    private let state = Mutex<(reason: Reason?, waiters: [CheckedContinuation<Reason, Never>])>((nil, []))

    public init() {}

    /// Records `reason` unless one was recorded already, and wakes the waiters.
    public func fire(_ reason: Reason) {
        let waiters: [CheckedContinuation<Reason, Never>] = state.withLock { s in
            guard s.reason == nil else { return [] }
            s.reason = reason
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: reason) }
    }

    /// The reason fired, nil while none was.
    public var reason: Reason? { state.withLock { $0.reason } }

    /// Whether the stop asked for the agents to be stopped first.
    public var drains: Bool {
        if case .stop(drain: true)? = reason { return true }
        return false
    }

    /// The first reason fired (at once if it already was).
    public func wait() async -> Reason {
        await withCheckedContinuation { c in
            let fired: Reason? = state.withLock { s in
                if let r = s.reason { return r }
                s.waiters.append(c)
                return nil
            }
            if let fired { c.resume(returning: fired) }
        }
    }

    /// SIGTERM and SIGINT fire `.stop(drain: drainOnTerm)`, SIGUSR2 (`aegis down`) `.stop(drain: true)`.
    /// Returns the signal sources; cancel them when the runtime stops.
    public func installSignalHandlers(drainOnTerm: Bool) -> [DispatchSourceSignal] {
        [(SIGTERM, drainOnTerm), (SIGINT, drainOnTerm), (SIGUSR2, true)].map { sig, drain in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { self.fire(.stop(drain: drain)) }
            source.resume()
            return source
        }
    }
}

/// Returns once the latch fires (the ServiceGroup then shuts down gracefully, services in reverse
/// order); a graceful shutdown that began elsewhere (a service failed) fires it as a plain stop.
struct StopRequestService: Service {
    let latch: StopLatch

    func run() async {
        await withGracefulShutdownHandler {
            _ = await latch.wait()
        } onGracefulShutdown: { [latch] in
            latch.fire(.stop(drain: false))
        }
    }

    /// Its configuration: when it returns, the group shuts down gracefully.
    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)
    }
}

/// Waits for the group's graceful shutdown and then, when the stop asked for it, stops the agents
/// (the services listed after it — the API servers — are down by then; those before it — the
/// event pump, the session — still run, so the agents' final states are recorded).
struct AgentDrainService: Service {
    let latch: StopLatch
    let drain: @Sendable () async -> Void

    func run() async {
        try? await gracefulShutdown()
        if latch.drains { await drain() }
    }
}
