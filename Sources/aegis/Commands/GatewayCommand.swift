// GatewayCommand.swift — `aegis gateway`: the cluster's front door in the foreground. Flags →
// GatewayConfiguration → Gateway in a ServiceGroup; SIGTERM or SIGINT drain it. Parsing only:
// AegisGateway does the work. Access-log lines go to stdout, the gateway's own log to stderr.
import AegisDaemon
import AegisGateway
import ArgumentParser
import Logging
import ServiceLifecycle

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve the cluster port: TLS with the cluster CA, every request forwarded to the controller's unix socket.",
        discussion: """
            Client certificates are optional; one from the cluster CA reaches the controller as \
            X-Aegis-Gateway-Client-Certificate (incoming X-Aegis-Gateway-* headers are always removed). \
            SIGTERM or SIGINT: stop accepting, let requests finish (10 s), close sessions with 1001.
            """)

    @Option(help: "The TLS cluster port, HOST:PORT.") var listen = "0.0.0.0:7443"
    @Option(help: "The plain-HTTP probe port (/healthz, /readyz), loopback HOST:PORT.") var healthListen = "127.0.0.1:7444"
    @Option(help: ArgumentHelp("The controller's API unix socket.", valueName: "path")) var controllerSocket = "/run/aegis/controller.sock"
    @Option(help: ArgumentHelp("A unix socket (mode 0660) serving /metrics, /healthz and /readyz over plain HTTP.", valueName: "path"))
    var adminSocket: String?
    @Option(help: ArgumentHelp("The cluster CA's directory (ca.crt, ca.key): <data-dir>/pki of the controller.", valueName: "dir"))
    var pkiDir = "/var/lib/aegis/pki"
    @Option(help: "The gateway's name in its server certificate (default aegis-gateway).") var name: String?
    @Option(help: "Largest request body, bytes or a quantity like 96Mi.") var maxBodyBytes = "96Mi"
    @Option(help: "Requests per second per tenant (token bucket refill).") var rate = "50"
    @Option(help: "Requests a tenant may make at once (token bucket size).") var burst = 100
    @Option(help: "Requests of one tenant in flight at once.") var maxConcurrent = 32
    @Option(help: "How long a refused (429) request waits before its answer: 0 to 10s.") var refusalDelay = "1s"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        let threads = ServerThreads.configure(eventLoopExecutor: true)
        var flags = GatewayFlags()
        flags.listen = listen
        flags.healthListen = healthListen
        flags.controllerSocket = controllerSocket
        flags.adminSocket = adminSocket
        flags.pkiDir = pkiDir
        flags.name = name
        flags.maxBodyBytes = maxBodyBytes
        flags.rate = rate
        flags.burst = burst
        flags.maxConcurrent = maxConcurrent
        flags.refusalDelay = refusalDelay
        flags.logLevel = logLevel
        let configuration: GatewayConfiguration
        do { configuration = try GatewayConfiguration(flags) } catch { throw ValidationError(error.message) }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "aegis.gateway")
        logger.debug(
            "threads",
            metadata: [
                "event_loops": "\(threads.eventLoops)", "executor": "\(threads.executorOnEventLoops ? "event loops" : "cooperative pool")",
            ])
        try await runVerb {
            let gateway = try Gateway(configuration: configuration, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: gateway, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
