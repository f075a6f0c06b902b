// ServiceManagerNotifier.swift — what a node tells systemd (or any manager speaking sd_notify's
// protocol) while it runs under a Type=notify unit:
// - READY=1 only once the node really serves: a controller or hybrid node once its listeners are
//   up (its store is open and a hybrid's agents re-adopted before that), a worker once its first
//   welcome is reconciled (surviving agents re-adopted) — or, when the controller stays
//   unreachable, after a bounded wait, saying so in STATUS;
// - STATUS= lines for `systemctl status` (role, session, lease, agents running);
// - WATCHDOG=1 when the unit asks for it ($WATCHDOG_USEC), sent only after the node's own state
//   answered (a controller: its actor and a store read; a worker: its session and sandbox table),
//   so a wedged node stops feeding the watchdog instead of a timer feeding it regardless;
// - STOPPING=1 when shutdown begins (this service is listed last, so it is stopped first).
// `aegis pod run` uses the same service: ready once every container is ready.
// EXTEND_TIMEOUT_USEC is sent by the command before the long start-up steps (NodeStartNotice).
import AegisSystem
import Logging
import ServiceLifecycle

/// What the notifier asks the daemon; each closure goes through the daemon's own actors and
/// locks, so that a wedged daemon does not answer.
public struct NodeHealthProbe: Sendable {
    /// The STATUS line once the daemon is ready; nil while it is not yet.
    let ready: @Sendable () async -> String?
    /// The STATUS line now, called once the daemon is ready, every half watchdog period; nil when
    /// the daemon is alive enough to answer but one of its loops is wedged (no WATCHDOG=1 then).
    let status: @Sendable () async -> String?

    public init(ready: @escaping @Sendable () async -> String?, status: @escaping @Sendable () async -> String?) {
        self.ready = ready
        self.status = status
    }
}

/// Tells the service manager readiness, status, liveness and stopping (see the file's header);
/// list it last in a ServiceGroup, so that it is the first to hear of a stop.
public struct ServiceManagerNotifier: Service {
    let notifier: ServiceNotifier
    let probe: NodeHealthProbe
    /// READY=1 anyway after this long (a worker whose controller is unreachable); nil: wait.
    let readyAnywayAfter: Duration?
    let logger: Logger

    public init(notifier: ServiceNotifier, probe: NodeHealthProbe, readyAnywayAfter: Duration?, logger: Logger) {
        self.notifier = notifier
        self.probe = probe
        self.readyAnywayAfter = readyAnywayAfter
        self.logger = logger
    }

    /// How often STATUS is refreshed without a watchdog.
    static let statusEvery: Duration = .seconds(10)
    /// The shortest period between notifications (a tiny $WATCHDOG_USEC must not make it spin).
    static let minimumPeriod: Duration = .milliseconds(100)
    /// STATUS lines are cut to this many characters: systemd drops a datagram over 4 KiB, and the
    /// WATCHDOG=1 beside it would be lost.
    static let maxStatusCharacters = 1024

    static func bounded(_ status: String) -> String {
        status.count <= maxStatusCharacters ? status : String(status.prefix(maxStatusCharacters - 1)) + "…"
    }

    /// How often readiness is looked at while starting.
    static let readyPoll: Duration = .milliseconds(100)

    public func run() async {
        await withGracefulShutdownHandler {
            await notifyUntilCancelled()
        } onGracefulShutdown: {
            send([.stopping, .status("stopping")])
        }
    }

    private func notifyUntilCancelled() async {
        let started = ContinuousClock.now
        var ready: String?
        while ready == nil {
            ready = await probe.ready()
            if ready == nil, let limit = readyAnywayAfter, ContinuousClock.now - started >= limit {
                ready = await probe.status() ?? "started, not serving yet"
                logger.warning("ready without the controller", metadata: ["waited": "\(limit)"])
            }
            if ready == nil, !(await pause(Self.readyPoll)) { return }
        }
        var last = Self.bounded(ready ?? "")
        send([.ready, .status(last)] + (notifier.watchdogInterval == nil ? [] : [.watchdog]))
        let period = max(Self.minimumPeriod, min(Self.statusEvery, (notifier.watchdogInterval ?? Self.statusEvery) / 2))
        while await pause(period) {
            // Awaited, not raced against a timer: while the node's state does not answer (or
            // says a loop is wedged), no WATCHDOG=1 goes out, and systemd restarts the node.
            guard let now = await probe.status().map(Self.bounded) else {
                logger.warning("a loop of the node is wedged: not feeding the watchdog")
                continue
            }
            var messages: [ServiceNotification] = notifier.watchdogInterval == nil ? [] : [.watchdog]
            if now != last { messages.append(.status(now)) }
            last = now
            if !messages.isEmpty { send(messages) }
        }
    }

    /// Sleeps `duration`; false once shutdown or cancellation came.
    private func pause(_ duration: Duration) async -> Bool {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
            return !Task.isCancelled
        } catch {
            return false
        }
    }

    private func send(_ messages: [ServiceNotification]) {
        do { try notifier.send(messages) } catch {
            logger.warning("cannot notify the service manager", metadata: ["error": "\(error)"])
        }
    }
}

/// EXTEND_TIMEOUT_USEC and a STATUS line before the long steps of a start (opening the store,
/// re-adopting agents, joining), so TimeoutStartSec= counts from each step, not from exec.
public struct NodeStartNotice: Sendable {
    /// The manager's socket; nil outside a notify unit.
    public let notifier: ServiceNotifier?

    /// Takes the manager's socket from the environment (and removes it there, so that agents
    /// don't inherit it); a no-op outside a notify unit.
    public init(notifier: ServiceNotifier? = ServiceNotifier.fromEnvironment()) { self.notifier = notifier }

    /// How long each announced step may take.
    public static let stepTimeout: Duration = .seconds(90)

    /// "starting: <step>" with another `stepTimeout` to go.
    public func step(_ text: String) {
        try? notifier?.send([.status("starting: " + text), .extendTimeout(Self.stepTimeout)])
    }
}
