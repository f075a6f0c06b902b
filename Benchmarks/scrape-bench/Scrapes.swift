// Scrapes.swift — scrape-bench's timings: the controller's exposition in process (and where its
// time and bytes go), then GET /metrics over the controller's unix socket as the metrics sidecar
// reads it.
import AegisAPI
import AegisControl
import AegisMetrics
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Both formats through `Controller.metricsExposition`, then each step of it alone, then the
/// bytes of each family.
func inProcessScrapes(_ controller: Controller, _ options: Options) async throws {
    guard let metrics = controller.metrics else { throw BenchError("the controller records no metrics") }
    var text: Exposition?
    for (name, accept) in [("text 0.0.4", nil), ("OpenMetrics", openMetricsAccept)] as [(String, String?)] {
        let run = await timed(runs: options.scrapes, warmup: options.warmup) { await controller.metricsExposition(accept: accept) }
        print(
            "scrape (Controller.metricsExposition), \(name): \(summary(run.ms)); \(bytes(run.last.body.count)); \(options.scrapes) scrapes")
        if accept == nil { text = run.last }
    }
    let list = try await timed(runs: options.scrapes, warmup: options.warmup) { try await controller.store.listNodes() }
    let refresh = await timed(runs: options.scrapes, warmup: options.warmup) { await controller.refreshNodeMetrics() }
    let renderText = await timed(runs: options.scrapes, warmup: options.warmup) { metrics.render(.prometheusText) }
    let renderOM = await timed(runs: options.scrapes, warmup: options.warmup) { metrics.render(.openMetrics) }
    print("  of which: node refresh \(summary(refresh.ms)) (the store's list of \(list.last.count) nodes: \(summary(list.ms)))")
    print("  render, text 0.0.4: \(summary(renderText.ms)); OpenMetrics: \(summary(renderOM.ms))")
    if let text {
        let pending = text.text.split(separator: "\n").filter {
            $0.hasPrefix("aegis_pending_workloads{") && $0.split(separator: " ").last.flatMap { Double($0) } != 0
        }
        print("  pending by reason class: " + pending.map { $0.dropFirst("aegis_pending_workloads".count) }.joined(separator: ", "))
        printFamilies(text.body)
    }
}

/// Bytes, lines and bytes per line of each metric family (by sample name up to `{`), largest first.
func printFamilies(_ body: [UInt8]) {
    var families: [String: (lines: Int, bytes: Int)] = [:]
    for line in body.split(separator: UInt8(ascii: "\n")) {
        let key: String
        if line.first == UInt8(ascii: "#") {
            key = "# HELP/TYPE lines"
        } else {
            let end = line.firstIndex { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: " ") } ?? line.endIndex
            key = String(decoding: line[..<end], as: UTF8.self)
        }
        families[key, default: (0, 0)].lines += 1
        families[key, default: (0, 0)].bytes += line.count + 1
    }
    print("  text exposition by series name: lines, bytes, bytes per line")
    for (name, f) in families.sorted(by: { $0.value.bytes > $1.value.bytes }).prefix(12) {
        let padded = name.count < 46 ? name + String(repeating: " ", count: 46 - name.count) : name
        print("    " + padded + String(format: " %7d %9d %6.1f", f.lines, f.bytes, Double(f.bytes) / Double(f.lines)))
    }
}

/// GET /metrics over HTTP on a unix socket: the controller's router as on its pod socket
/// (`listener: .podSocket`: no token from inside the pod), read by AsyncHTTPClient over
/// `http+unix://` without a token, as the metrics sidecar does.
func httpScrapes(_ controller: Controller, _ options: Options, socket: String, logger: Logger) async throws {
    let running = AsyncStream<Void>.makeStream()
    let app = Application(
        router: APIServer.router(controller: controller, listener: .podSocket),
        configuration: .init(address: .unixDomainSocket(path: socket), serverName: "scrape-bench"),
        onServerRunning: { _ in running.continuation.yield() }, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
    var configuration = HTTPClient.Configuration()
    configuration.httpVersion = .http1Only
    configuration.decompression = .disabled
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        for await _ in running.stream { break }
        defer { Task { await group.triggerGracefulShutdown() } }
        for (name, accept) in [("text 0.0.4", nil), ("OpenMetrics", openMetricsAccept)] as [(String, String?)] {
            let run = try await timed(runs: options.scrapes, warmup: options.warmup) {
                try await get(client, socket: socket, accept: accept)
            }
            print("GET /metrics over the unix socket, \(name): \(summary(run.ms)); \(bytes(run.last))")
        }
    }
    try await client.shutdown()
}

/// One GET /metrics; the body's size in bytes.
/// - Throws: `BenchError` for a status other than 200.
func get(_ client: HTTPClient, socket: String, accept: String?) async throws -> Int {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    var request = HTTPClientRequest(url: "http+unix://" + socket.addingPercentEncoding(withAllowedCharacters: allowed)! + "/metrics")
    if let accept { request.headers.add(name: "Accept", value: accept) }
    let response = try await client.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 64 << 20)
    guard response.status == .ok else { throw BenchError("GET /metrics: HTTP \(response.status.code): \(String(buffer: body))") }
    return body.readableBytes
}
