// MetricsCommandTests.swift — the commands as the pod runs them, as processes: `aegis gateway
// --admin-socket` serves its series on that socket (before the cluster CA exists), `aegis metrics`
// reads it and the controller's socket, answers on its --listen port and exits 0 on SIGTERM; a bad
// flag is an error naming it.
import AegisMetrics
import Foundation
import XCTest

final class MetricsCommandTests: XCTestCase {
    var directory = ""
    var processes: [Process] = []
    var controller: ControllerSocket?

    override func setUp() async throws { directory = try makeTempDirectory() }

    override func tearDown() async throws {
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        await controller?.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `name` built next to the test bundle.
    func locate(_ name: String) throws -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        throw XCTSkip("\(name) not built next to the test bundle")
    }

    /// Starts `aegis ARGS…` with its output in <directory>/<log>.
    func spawn(_ args: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try locate("aegis"))
        p.arguments = args
        FileManager.default.createFile(atPath: directory + "/" + log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/" + log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        processes.append(p)
        return p
    }

    func testGatewayAdminSocketAndMetricsSidecarAsProcesses() async throws {
        let controller = try await ControllerSocket(socket: directory + "/c.sock", directory: directory + "/data")
        self.controller = controller
        try await controller.start()
        let admin = directory + "/g.sock"
        _ = try spawn(
            [
                "gateway", "--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0", "--controller-socket", controller.socket,
                "--admin-socket", admin, "--pki-dir", directory + "/pki", "--log-level", "warning",
            ], log: "gateway.log")
        let port = try freeLoopbackPort()
        let sidecar = try spawn(
            [
                "metrics", "--listen", "127.0.0.1:\(port)", "--controller-socket", controller.socket, "--gateway-socket", admin,
                "--scrape-timeout", "2s", "--log-level", "warning",
            ], log: "metrics.log")
        let base = "http://127.0.0.1:\(port)"
        try await eventually("the sidecar ready") { try await get(base + "/readyz").status == 200 }
        let text = try await get(base + "/metrics").body
        XCTAssertEqual(Exposed.value(text, "aegis_metrics_source_up", ["source": "controller"]), 1, text)
        XCTAssertEqual(Exposed.value(text, "aegis_metrics_source_up", ["source": "gateway"]), 1, text)
        XCTAssertEqual(Exposed.value(text, "aegis_gateway_draining"), 0, "the gateway's series through the sidecar")
        XCTAssertEqual(Exposed.value(text, "aegis_placements_total"), 3, "the controller's series through the sidecar")

        kill(sidecar.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while sidecar.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertFalse(sidecar.isRunning, "still running 5 s after SIGTERM")
        XCTAssertEqual(sidecar.terminationStatus, 0, (try? String(contentsOfFile: directory + "/metrics.log", encoding: .utf8)) ?? "")
    }

    func testABadFlagIsAnErrorNamingIt() throws {
        for (args, flag) in [
            (["metrics", "--listen", "nowhere"], "--listen"), (["metrics", "--gateway-socket", "relative.sock"], "--gateway-socket"),
            (["gateway", "--admin-socket", "relative.sock"], "--admin-socket"),
        ] {
            let p = try spawn(args, log: "bad.log")
            p.waitUntilExit()
            let output = (try? String(contentsOfFile: directory + "/bad.log", encoding: .utf8)) ?? ""
            XCTAssertNotEqual(p.terminationStatus, 0, "\(args) was accepted")
            XCTAssertTrue(output.contains(flag), "\(args): \(output)")
        }
    }
}
