// MetricsSidecar.swift — `aegis metrics`, the controller pod's metrics sidecar and the cluster's one
// scrape target: a plain-HTTP TCP listener (`--listen`, default 127.0.0.1:9464; HummingbirdCore)
// whose GET /metrics reads GET /metrics of the controller's socket and of the gateway's admin socket
// at once (the scraper's Accept header passed on, each within `--scrape-timeout`) and answers one
// document: its own series, then the controller's, then the gateway's, in the negotiated format
// (Prometheus text 0.0.4, or OpenMetrics 1.0.0 with a single `# EOF`; ExpositionMerge). A source
// that fails is `aegis_metrics_source_up{source} 0` and its series are left out: the scrape still
// answers 200. GET /healthz: 200 while serving. GET /readyz: 200 when both sockets answer their
// /healthz (asked on the request, within 1 s), else 503 with the reasons, one per line.
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The sidecar: run it in a `ServiceGroup` (or call `run()`); graceful shutdown stops it.
public final class MetricsSidecar: Service, Sendable, CustomStringConvertible {
    public let configuration: MetricsSidecarConfiguration
    let logger: Logger
    let series: SidecarSeries
    private let state = Mutex(ListenState())

    public var description: String { "MetricsSidecar(\(configuration.listen))" }

    /// - Parameters:
    ///   - configuration: validated again here.
    ///   - logger: the sidecar's log (a source going down or coming back is logged once per change).
    /// - Throws: `MetricsSidecarConfigurationError` naming the flag.
    public init(
        configuration: MetricsSidecarConfiguration, logger: Logger = Logger(label: "aegis.metrics")
    ) throws(MetricsSidecarConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        series = SidecarSeries(sources: configuration.sources)
    }

    /// The TCP port once it listens (useful with port 0).
    /// - Throws: `MetricsSidecarError` when the sidecar failed or stopped first.
    public func listeningPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            update { $0.waiters.append(continuation) }
        }
    }

    /// Serves until graceful shutdown or cancellation.
    /// - Throws: `MetricsSidecarError` naming `--listen` when it can't listen, with the cause.
    public func run() async throws {
        let scraper = SocketScraper(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, maxBytes: configuration.maxExpositionBytes)
        let address = configuration.listen
        let server = Server(
            childChannelSetup: HTTP1Channel(responder: responder(scraper)),
            configuration: .init(address: .hostname(address.host, port: address.port)),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                update { $0.port = port }
                logger.info(
                    "metrics listening",
                    metadata: [
                        "address": "\(address.host):\(port)", "controller": "\(configuration.controllerSocket)",
                        "gateway": "\(configuration.gatewaySocket)",
                    ])
            }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do { try await server.run() } catch {
            update { $0.failure = "\(error)" }
            await scraper.shutdown()
            throw MetricsSidecarError("listening on --listen \(address): \(error)", underlying: error)
        }
        update { $0.failure = "stopped" }
        await scraper.shutdown()
    }

    /// The answer to GET /metrics with `accept`: every source read at once, then one document.
    func exposition(accept: String?, scraper: SocketScraper) async -> Exposition {
        let format = ExpositionFormat.negotiate(accept: accept)
        let timeout = configuration.scrapeTimeout
        let scrapes = await withTaskGroup(of: (Int, SourceScrape).self) { group in
            for (index, source) in configuration.sources.enumerated() {
                group.addTask { (index, await scraper.scrape(source, accept: accept, format: format, timeout: timeout)) }
            }
            return await group.reduce(into: [SourceScrape?](repeating: nil, count: configuration.sources.count)) { $0[$1.0] = $1.1 }
        }.compactMap { $0 }
        for scrape in scrapes {
            series.record(scrape)
            logChange(scrape)
        }
        let own = series.render(format)
        let merged = ExpositionMerge.merge([own] + scrapes.compactMap(\.body), format: format)
        logDuplicates(merged.duplicates)
        return Exposition(format: format, body: merged.body)
    }

    /// The /readyz answer: nil when every source's /healthz answered 200, else the reasons.
    func notReadyReasons(scraper: SocketScraper) async -> String? {
        let timeout = configuration.probeTimeout
        let reasons = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, source) in configuration.sources.enumerated() {
                group.addTask { (index, await scraper.probe(source, timeout: timeout)) }
            }
            return await group.reduce(into: [(Int, String)]()) { if let reason = $1.1 { $0.append(($1.0, reason)) } }
        }
        guard !reasons.isEmpty else { return nil }
        return reasons.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: "\n")
    }

    /// GET/HEAD /metrics, /healthz, /readyz; 404 for anything else.
    func responder(_ scraper: SocketScraper) -> HTTPChannelHandler.Responder {
        { [self] request, writer, _ in
            let text = "text/plain; charset=utf-8"
            guard request.method == .get || request.method == .head else {
                return try await Self.write(.methodNotAllowed, "only GET and HEAD\n", type: text, request: request, writer: writer)
            }
            switch request.uri.path {
            case "/metrics":
                let exposition = await exposition(accept: request.headers[.accept], scraper: scraper)
                try await Self.write(.ok, exposition.body, type: exposition.contentType, request: request, writer: writer)
            case "/healthz":
                try await Self.write(.ok, "ok\n", type: text, request: request, writer: writer)
            case "/readyz":
                if let reasons = await notReadyReasons(scraper: scraper) {
                    try await Self.write(.serviceUnavailable, reasons + "\n", type: text, request: request, writer: writer)
                } else {
                    try await Self.write(.ok, "ready\n", type: text, request: request, writer: writer)
                }
            default:
                let message = "not found: the metrics sidecar serves GET /metrics, GET /healthz and GET /readyz\n"
                try await Self.write(.notFound, message, type: text, request: request, writer: writer)
            }
        }
    }

    static func write(
        _ status: HTTPResponse.Status, _ text: String, type: String, request: Request, writer: consuming ResponseWriter
    ) async throws {
        try await write(status, Array(text.utf8), type: type, request: request, writer: writer)
    }

    /// One whole response (its body left out for HEAD).
    static func write(
        _ status: HTTPResponse.Status, _ body: [UInt8], type: String, request: Request, writer: consuming ResponseWriter
    ) async throws {
        let head = HTTPResponse(status: status, headerFields: [.contentType: type, .contentLength: "\(body.count)"])
        let content = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        try await writer.write(response: head, body: content)
    }

    // MARK: state and logs

    /// Logs a source that went down (with why) or came back, once per change.
    private func logChange(_ scrape: SourceScrape) {
        let up = scrape.body != nil
        let changed = state.withLock { s in
            defer { s.up[scrape.source.name] = up }
            return s.up[scrape.source.name] != up
        }
        guard changed else { return }
        if let failure = scrape.failure {
            logger.warning("source down: its series are left out", metadata: ["source": "\(scrape.source.name)", "error": "\(failure)"])
        } else {
            logger.info("source up", metadata: ["source": "\(scrape.source.name)"])
        }
    }

    /// Logs each family left out as a duplicate, once.
    private func logDuplicates(_ families: [String]) {
        let new = state.withLock { s in families.filter { s.loggedDuplicates.insert($0).inserted } }
        for family in new { logger.warning("a metric family came from two sources; the first kept", metadata: ["family": "\(family)"]) }
    }

    private struct ListenState {
        var port: Int?
        var failure: String?
        var waiters: [CheckedContinuation<Int, any Error>] = []
        /// Whether each source answered its last scrape.
        var up: [String: Bool] = [:]
        var loggedDuplicates: Set<String> = []
    }

    private func update(_ change: (inout ListenState) -> Void) {
        let (waiters, result): ([CheckedContinuation<Int, any Error>], Result<Int, any Error>) = state.withLock { s in
            change(&s)
            let waiters = s.waiters
            if let port = s.port {
                s.waiters = []
                return (waiters, .success(port))
            }
            if let failure = s.failure {
                s.waiters = []
                return (waiters, .failure(MetricsSidecarError(failure)))
            }
            return ([], .success(0))
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}

/// The sidecar's own series: `aegis_metrics_source_up{source}` (1 when the source's /metrics
/// answered the last scrape, else 0) and `aegis_metrics_source_scrape_duration_seconds{source}`
/// (how long that read took), both gauges, both sources present from the start.
final class SidecarSeries: Sendable {
    let registry: PrometheusCollectorRegistry
    let up: [String: Gauge]
    let duration: [String: Gauge]

    static let help = [
        "aegis_metrics_source_up":
            "1 when the source's /metrics answered the last scrape of this sidecar, else 0, by source (controller, gateway).",
        "aegis_metrics_source_scrape_duration_seconds": "Duration of the last read of the source's /metrics, seconds, by source.",
    ]

    init(sources: [MetricsSource]) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ source: MetricsSource) -> Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.help[name] ?? name),
                labels: [("source", source.name)])
        }
        up = Dictionary(uniqueKeysWithValues: sources.map { ($0.name, gauge("aegis_metrics_source_up", $0)) })
        duration = Dictionary(uniqueKeysWithValues: sources.map { ($0.name, gauge("aegis_metrics_source_scrape_duration_seconds", $0)) })
    }

    func record(_ scrape: SourceScrape) {
        up[scrape.source.name]?.set(to: scrape.body == nil ? 0.0 : 1.0)
        duration[scrape.source.name]?.set(to: scrape.seconds)
    }

    /// The series in `format`.
    func render(_ format: ExpositionFormat) -> [UInt8] { Exposition(prometheusText: registry.emitToBuffer(), as: format).body }
}

/// A sidecar that could not start or serve, with its cause.
public struct MetricsSidecarError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The error behind it, nil when the message is all there is.
    public let underlying: (any Error)?

    public init(_ description: String, underlying: (any Error)? = nil) {
        self.description = description
        self.underlying = underlying
    }
}
