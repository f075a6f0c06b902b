// ControllerCommand.swift — `aegis controller`: the controller in its pod, behind the gateway. It
// listens on one unix socket only (the pod's shared volume): the gateway forwards tenants'
// requests and workers' sessions there, the metrics sidecar and the probes read it. Parsing only:
// NodeRuntime (AegisDaemon) runs it as `aegis up --role controller` runs a controller.
import AegisClient
import AegisDaemon
import AegisProtocol
import ArgumentParser
import Foundation
import Logging

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the controller on a unix socket only, behind `aegis gateway` (the controller pod).",
        discussion: """
            The socket serves the API, node sessions (identities as the gateway verified them), \
            /metrics for the metrics sidecar, and /healthz and /readyz (`aegis health`). \
            SIGTERM or SIGINT stop it gracefully; agents on workers keep running.
            """)

    @Option(help: ArgumentHelp("The unix socket to listen on (its directory must exist).", valueName: "path"))
    var socket = "/run/aegis/controller.sock"
    @Option(help: "Data directory: aegis.db, admin.token, pki/ (default as for `aegis up`).") var dataDir: String?
    @Option(help: "Controller name (default: the host name).") var name: String?
    @Option(parsing: .unconditional, help: "Lease renewal period sent to workers (default 5s).") var leaseRenewEvery = "5s"
    @Option(parsing: .unconditional, help: "A node is NotReady this long after its last lease renewal (default 20s).")
    var notReadyAfter: String?
    @Option(parsing: .unconditional, help: "A node is Down this long after its last lease renewal (default 40s).")
    var downAfter: String?
    @Option(parsing: .unconditional, help: "A Down node's agents are placed elsewhere this much later (default 10s).")
    var rescheduleMargin: String?
    @Option(help: "Scheduling strategy: binpack or spread.") var strategy = "binpack"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(
        help: ArgumentHelp(
            "Where the state lives: sqlite (<data-dir>/aegis.db) or postgres://USER@HOST:PORT/DATABASE?sslmode=… (replicated controllers, one leader; standbys answer /readyz 503).",
            valueName: "url"))
    var datastore: String?
    @Option(help: ArgumentHelp("On PostgreSQL: read the database password from this file (else PGPASSWORD).", valueName: "file"))
    var datastorePasswordFile: String?
    @Option(parsing: .unconditional, help: "On PostgreSQL: the leader lease term (default 15s).") var leaderLease: String?
    @Option(parsing: .unconditional, help: "On PostgreSQL: how often the leader renews (default 5s).") var leaderRenew: String?

    func run() async throws {
        ServerThreads.configure(eventLoopExecutor: false)
        let notice = NodeStartNotice()
        var f = NodeFlags()
        f.role = .controller
        f.socket = socket
        f.dataDir = dataDir
        f.name = name
        f.leaseRenewEvery = leaseRenewEvery
        f.notReadyAfter = notReadyAfter
        f.downAfter = downAfter
        f.rescheduleMargin = rescheduleMargin
        f.strategy = strategy
        f.logLevel = logLevel
        f.datastore = datastore
        f.datastorePasswordFile = datastorePasswordFile
        f.leaderLease = leaderLease
        f.leaderRenew = leaderRenew
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration(f) } catch let e as NodeConfigurationError { throw ValidationError(e.message) }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "aegis.node")
        try await runVerb {
            if configuration.datastore.isReplicated {
                notice.step("opening the datastore")
                try await ReplicatedController.start(configuration, logger: logger).run(notifier: notice.notifier)
                return
            }
            notice.step("opening the state")
            let node = try await NodeRuntime.start(configuration, logger: logger)
            if node.adminTokenWritten { print("aegis: admin token written to \(configuration.paths.adminToken)") }
            try await node.run(notifier: notice.notifier)
        }
    }
}

/// `aegis health`: one probe of a process that serves HTTP on a unix socket; exit 0 when it
/// answers 200…399, 1 otherwise (printing the status and body), as an exec probe expects.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Probe /healthz or /readyz of a process on a unix socket (exit 0 when healthy).")

    @Option(help: ArgumentHelp("The unix socket.", valueName: "path")) var socket = "/run/aegis/controller.sock"
    @Option(help: "The request path.") var path = "/healthz"
    @Option(parsing: .unconditional, help: "Seconds to wait for the answer (1-3600).") var timeout = 2

    func validate() throws { try checkFlagRange(timeout, 1...3600, flag: "--timeout") }

    func run() async throws {
        do {
            let answer = try HealthProbe.get(socket: socket, path: path, timeout: .seconds(timeout))
            let body = answer.body.trimmingCharacters(in: .whitespacesAndNewlines)
            print("\(answer.status)" + (body.isEmpty ? "" : " \(body)"))
            if !answer.passed { throw ExitCode(1) }
        } catch let failure as HealthProbe.Failure {
            writeStderr("aegis: health: \(failure)\n")
            throw ExitCode(1)
        }
    }
}
