// SidecarConfiguration.swift — `aegis metrics`'s inputs as typed (MetricsSidecarFlags) and the
// validated configuration the sidecar runs with. Every flag rule lives here; an error names its flag.
import AegisProtocol
import Logging

/// The raw `aegis metrics` inputs, as the command line gave them.
public struct MetricsSidecarFlags: Sendable {
    public var listen = "127.0.0.1:9464"
    public var controllerSocket = "/run/aegis/controller.sock"
    public var gatewaySocket = "/run/aegis/gateway.sock"
    public var scrapeTimeout = "5s"
    public var logLevel = "info"

    public init() {}
}

/// A flag that can't be used as given; `message` names the flag.
public struct MetricsSidecarConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The offending flag, e.g. "--listen".
    public var flag: String
    public var message: String
    public var description: String { message }

    public init(_ flag: String, _ message: String) {
        self.flag = flag
        self.message = message
    }
}

/// One exposition the sidecar reads: a name (the `source` label) and the unix socket serving it.
public struct MetricsSource: Sendable, Equatable, CustomStringConvertible {
    /// `controller` or `gateway`: the value of the `source` label.
    public var name: String
    /// The unix socket whose GET /metrics is read.
    public var socket: String
    /// The flag that named the socket (for messages).
    public var flag: String

    public init(name: String, socket: String, flag: String) {
        self.name = name
        self.socket = socket
        self.flag = flag
    }

    public var description: String { "\(name) socket \(socket)" }
}

/// A validated sidecar configuration (`MetricsSidecar.init` checks it again with `validate()`).
public struct MetricsSidecarConfiguration: Sendable {
    /// A TCP address to listen on; port 0 picks a free port (`MetricsSidecar.listeningPort()` tells which).
    public typealias Address = ListenAddress

    /// Where Prometheus scrapes the sidecar (`--listen`, default 127.0.0.1:9464).
    public var listen: Address
    /// The controller's API socket (`--controller-socket`): its /metrics needs no token there.
    public var controllerSocket: String
    /// The gateway's admin socket (`--gateway-socket`).
    public var gatewaySocket: String
    /// How long one source may take to answer a scrape, body included (`--scrape-timeout`,
    /// default 5 s); then it counts as down for that scrape.
    public var scrapeTimeout: Duration
    /// How long /readyz waits for each socket's /healthz (default 1 s).
    public var probeTimeout: Duration = .seconds(1)
    /// Largest exposition read from one source, bytes (default 64 MiB).
    public var maxExpositionBytes = 64 << 20
    public var logLevel: Logger.Level

    /// The sources in the order their series appear: the controller's, then the gateway's.
    public var sources: [MetricsSource] {
        [
            MetricsSource(name: "controller", socket: controllerSocket, flag: "--controller-socket"),
            MetricsSource(name: "gateway", socket: gatewaySocket, flag: "--gateway-socket"),
        ]
    }

    /// A configuration from explicit values, validated.
    /// - Throws: `MetricsSidecarConfigurationError` naming the flag the value stands for.
    public init(
        listen: Address, controllerSocket: String, gatewaySocket: String, scrapeTimeout: Duration = .seconds(5),
        logLevel: Logger.Level = .info
    ) throws(MetricsSidecarConfigurationError) {
        self.listen = listen
        self.controllerSocket = controllerSocket
        self.gatewaySocket = gatewaySocket
        self.scrapeTimeout = scrapeTimeout
        self.logLevel = logLevel
        try validate()
    }

    /// The configuration `aegis metrics` runs with.
    /// - Throws: `MetricsSidecarConfigurationError` naming the flag.
    public init(_ flags: MetricsSidecarFlags) throws(MetricsSidecarConfigurationError) {
        let timeoutMs: Int
        do { timeoutMs = try Quantity.durationMilliseconds(flags.scrapeTimeout, field: "--scrape-timeout", maxMilliseconds: 60_000) } catch
        {
            throw MetricsSidecarConfigurationError("--scrape-timeout", error.description)
        }
        guard let level = Logger.Level(rawValue: flags.logLevel) else {
            throw MetricsSidecarConfigurationError(
                "--log-level", "--log-level \(flags.logLevel): expected trace, debug, info, notice, warning, error or critical")
        }
        try self.init(
            listen: try Self.parseAddress(flags.listen, flag: "--listen"), controllerSocket: flags.controllerSocket,
            gatewaySocket: flags.gatewaySocket, scrapeTimeout: .milliseconds(timeoutMs), logLevel: level)
    }

    /// Checks every value against its range.
    /// - Throws: `MetricsSidecarConfigurationError` naming the flag.
    public func validate() throws(MetricsSidecarConfigurationError) {
        guard !listen.host.isEmpty, (0...65535).contains(listen.port) else {
            throw MetricsSidecarConfigurationError("--listen", "--listen \(listen): expected HOST:PORT with a port 0-65535")
        }
        for source in sources {
            // sockaddr_un's sun_path holds 107 bytes and the terminating NUL.
            guard source.socket.hasPrefix("/"), !source.socket.contains("\0"), source.socket.utf8.count <= 107 else {
                throw MetricsSidecarConfigurationError(
                    source.flag, "\(source.flag) \(source.socket): expected the absolute path of a unix socket (at most 107 bytes)")
            }
        }
        guard controllerSocket != gatewaySocket else {
            throw MetricsSidecarConfigurationError(
                "--gateway-socket", "--gateway-socket \(gatewaySocket): the same path as --controller-socket")
        }
        guard scrapeTimeout > .zero, scrapeTimeout <= .seconds(60) else {
            throw MetricsSidecarConfigurationError("--scrape-timeout", "--scrape-timeout \(scrapeTimeout): expected 1ms to 60s")
        }
    }

    /// "HOST:PORT" (IPv6 as "[::1]:9464").
    /// - Throws: `MetricsSidecarConfigurationError` naming `flag`.
    public static func parseAddress(_ text: String, flag: String) throws(MetricsSidecarConfigurationError) -> Address {
        do { return try ListenAddress(parsing: text, example: "127.0.0.1:9464") } catch {
            throw MetricsSidecarConfigurationError(flag, "\(flag) \(text): \(error.message)")
        }
    }
}
