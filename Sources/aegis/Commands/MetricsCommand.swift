// MetricsCommand.swift — `aegis metrics`: the controller pod's metrics sidecar in the foreground.
// Flags → MetricsSidecarConfiguration → MetricsSidecar in a ServiceGroup; SIGTERM or SIGINT stop
// it. Parsing only: AegisMetrics does the work. The sidecar's own log goes to stderr.
import AegisMetrics
import ArgumentParser
import Logging
import ServiceLifecycle

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Serve /metrics for the whole cluster: the controller's and the gateway's series, read over their unix sockets.",
        discussion: """
            GET /metrics answers Prometheus text 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it, \
            with aegis_metrics_source_up{source} telling whether each socket answered (a source that did not is \
            left out; the scrape still answers 200). GET /healthz: 200 while serving; GET /readyz: 200 when both \
            sockets answer. No token is needed or accepted: listen only where the pod's scraper is.
            """)

    @Option(help: "Where Prometheus scrapes, HOST:PORT.") var listen = "127.0.0.1:9464"
    @Option(help: ArgumentHelp("The controller's API unix socket.", valueName: "path")) var controllerSocket = "/run/aegis/controller.sock"
    @Option(help: ArgumentHelp("The gateway's admin socket (aegis gateway --admin-socket).", valueName: "path"))
    var gatewaySocket = "/run/aegis/gateway.sock"
    @Option(help: "How long each socket may take to answer one scrape (e.g. 5s, 500ms; at most 60s).") var scrapeTimeout = "5s"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        var flags = MetricsSidecarFlags()
        flags.listen = listen
        flags.controllerSocket = controllerSocket
        flags.gatewaySocket = gatewaySocket
        flags.scrapeTimeout = scrapeTimeout
        flags.logLevel = logLevel
        let configuration: MetricsSidecarConfiguration
        do { configuration = try MetricsSidecarConfiguration(flags) } catch { throw ValidationError(error.message) }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "aegis.metrics")
        try await runVerb {
            let sidecar = try MetricsSidecar(configuration: configuration, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: sidecar, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
