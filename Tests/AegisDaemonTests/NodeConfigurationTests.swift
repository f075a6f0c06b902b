// NodeConfigurationTests.swift — every `aegis up` flag rule, checked without starting anything:
// each refusal names its flag; accepted inputs come out converted (ms, bytes, maps).
import AegisControl
import AegisDaemon
import AegisNet
import AegisProtocol
import AegisScheduler
import Foundation
import XCTest

final class NodeConfigurationTests: XCTestCase {
    func flags(_ role: NodeRole = .hybrid, _ change: (inout NodeFlags) -> Void = { _ in }) -> NodeFlags {
        var f = NodeFlags()
        f.dataDir = "/nonexistent/aegis-config-test"
        f.role = role
        change(&f)
        return f
    }

    /// The refusal's flag and that its message names it.
    func refusal(_ f: NodeFlags, file: StaticString = #filePath, line: UInt = #line) -> NodeConfigurationError? {
        do {
            _ = try NodeConfiguration(f, hostName: "host")
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch let e as NodeConfigurationError {
            XCTAssertTrue(e.message.contains(e.flag), "\(e.message) names \(e.flag)", file: file, line: line)
            return e
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func testDefaultsOfAHybridNode() throws {
        let c = try NodeConfiguration(flags(), hostName: "Node-A")
        XCTAssertEqual(c.name, "node-a")
        XCTAssertEqual(c.role, .hybrid)
        XCTAssertEqual(c.apiPort, 7420)
        XCTAssertEqual(c.renewEveryMs, 5_000)
        XCTAssertEqual(c.leaseGraceMs, 40_000)
        XCTAssertEqual(c.leases, LeaseConfig())
        XCTAssertEqual(c.scheduler.strategy, .binpack)
        XCTAssertEqual(c.logCapBytes, 16 << 20)
        XCTAssertNil(c.egress)
        XCTAssertNil(c.listen)
        XCTAssertEqual(c.paths.dataDir, "/nonexistent/aegis-config-test")
        XCTAssertEqual(c.logLevel, .info)
    }

    func testDurationsAreReadInMillisecondsWithinOneMillisecondToADay() throws {
        XCTAssertEqual(try NodeConfiguration.duration("500ms", "--x"), 500)
        XCTAssertEqual(try NodeConfiguration.duration("5s", "--x"), 5_000)
        XCTAssertEqual(try NodeConfiguration.duration("2m", "--x"), 120_000)
        XCTAssertEqual(try NodeConfiguration.duration("7", "--x"), 7_000)
        XCTAssertEqual(try NodeConfiguration.duration("0s", "--x", allowZero: true), 0)
        XCTAssertEqual(try NodeConfiguration.duration("1440m", "--x"), 86_400_000)
        XCTAssertEqual(try NodeConfiguration.duration("1h30m", "--x"), 5_400_000)
        for bad in ["0s", "five", "-1s", "1441m", "9223372036854775807s", "25h", ""] {
            XCTAssertThrowsError(try NodeConfiguration.duration(bad, "--down-after"), bad) { e in
                XCTAssertEqual((e as? NodeConfigurationError)?.flag, "--down-after")
                XCTAssertTrue("\(e)".hasPrefix("--down-after: \"\(bad)\""), "\(e)")
            }
        }
        XCTAssertEqual(try NodeConfiguration.parseOutputRetention("12h"), 43_200)
        XCTAssertEqual(try NodeConfiguration.parseOutputRetention(nil), 86_400)
        for bad in ["0s", "500ms", "366d", "soon"] {
            XCTAssertThrowsError(try NodeConfiguration.parseOutputRetention(bad), bad) { e in
                XCTAssertEqual((e as? NodeConfigurationError)?.flag, "--output-retention")
            }
        }
    }

    func testLeaseFlagsAreConvertedAndTheirOrderIsChecked() throws {
        let c = try NodeConfiguration(
            flags {
                $0.leaseRenewEvery = "1s"; $0.notReadyAfter = "3s"; $0.downAfter = "6s"; $0.rescheduleMargin = "2s"
            })
        XCTAssertEqual(
            c.leases,
            LeaseConfig(renewEvery: .seconds(1), notReadyAfter: .seconds(3), downAfter: .seconds(6), rescheduleMargin: .seconds(2)))
        XCTAssertEqual(
            refusal(
                flags {
                    $0.notReadyAfter = "50s"; $0.downAfter = "40s"
                })?.flag, "--not-ready-after")
        XCTAssertEqual(refusal(flags { $0.leaseRenewEvery = "30s" })?.flag, "--lease-renew-every")
        XCTAssertEqual(refusal(flags { $0.leaseRenewEvery = "0s" })?.flag, "--lease-renew-every")
        XCTAssertEqual(refusal(flags { $0.rescheduleMargin = "500ms" })?.flag, "--reschedule-margin")
        XCTAssertEqual(refusal(flags { $0.nodeCertValidity = "soon" })?.flag, "--node-cert-validity")
        XCTAssertEqual(try NodeConfiguration(flags { $0.nodeCertValidity = "30s" }).nodeCertificateValiditySeconds, 30)
    }

    func testAWorkerNeedsAnHTTPSJoinURLWithAPortInRange() throws {
        XCTAssertEqual(refusal(flags(.worker))?.flag, "--join")
        for bad in [
            "http://127.0.0.1:1", "https://", "https://h:99999", "https://h:0", "https://h/path", "https://u@h:1", "https://[::1",
            "https://h:1:2", "https://[::1]x",
        ] {
            XCTAssertEqual(
                refusal(
                    flags(.worker) {
                        $0.join = bad; $0.token = "t"
                    })?.flag, "--join", bad)
        }
        for good in ["https://10.0.0.1:7443", "https://controller.example:7443/", "https://[::1]:7443", "https://host"] {
            let c = try NodeConfiguration(
                flags(.worker) {
                    $0.join = good; $0.token = "t"
                }, hostName: "w")
            XCTAssertEqual(c.join, good)
            XCTAssertEqual(c.joinToken, "t")
        }
    }

    func testAWorkerTakesNoControllerSettingAndItsGraceOutlastsItsRenewals() throws {
        func worker(_ change: @escaping (inout NodeFlags) -> Void) -> NodeFlags {
            flags(.worker) {
                $0.join = "https://127.0.0.1:1"; $0.token = "t"; change(&$0)
            }
        }
        XCTAssertEqual(refusal(worker { $0.listen = "0.0.0.0:7443" })?.flag, "--listen")
        XCTAssertEqual(refusal(worker { $0.downAfter = "60s" })?.flag, "--down-after")
        XCTAssertEqual(refusal(worker { $0.notReadyAfter = "10s" })?.flag, "--not-ready-after")
        XCTAssertEqual(refusal(worker { $0.rescheduleMargin = "10s" })?.flag, "--reschedule-margin")
        XCTAssertEqual(
            refusal(
                worker {
                    $0.leaseGrace = "2s"; $0.leaseRenewEvery = "5s"
                })?.flag, "--lease-grace")
        XCTAssertEqual(try NodeConfiguration(worker { $0.leaseGrace = "90s" }).leaseGraceMs, 90_000)
        XCTAssertEqual(
            refusal(
                worker {
                    $0.token = "a"; $0.tokenFile = "/nonexistent"
                })?.flag, "--token-file")
        XCTAssertEqual(
            refusal(
                worker {
                    $0.token = nil; $0.tokenFile = "/nonexistent/token"
                })?.flag, "--token-file")
    }

    func testAControllerNeedsListenAndTakesNoWorkerFlag() throws {
        XCTAssertEqual(refusal(flags(.controller))?.flag, "--listen")
        let workerOnly: [(String, (inout NodeFlags) -> Void)] = [
            ("--lease-grace", { $0.leaseGrace = "5s" }), ("--cgroup-parent", { $0.cgroupParent = "x" }), ("--egress", { $0.egress = true }),
            ("--label", { $0.labels = ["a=b"] }), ("--allow-unenforced-limits", { $0.allowUnenforcedLimits = true }),
            ("--detect-root", { $0.detectRoot = "/tmp" }), ("--drain-on-exit", { $0.drainOnExit = true }),
            ("--log-cap", { $0.logCap = "1Mi" }),
        ]
        for (flag, set) in workerOnly {
            XCTAssertEqual(
                refusal(
                    flags(.controller) {
                        $0.listen = "127.0.0.1:0"; set(&$0)
                    })?.flag, flag)
        }
        let c = try NodeConfiguration(flags(.controller) { $0.listen = "127.0.0.1:0" })
        XCTAssertEqual(c.listen?.host, "127.0.0.1")
        XCTAssertEqual(c.listen?.port, 0)
    }

    func testOnlyAWorkerJoins() throws {
        for role in [NodeRole.hybrid, .controller] {
            let listen = role == .controller ? "127.0.0.1:0" : nil
            XCTAssertEqual(
                refusal(
                    flags(role) {
                        $0.listen = listen; $0.join = "https://127.0.0.1:1"
                    })?.flag, "--join")
            XCTAssertEqual(
                refusal(
                    flags(role) {
                        $0.listen = listen; $0.token = "t"
                    })?.flag, "--token")
            XCTAssertEqual(
                refusal(
                    flags(role) {
                        $0.listen = listen; $0.tokenFile = "f"
                    })?.flag, "--token-file")
            XCTAssertEqual(
                refusal(
                    flags(role) {
                        $0.listen = listen; $0.rejoin = true
                    })?.flag, "--rejoin")
        }
        XCTAssertEqual(refusal(flags { $0.leaseGrace = "5s" })?.flag, "--lease-grace")
    }

    func testPortsAndListenAddresses() throws {
        for port in [-1, 65_536, 99_999] {
            XCTAssertEqual(refusal(flags { $0.apiPort = port })?.flag, "--api-port")
        }
        XCTAssertEqual(try NodeConfiguration(flags { $0.apiPort = 0 }).apiPort, 0)
        for bad in ["7443", ":7443", "host:", "host:65536", "host:-1"] {
            XCTAssertEqual(refusal(flags { $0.listen = bad })?.flag, "--listen", bad)
        }
        let c = try NodeConfiguration(flags { $0.listen = "0.0.0.0:7443" })
        XCTAssertEqual(c.listen?.host, "0.0.0.0")
        XCTAssertEqual(c.listen?.port, 7443)
    }

    func testLabelsStrategyAndLogCap() throws {
        let c = try NodeConfiguration(
            flags {
                $0.labels = ["zone=a", "tier=gpu=x"]; $0.strategy = "spread"; $0.logCap = "4Ki"; $0.logLevel = "debug"
            })
        XCTAssertEqual(c.labels, ["zone": "a", "tier": "gpu=x"])
        XCTAssertEqual(c.scheduler.strategy, .spread)
        XCTAssertEqual(c.logCapBytes, 4096)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(refusal(flags { $0.labels = ["=v"] })?.flag, "--label")
        XCTAssertEqual(refusal(flags { $0.labels = ["novalue"] })?.flag, "--label")
        XCTAssertEqual(refusal(flags { $0.strategy = "random" })?.flag, "--strategy")
        XCTAssertEqual(refusal(flags { $0.logCap = "4095" })?.flag, "--log-cap")
        XCTAssertEqual(refusal(flags { $0.logCap = "2Ti" })?.flag, "--log-cap")
        XCTAssertEqual(refusal(flags { $0.logCap = "lots" })?.flag, "--log-cap")
    }

    func testEgressFlagsNeedEgressAndAreChecked() throws {
        let needEgress: [(String, (inout NodeFlags) -> Void)] = [
            ("--egress-subnet", { $0.egressSubnet = "10.9.0.0/16" }), ("--egress-bridge", { $0.egressBridge = "br0" }),
            ("--egress-deny", { $0.egressDeny = ["1.2.3.4"] }), ("--reach", { $0.reach = ["internet"] }),
        ]
        for (flag, set) in needEgress {
            XCTAssertEqual(refusal(flags(.hybrid, set))?.flag, flag)
        }
        func egress(_ change: @escaping (inout NodeFlags) -> Void) -> NodeFlags {
            flags {
                $0.egress = true; change(&$0)
            }
        }
        XCTAssertEqual(refusal(egress { $0.egressSubnet = "10.9.0.1/16" })?.flag, "--egress-subnet")
        XCTAssertEqual(refusal(egress { $0.egressSubnet = "10.9.0.0/31" })?.flag, "--egress-subnet")
        XCTAssertEqual(refusal(egress { $0.egressSubnet = "169.254.0.0/16" })?.flag, "--egress-subnet")
        XCTAssertEqual(refusal(egress { $0.egressBridge = "a-name-that-is-too-long" })?.flag, "--egress-bridge")
        XCTAssertEqual(refusal(egress { $0.reach = ["-internet"] })?.flag, "--reach")
        XCTAssertEqual(refusal(egress { $0.reach = ["Internet"] })?.flag, "--reach")
        XCTAssertEqual(refusal(egress { $0.egressDeny = ["1.2.3.4/33"] })?.flag, "--egress-deny")
        let c = try NodeConfiguration(
            egress {
                $0.egressSubnet = "10.9.0.0/16"; $0.reach = ["corp-vpn"]; $0.egressDeny = ["203.0.113.7"]
            })
        XCTAssertEqual(c.egress?.subnet, IPv4Network("10.9.0.0/16"))
        XCTAssertEqual(c.egress?.bridge, "aegis0")
        XCTAssertEqual(c.egress?.reach, ["corp-vpn"])
        XCTAssertEqual(c.egress?.denied, [IPv4Network("203.0.113.7")!])
        XCTAssertEqual(c.egress?.stateDir, "/nonexistent/aegis-config-test/network")
    }

    func testAJoinTokenIsReadFromItsFile() throws {
        let path = NSTemporaryDirectory() + "aegis-token-\(getpid())"
        try "AEG1abc::id.secret\nsecond line\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let c = try NodeConfiguration(
            flags(.worker) {
                $0.join = "https://127.0.0.1:1"; $0.tokenFile = path
            })
        XCTAssertEqual(c.joinToken, "AEG1abc::id.secret")
        try "\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(
            refusal(
                flags(.worker) {
                    $0.join = "https://127.0.0.1:1"; $0.tokenFile = path
                })?.flag, "--token-file")
    }
}

extension NodeConfigurationTests {
    func testImageFlags() throws {
        let c = try NodeConfiguration(
            flags {
                $0.insecureRegistries = ["127.0.0.1:5000"]
                $0.localImages = ["/tmp"]
                $0.imageGCHighThreshold = 90
                $0.imageGCLowThreshold = 70
            }, hostName: "host")
        XCTAssertEqual(c.registry.insecureRegistries, ["127.0.0.1:5000"])
        XCTAssertEqual(c.localImageDirectories, ["/tmp"])
        XCTAssertEqual([c.imageGC.highPercent, c.imageGC.lowPercent], [90, 70])
        let defaults = try NodeConfiguration(flags(), hostName: "host").imageGC
        XCTAssertEqual([defaults.highPercent, defaults.lowPercent], [85, 80], "kubelet's defaults")
        XCTAssertEqual(refusal(flags { $0.localImages = ["relative/dir"] })?.flag, "--local-images")
        XCTAssertEqual(refusal(flags { $0.localImages = ["/etc/hostname"] })?.flag, "--local-images")
        XCTAssertEqual(refusal(flags { $0.registryCA = "/nonexistent/ca.pem" })?.flag, "--registry-ca")
        XCTAssertEqual(refusal(flags { $0.imageGCLowThreshold = 90 })?.flag, "--image-gc-high-threshold", "low above high")
        XCTAssertEqual(refusal(flags { $0.imageGCHighThreshold = 101 })?.flag, "--image-gc-high-threshold")
        for (flag, set) in [
            ("--insecure-registry", { (f: inout NodeFlags) in f.insecureRegistries = ["x:1"] }),
            ("--local-images", { (f: inout NodeFlags) in f.localImages = ["/tmp"] }),
        ] {
            XCTAssertEqual(
                refusal(
                    flags(.controller) {
                        $0.listen = "127.0.0.1:0"; set(&$0)
                    })?.flag, flag, "a controller pulls nothing")
        }
    }
}
