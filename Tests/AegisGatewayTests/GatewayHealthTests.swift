// GatewayHealthTests.swift — the probe listener: /healthz while serving, /readyz only with the TLS
// port up and the controller's socket answering; a gateway started before the CA exists waits for it.
import AegisGateway
import AegisPKI
import AsyncHTTPClient
import Foundation
import NIOSSL
import XCTest

final class GatewayHealthTests: GatewayTestCase {
    func testProbes() async throws {
        let gateway = try await startGateway()
        let http = try client()
        let healthy = try await http.fetch(gateway.probe + "/healthz")
        XCTAssertEqual(healthy.status, 200)
        let ready = try await http.fetch(gateway.probe + "/readyz")
        XCTAssertEqual(ready.status, 200, ready.body)
        let other = try await http.fetch(gateway.probe + "/other").status
        XCTAssertEqual(other, 404)

        await controller.stop()
        let notReady = try await http.fetch(gateway.probe + "/readyz")
        XCTAssertEqual(notReady.status, 503)
        XCTAssertTrue(notReady.body.contains("controller socket"), notReady.body)
        let alive = try await http.fetch(gateway.probe + "/healthz").status
        XCTAssertEqual(alive, 200, "alive without a controller")
    }

    func testWaitsForTheClusterCA() async throws {
        let pkiDir = dir.file("pki")
        let gateway = try await GatewayUnderTest.start(pki: pki, socket: controller.socket, pkiDirectory: pkiDir, provideCA: false) {
            $0.caPollInterval = .milliseconds(100)
        }
        gateways.append(gateway)
        let http = try client()
        let alive = try await http.fetch(gateway.probe + "/healthz").status
        XCTAssertEqual(alive, 200)
        let waiting = try await http.fetch(gateway.probe + "/readyz")
        XCTAssertEqual(waiting.status, 503)
        XCTAssertTrue(waiting.body.contains("waiting for the cluster CA"), waiting.body)

        let ca = try ClusterCA.loadOrCreate(directory: pkiDir)
        let ports = try await gateway.gateway.listeningPorts()
        let ready = try await http.fetch(gateway.probe + "/readyz")
        XCTAssertEqual(ready.status, 200, ready.body)
        var tls = try pki.clientTLS()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        let trusting = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        clients.append(trusting)
        let overTLS = try await trusting.fetch("https://127.0.0.1:\(ports.cluster)/echo/x").status
        XCTAssertEqual(overTLS, 200)
    }

    func testAPortInUseIsAnErrorNamingTheFlag() async throws {
        let first = try await startGateway()
        for (flag, clash) in [("--health-listen", first.ports.health), ("--listen", first.ports.cluster)] {
            do {
                let second = try await GatewayUnderTest.start(pki: pki, socket: controller.socket) {
                    if flag == "--listen" { $0.listen.port = clash } else { $0.healthListen.port = clash }
                }
                gateways.append(second)
                XCTFail("a second gateway listened on \(flag) port \(clash)")
            } catch {
                XCTAssertTrue("\(error)".contains("listening on \(flag) 127.0.0.1:\(clash)"), "\(error)")
            }
        }
    }
}
