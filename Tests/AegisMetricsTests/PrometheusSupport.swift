// PrometheusSupport.swift — Debian's `prometheus` package in the sidecar tests (installed by
// scripts/install-deps.sh): `promtool` as a subprocess, and a real Prometheus server scraping one
// target every second without a token, with its own config and data in the test's directory, on a
// free loopback port, queried through its HTTP API.
import AsyncHTTPClient
import Foundation
import Glibc
import XCTest

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

/// `name` on PATH (or in /usr/bin); fails the test with the install hint when missing.
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
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A Prometheus server scraping http://`target`/metrics every second, its data in `directory`.
final class PrometheusServer {
    let process = Process()
    let port: Int
    let directory: String

    init(binary: String, directory: String, target: String) throws {
        self.directory = directory
        port = try freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: aegis
                metrics_path: /metrics
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
    _ what: String, timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line, _ check: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? await check()) == true { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    XCTFail("timed out after \(timeout) s waiting for \(what)", file: file, line: line)
}
