// SidecarConfigurationTests.swift — `aegis metrics` flags: the defaults are the pod's, and each
// unusable value is an error naming its flag.
import AegisMetrics
import XCTest

final class SidecarConfigurationTests: XCTestCase {
    func testDefaultsAreThePodsSockets() throws {
        let configuration = try MetricsSidecarConfiguration(MetricsSidecarFlags())
        XCTAssertEqual(configuration.listen, .init(host: "127.0.0.1", port: 9464))
        XCTAssertEqual(configuration.sources.map(\.name), ["controller", "gateway"])
        XCTAssertEqual(configuration.sources.map(\.socket), ["/run/aegis/controller.sock", "/run/aegis/gateway.sock"])
        XCTAssertEqual(configuration.scrapeTimeout, .seconds(5))
    }

    func testEveryBadValueNamesItsFlag() {
        let cases: [(String, (inout MetricsSidecarFlags) -> Void)] = [
            ("--listen", { $0.listen = "9464" }),
            ("--listen", { $0.listen = ":9464" }),
            ("--listen", { $0.listen = "127.0.0.1:70000" }),
            ("--controller-socket", { $0.controllerSocket = "relative.sock" }),
            ("--gateway-socket", { $0.gatewaySocket = "/" + String(repeating: "x", count: 120) }),
            ("--gateway-socket", { $0.gatewaySocket = "/run/aegis/controller.sock" }),
            ("--scrape-timeout", { $0.scrapeTimeout = "soon" }),
            ("--scrape-timeout", { $0.scrapeTimeout = "2m" }),
            ("--log-level", { $0.logLevel = "loud" }),
        ]
        for (flag, change) in cases {
            var flags = MetricsSidecarFlags()
            change(&flags)
            do {
                _ = try MetricsSidecarConfiguration(flags)
                XCTFail("accepted a bad \(flag)")
            } catch {
                XCTAssertEqual(error.flag, flag, error.message)
                XCTAssertTrue(error.message.hasPrefix(flag), error.message)
            }
        }
    }
}
