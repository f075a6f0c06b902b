// ControllerMetricsSupport.swift — fixtures of the controller metrics tests: a worker link that
// acknowledges starts (and, for short agents, their exits) as a worker would, a reader of
// exposition samples, `promtool` as a subprocess, and a real Prometheus (Debian package
// `prometheus`, installed by scripts/install-deps.sh) scraping an in-process controller.
import AegisControl
import AegisProtocol
import AsyncHTTPClient
import Foundation
import Glibc
import Synchronization
import XCTest

/// A worker link that reports every start as `started` soon after (as a worker's event would
/// arrive), and with `exits` an exit with 0 right after it: a short agent.
final class AcknowledgingLink: WorkerLink {
    let node: String
    let exits: Bool
    private let controller = Mutex<Controller?>(nil)
    private let started = Mutex(0)

    init(node: String, exits: Bool) {
        self.node = node
        self.exits = exits
    }

    func attach(to c: Controller) { controller.withLock { $0 = c } }
    var starts: Int { started.withLock { $0 } }

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        started.withLock { $0 += 1 }
        guard let c = controller.withLock({ $0 }) else { return }
        let id = workload.id, generation = workload.generation, node = node, exits = exits
        Task {
            await c.handle(.started(id: id, generation: generation, pid: 100), from: node)
            if exits { await c.handle(.exited(id: id, generation: generation, report: ExitReport(exitCode: 0)), from: node) }
        }
    }
    func cancel(id: String, generation: Int64) async {}
    func release(id: String, generation: Int64) async {}
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? { nil }
    func outputs(id: String, outputDir: String) async -> [String] { [] }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] { [] }
    func reconcile(active: [(id: String, generation: Int64)]) async {}
}

/// One sample of an exposition: family-or-series name, labels, value.
struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

enum Exposed {
    /// The samples of a text-format (or OpenMetrics) exposition; label values without escapes.
    static func samples(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                return nil
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return Sample(name: String(series), labels: [:], value: value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: "\",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0]).trimmingCharacters(in: CharacterSet(charactersIn: ","))] = String(
                    kv[1].drop { $0 == "\"" }.prefix { $0 != "\"" })
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    /// The value of `name` with exactly `labels` (nil when absent).
    static func value(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples(text).first { $0.name == name && $0.labels == labels }?.value
    }

    /// `# TYPE` of every family: name → type.
    static func types(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let f = line.split(separator: " ")
            if f.count == 4 { out[String(f[2])] = String(f[3]) }
        }
        return out
    }
}

/// Runs a tool with `input` on stdin; exit status and combined output.
func runTool(_ path: String, _ args: [String], input: [UInt8] = []) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let stdin = Pipe(), out = Pipe()
    p.standardInput = stdin
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let writer = Thread {
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
    }
    writer.start()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// `/usr/bin/<name>` (or elsewhere on PATH); fails the test with the install hint when missing.
func prometheusTool(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init) + ["/usr/bin"]
    if let path = dirs.map({ $0 + "/" + name }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return path }
    XCTFail("\(name) is not installed (Debian package prometheus; scripts/install-deps.sh installs it)", file: file, line: line)
    return nil
}

/// A TCP port on 127.0.0.1 free at the time of the call.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A Prometheus server scraping one target every second, with its data in `directory`.
final class PrometheusServer {
    let process = Process()
    let port: Int
    let directory: String

    /// Starts `prometheus` scraping http://`target`/metrics with `token` as bearer, every 1 s.
    init(binary: String, directory: String, target: String, token: String) throws {
        self.directory = directory
        port = try freeLoopbackPort()
        try token.write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: aegis
                metrics_path: /metrics
                authorization:
                  type: Bearer
                  credentials_file: \(directory)/token
                static_configs:
                  - targets: ['\(target)']
            """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/tsdb",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        FileManager.default.createFile(atPath: directory + "/prometheus.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/prometheus.log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and waits for its exit.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    var log: String { (try? String(contentsOfFile: directory + "/prometheus.log", encoding: .utf8)) ?? "" }

    /// GET of the HTTP API; the JSON answer's `data`.
    func api(_ path: String) async throws -> Any? {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        guard json?["status"] as? String == "success" else { throw PrometheusError(answer: String(buffer: body)) }
        return json?["data"]
    }

    /// An instant PromQL query: each result's labels and value.
    func query(_ promql: String) async throws -> [(labels: [String: String], value: Double)] {
        let q = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        let data = try await api("/api/v1/query?query=\(q)") as? [String: Any]
        let results = data?["result"] as? [[String: Any]] ?? []
        return results.map {
            let value = ($0["value"] as? [Any])?.last as? String
            return ($0["metric"] as? [String: String] ?? [:], value.flatMap(Double.init) ?? .nan)
        }
    }

    /// The single value of a query returning one series (nil for none).
    func scalar(_ promql: String) async throws -> Double? { try await query(promql).first?.value }

    /// The scrape targets' health ("up", "down", "unknown") and last errors.
    func targets() async throws -> [(health: String, error: String)] {
        let data = try await api("/api/v1/targets") as? [String: Any]
        return (data?["activeTargets"] as? [[String: Any]] ?? []).map {
            ($0["health"] as? String ?? "", $0["lastError"] as? String ?? "")
        }
    }
}

struct PrometheusError: Error, CustomStringConvertible {
    var answer: String
    var description: String { "Prometheus answered: \(answer)" }
}

/// Polls `check` every 100 ms until it is true or `timeout` seconds pass (then fails the test).
func eventually(
    _ what: String, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line, _ check: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? await check()) == true { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    XCTFail("timed out after \(timeout) s waiting for \(what)", file: file, line: line)
}
