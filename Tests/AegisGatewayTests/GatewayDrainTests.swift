// GatewayDrainTests.swift — graceful shutdown: a request in flight finishes while /readyz says
// draining and new connections are refused; one that outlasts the drain timeout is cut there.
import AegisGateway
import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

final class GatewayDrainTests: GatewayTestCase {
    func testInFlightStreamFinishesWhileDraining() async throws {
        let gateway = try await startGateway { $0.drainTimeout = .seconds(5) }
        let http = try client()
        let response = try await http.execute(HTTPClientRequest(url: gateway.base + "/sse?n=15"), timeout: .seconds(10))
        let stopping = Task { await gateway.stop() }
        try await Task.sleep(for: .milliseconds(200))
        let ready = try await http.fetch(gateway.probe + "/readyz")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.body.contains("draining"), ready.body)
        let alive = try await http.fetch(gateway.probe + "/healthz")
        XCTAssertEqual(alive.status, 200)
        XCTAssertFalse(tcpConnects(port: gateway.ports.cluster), "a new connection while draining")
        var text = ""
        for try await chunk in response.body { text += String(buffer: chunk) }
        XCTAssertTrue(text.contains("data: event 14"), "the stream in flight was cut: \(text)")
        await stopping.value
    }

    func testDrainTimeoutCutsWhatOutlastsIt() async throws {
        let gateway = try await startGateway { $0.drainTimeout = .milliseconds(500) }
        let http = try client()
        let response = try await http.execute(HTTPClientRequest(url: gateway.base + "/sse?n=100"), timeout: .seconds(10))
        let start = ContinuousClock.now
        await gateway.stop()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
        var text = ""
        do { for try await chunk in response.body { text += String(buffer: chunk) } } catch {}
        XCTAssertFalse(text.contains("data: event 99"))
        let controller = controller!
        try await waitFor(.seconds(3)) { controller.streamsEnded.load(ordering: .relaxed) == 1 }
    }
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted.
func tcpConnects(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
