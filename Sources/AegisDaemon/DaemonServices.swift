// DaemonServices.swift — the node's long-running loops as swift-service-lifecycle Services, each
// ended by the group's graceful shutdown: the worker-event pump and the lease monitor of a
// controller, the API servers (with their own shutdown backstop), the worker's controller session
// and its capability re-detection.
import AegisAPI
import AegisControl
import AegisNode
import AegisNodeLink
import AegisProtocol
import Logging
import ServiceLifecycle
import Synchronization

/// Hands the in-process worker's events to the controller, one at a time and in order. On
/// graceful shutdown the stream is finished: events already queued are still handled.
struct WorkerEventPump: Service {
    let controller: Controller
    let events: AsyncStream<WorkerEvent>
    let finish: @Sendable () -> Void

    func run() async {
        await withGracefulShutdownHandler {
            for await e in events { await controller.handle(e) }
        } onGracefulShutdown: { [finish] in
            finish()
        }
    }
}

/// The API servers (127.0.0.1, the unix socket, the cluster port) and the shutdown notice in a
/// group of their own: requests still running `backstop` after stopping began are cancelled,
/// without cutting the agents' drain short that runs after them.
struct APIServersService: Service {
    let services: [ServiceGroupConfiguration.ServiceConfiguration]
    let backstop: Duration
    let logger: Logger

    func run() async throws {
        var config = ServiceGroupConfiguration(services: services, logger: logger)
        config.maximumGracefulShutdownDuration = backstop
        do { try await ServiceGroup(configuration: config).run() } catch is CancellationError {
            // A request outlived the backstop and was cancelled: the node still stops in order.
            logger.warning("API servers stopped: a request was cancelled at the shutdown backstop")
        } catch {
            logger.error("API servers stopped with an error", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// A server that can't run (its port taken, …) stops the node in order, then fails its start.
    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, failureTerminationBehavior: .gracefullyShutdownGroup)
    }
}

/// A listener whose failure names what it listens on ("listening on 127.0.0.1:7420: bind(…):
/// Address already in use"), so the log and the unit's journal say which port is taken.
struct NamedListener<Server: Service>: Service {
    let server: Server
    let address: String

    func run() async throws {
        do { try await server.run() } catch is CancellationError { throw CancellationError() } catch {
            throw NodeStartError("listening on \(address): \(error)", underlying: error)
        }
    }
}

/// The last API service to start, the first to stop: marks the node as stopping, which ends every
/// open log stream.
struct ShutdownNotice: Service {
    let signal: ShutdownSignal

    func run() async throws {
        try? await gracefulShutdown()
        signal.begin()
    }
}

/// A worker's session with its controller until shutdown; one that ends for good (refused,
/// protocol version) fires the stop latch and stops the node. On shutdown the session's task is
/// cancelled and the service returns at once: the WebSocket's close handshake (up to seconds with
/// a peer that does not answer) must not hold the node's exit, as a stop signal never did.
struct ControllerSessionService: Service {
    let session: ControllerSession
    let latch: StopLatch

    func run() async {
        let end = SessionEnd()
        let running = Task { [session] in end.resolve(await session.run()) }  // cancelled on shutdown
        let fatal = await withGracefulShutdownHandler {
            await end.wait()
        } onGracefulShutdown: {
            running.cancel()
            end.resolve(nil)
        }
        if let fatal { latch.fire(.sessionEnded(fatal)) }
    }

    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)
    }
}

/// The first of: the session's end (its fatal error, nil after a cancel) and a shutdown (nil).
final class SessionEnd: Sendable {
    private let state = Mutex<(ended: Bool, fatal: SessionError?, waiter: CheckedContinuation<SessionError?, Never>?)>((false, nil, nil))

    func resolve(_ fatal: SessionError?) {
        let waiter: CheckedContinuation<SessionError?, Never>? = state.withLock { s in
            guard !s.ended else { return nil }
            s.ended = true
            s.fatal = fatal
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: fatal)
    }

    func wait() async -> SessionError? {
        await withCheckedContinuation { c in
            let result: SessionError?? = state.withLock { s in
                if s.ended { return .some(s.fatal) }
                s.waiter = c
                return .none
            }
            if let result { c.resume(returning: result) }
        }
    }
}

/// Re-runs capability detection every `period`; a change goes to the controller with the next renewal.
struct CapabilityRedetection: Service {
    let session: ControllerSession
    let period: Duration
    let detect: @Sendable () async -> NodeCapabilities

    func run() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await cancelWhenGracefulShutdown { [period] in try await Task.sleep(for: period) } } catch { return }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            session.capabilitiesDetected(await detect())
        }
    }
}

/// Starts the assignments that wait for their image (`Worker.submit`): each pull runs as a child
/// task of this service (concurrent pulls of one image share its download in the store), then
/// the sandbox starts; a stop cancels the pulls in progress.
struct ImageStartService: Service {
    let worker: Worker
    /// Called after a pull changed the store: advertises the node's images.
    let pulled: @Sendable () async -> Void

    func run() async {
        await withDiscardingTaskGroup { group in
            for await assignment in worker.imageStarts.cancelOnGracefulShutdown() {
                group.addTask { [worker, pulled] in await worker.startFromImage(assignment, pulled: pulled) }
            }
            group.cancelAll()
        }
    }
}
