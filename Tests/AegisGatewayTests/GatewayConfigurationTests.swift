// GatewayConfigurationTests.swift — `aegis gateway`'s flag rules: defaults, ranges, errors naming the flag.
import AegisGateway
import XCTest

final class GatewayConfigurationTests: XCTestCase {
    func testDefaults() throws {
        let c = try GatewayConfiguration(GatewayFlags())
        XCTAssertEqual(c.listen, .init(host: "0.0.0.0", port: 7443))
        XCTAssertEqual(c.healthListen, .init(host: "127.0.0.1", port: 7444))
        XCTAssertEqual(c.maxBodyBytes, 96 << 20)
        XCTAssertEqual(c.controllerSocket, "/run/aegis/controller.sock")
        XCTAssertEqual(c.pkiDirectory, "/var/lib/aegis/pki")
        XCTAssertEqual(c.refusalDelay, .seconds(1))
    }

    func testErrorsNameTheFlag() {
        func flag(_ change: (inout GatewayFlags) -> Void) -> String? {
            var flags = GatewayFlags()
            change(&flags)
            do {
                _ = try GatewayConfiguration(flags)
                return nil
            } catch {
                XCTAssertTrue(error.message.hasPrefix(error.flag), error.message)
                return error.flag
            }
        }
        XCTAssertEqual(flag { $0.listen = "7443" }, "--listen")
        XCTAssertEqual(flag { $0.listen = "0.0.0.0:70000" }, "--listen")
        XCTAssertEqual(flag { $0.healthListen = "0.0.0.0:7444" }, "--health-listen")
        XCTAssertEqual(flag { $0.controllerSocket = "relative.sock" }, "--controller-socket")
        XCTAssertEqual(flag { $0.controllerSocket = "/" + String(repeating: "s", count: 120) }, "--controller-socket")
        XCTAssertEqual(flag { $0.pkiDir = "pki" }, "--pki-dir")
        XCTAssertEqual(flag { $0.name = "Not_A_Name" }, "--name")
        XCTAssertEqual(flag { $0.maxBodyBytes = "lots" }, "--max-body-bytes")
        XCTAssertEqual(flag { $0.rate = "fast" }, "--rate")
        XCTAssertEqual(flag { $0.rate = "0" }, "--rate")
        XCTAssertEqual(flag { $0.burst = 0 }, "--burst")
        XCTAssertEqual(flag { $0.maxConcurrent = 0 }, "--max-concurrent")
        XCTAssertEqual(flag { $0.logLevel = "loud" }, "--log-level")
        XCTAssertEqual(flag { $0.refusalDelay = "soon" }, "--refusal-delay")
        XCTAssertEqual(flag { $0.refusalDelay = "11s" }, "--refusal-delay")
        XCTAssertNil(flag { $0.refusalDelay = "0" })
        XCTAssertNil(flag { $0.refusalDelay = "250ms" })
        XCTAssertNil(flag { $0.listen = "[::]:7443" })
        XCTAssertNil(flag { $0.maxBodyBytes = "1Gi" })
    }

    func testAddressParsing() throws {
        XCTAssertEqual(try GatewayConfiguration.parseAddress("[::1]:7444", flag: "--x"), .init(host: "::1", port: 7444))
        XCTAssertEqual(try GatewayConfiguration.parseAddress("example.org:0", flag: "--x").description, "example.org:0")
    }
}
