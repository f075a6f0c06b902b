// InProcessNode.swift — a controller or hybrid node started inside the calling process, for tests
// (the role Nomad's in-process test agent plays): the real runtime, store, worker, sandboxes and
// API servers, on a fresh data directory, with an API client for its unix socket. No signal
// handler is installed; `stop` ends it as SIGTERM or `aegis down` would.
import AegisClient
import AegisControl
import AegisProtocol
import Foundation
import Logging

public final class InProcessNode: Sendable {
    public let runtime: NodeRuntime
    /// The node's `run`, owned here and awaited by `stop`.
    private let running: Task<Void, any Error>

    private init(runtime: NodeRuntime, running: Task<Void, any Error>) {
        self.runtime = runtime
        self.running = running
    }

    /// Starts a node with `configure` applied to the defaults of `aegis up` (API port 0, so any
    /// free port) and waits until its API answers (at most `timeout`).
    /// - Throws: `NodeConfigurationError`, `NodeStartError`, or a timeout as `NodeStartError`.
    public static func start(
        dataDir: String, name: String = "in-process", role: NodeRole = .hybrid,
        timeout: Duration = .seconds(30), configure: (inout NodeFlags) -> Void = { _ in }
    ) async throws -> InProcessNode {
        var flags = NodeFlags()
        flags.dataDir = dataDir
        flags.name = name
        flags.role = role
        flags.apiPort = 0
        configure(&flags)
        let configuration = try NodeConfiguration(flags)
        let runtime = try await NodeRuntime.start(configuration, logger: Logger(label: "aegis.node.\(name)"))
        let node = InProcessNode(runtime: runtime, running: Task { try await runtime.run(handleSignals: false) })
        let deadline = ContinuousClock.now + timeout
        while !(await node.answers()) {
            guard ContinuousClock.now < deadline else {
                try? await node.stop(drain: true)
                throw NodeStartError("in-process node \(name): its API did not answer within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return node
    }

    /// Whether the API answers: the admin token on the node's socket, or /readyz on the pod socket.
    private func answers() async -> Bool {
        if let podSocket = runtime.configuration.podSocket {
            return (try? HealthProbe.get(socket: podSocket, path: "/readyz", timeout: .seconds(2)))?.status == 200
        }
        return (try? await client().workloads()) != nil
    }

    /// An admin client for the node's unix socket (the pod socket with `--socket`).
    public func client() throws -> APIClient {
        APIClient(
            settings: try ConnectionSettings.resolve(
                dataDir: runtime.configuration.paths.dataDir, server: runtime.configuration.podSocket.map { "unix://" + $0 }, token: nil,
                tenant: nil, environment: { _ in nil }))
    }

    /// The node's TCP API port (0 until its server runs).
    public var apiPort: Int {
        (try? String(contentsOfFile: runtime.configuration.paths.portFile, encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    /// The cluster port's URL, https://127.0.0.1:PORT (nil until its listener runs, or without --listen).
    public var clusterURL: String? {
        (try? String(contentsOfFile: runtime.configuration.paths.dataDir + "/cluster.port", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { "https://127.0.0.1:\($0)" }
    }

    /// Stops the node and waits until it stopped; with `drain` its agents are stopped first.
    /// - Throws: what the node's run threw (a server that failed).
    public func stop(drain: Bool = true) async throws {
        runtime.stop(drain: drain)
        try await running.value
    }
}

/// A worker node started inside the calling process: joins `join` with `token` on its first
/// start, then keeps its session until `stop`.
public final class InProcessWorker: Sendable {
    public let runtime: WorkerRuntime
    private let running: Task<Void, any Error>

    private init(runtime: WorkerRuntime, running: Task<Void, any Error>) {
        self.runtime = runtime
        self.running = running
    }

    /// - Throws: `NodeConfigurationError`, `NodeStartError`, `JoinClientError`.
    public static func start(
        dataDir: String, name: String, join: String, token: String?,
        configure: (inout NodeFlags) -> Void = { _ in }
    ) async throws -> InProcessWorker {
        var flags = NodeFlags()
        flags.dataDir = dataDir
        flags.name = name
        flags.role = .worker
        flags.join = join
        flags.token = token
        configure(&flags)
        let runtime = try await WorkerRuntime.start(try NodeConfiguration(flags), logger: Logger(label: "aegis.worker.\(name)"))
        return InProcessWorker(runtime: runtime, running: Task { try await runtime.run(handleSignals: false) })
    }

    /// Stops the worker and waits until it stopped; with `drain` its agents are stopped (evicted) first.
    /// - Throws: the `SessionError` that ended its session for good, if one did.
    public func stop(drain: Bool = true) async throws {
        runtime.stop(drain: drain)
        try await running.value
    }
}
