// EgressNetworkTests.swift — the egress mode on real namespaces, veths, a bridge and nftables, inside
// namespaces the test creates (see Testbed), with real TCP connections from sandbox namespaces.
import AegisNet
import AegisProtocol
import Foundation
import XCTest

final class EgressNetworkTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        try Testbed.available()
        dir = NSTemporaryDirectory() + "aegis-net-\(UInt32.random(in: 0..<UInt32.max))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func config(_ subnet: String = "10.213.0.0/24") -> EgressConfig {
        EgressConfig(subnet: IPv4Network(subnet)!, reach: ["internet"], stateDir: dir + "/net", lockDir: dir + "/lock")
    }

    func testPolicyAllowsListedPortAndRefusesEverythingElse() throws {
        let bed = try Testbed()
        try bed.server(in: bed.outside, host: "203.0.113.10", port: 8080, reply: "allowed")
        try bed.server(in: bed.outside, host: "203.0.113.10", port: 8081, reply: "other-port")
        try bed.server(in: bed.node, host: "0.0.0.0", port: 9000, reply: "node-service")
        try bed.insideNode {
            let net = try EgressNetwork(config: config(), isLive: { _ in false })
            XCTAssertEqual(net.capability, NetworkCapability(egress: true, subnet: "10.213.0.0/24", egressSlots: 253, reach: ["internet"]))
            let allow = try EgressNetwork.resolve([try EgressAllowEntry(parsing: "203.0.113.10:8080/tcp")])
            let a = try net.attach(sandbox: "wa.g1", allow: allow)
            let b = try net.attach(sandbox: "wb.g1", allow: [])
            XCTAssertEqual(a.address, IPv4Address("10.213.0.2"))
            XCTAssertEqual(b.address, IPv4Address("10.213.0.3"))
            try bed.server(in: b.netns.path, host: "0.0.0.0", port: 7000, reply: "sandbox-b")

            XCTAssertEqual(try connect(from: a.netns.path, to: "203.0.113.10", port: 8080), "ok allowed")
            XCTAssertEqual(try connect(from: a.netns.path, to: "203.0.113.10", port: 8081), "refused")
            XCTAssertEqual(
                try connect(from: b.netns.path, to: "203.0.113.10", port: 8080), "refused",
                "TEST-NET is not public: only an allowlist entry opens it")
            XCTAssertEqual(try connect(from: a.netns.path, to: "169.254.169.254", port: 80), "refused")
            XCTAssertEqual(try connect(from: a.netns.path, to: "198.51.100.2", port: 9000), "refused", "node's uplink address")
            XCTAssertEqual(try connect(from: a.netns.path, to: "10.213.0.1", port: 9000), "refused", "node's bridge address")
            XCTAssertEqual(try connect(from: a.netns.path, to: "127.0.0.1", port: 9000), "refused", "own loopback, not the node's")
            XCTAssertNotEqual(
                try connect(from: a.netns.path, to: b.address.description, port: 7000).prefix(2), "ok",
                "sandboxes can't reach each other")
            XCTAssertEqual(
                try connect(from: "/run/netns/\(bed.node)", to: b.address.description, port: 7000), "timeout",
                "the node's own processes (and network: host agents) can't open connections into a sandbox")
            try sh(["ip", "-n", bed.outside, "route", "add", "10.213.0.0/24", "via", "198.51.100.2"])
            XCTAssertEqual(
                try connect(from: "/run/netns/\(bed.outside)", to: b.address.description, port: 7000),
                "timeout", "nothing from outside enters a sandbox")

            let rules = try net.listRuleset()
            XCTAssertTrue(rules.contains("chain \(a.ifname)"), rules)
            net.detach(sandbox: "wa.g1")
            net.detach(sandbox: "wb.g1")
            let after = try net.listRuleset()
            XCTAssertFalse(after.contains("chain \(a.ifname)"), after)
            XCTAssertFalse(after.contains(b.address.description), after)
        }
    }

    func testAttachDetachLeavesNothingAndExhaustionIsENOSPC() throws {
        let bed = try Testbed()
        try bed.insideNode {
            let net = try EgressNetwork(config: config("10.213.0.0/29"), isLive: { _ in false })
            XCTAssertEqual(net.slots, 5)
            var held: [EgressAttachment] = []
            for i in 0..<5 { held.append(try net.attach(sandbox: "w\(i).g1", allow: [])) }
            XCTAssertThrowsError(try net.attach(sandbox: "w5.g1", allow: [])) { e in
                XCTAssertEqual((e as? NetError)?.errno, ENOSPC)
                XCTAssertTrue("\(e)".contains("all 5 addresses of 10.213.0.0/29 are in use"), "\(e)")
            }
            for i in 0..<5 { net.detach(sandbox: "w\(i).g1") }
            held.removeAll()  // the last holders of the namespaces: the kernel removes their veths
            XCTAssertFalse(try vethsRemain(bed), "veths of closed namespaces are removed by the kernel")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/net"), [])
            XCTAssertFalse(try net.listRuleset().contains("jump aegv"))
            // 50 attach/detach cycles on a /29: addresses are recycled, nothing accumulates.
            for i in 0..<50 {
                let a = try net.attach(sandbox: "c\(i).g1", allow: [])
                XCTAssertTrue(IPv4Network("10.213.0.0/29")!.contains(a.address))
                net.detach(sandbox: "c\(i).g1")
            }
            XCTAssertFalse(try vethsRemain(bed))
            XCTAssertFalse(try net.listRuleset().contains("aegv"))
        }
    }

    func testRestartReadoptsLiveAndRemovesLeftovers() throws {
        let bed = try Testbed()
        try bed.insideNode {
            var keepNs: HeldNetns?
            do {
                let net = try EgressNetwork(config: config(), isLive: { _ in false })
                keepNs = try net.attach(sandbox: "live.g1", allow: []).netns
                _ = try net.attach(sandbox: "dead.g1", allow: [])
                // the node "crashes": no detach
            }
            let net = try EgressNetwork(config: config(), isLive: { $0 == "live.g1" })
            let rules = try net.listRuleset()
            XCTAssertTrue(rules.contains("10.213.0.2 : jump aegv0ad50002"), rules)
            XCTAssertFalse(rules.contains("10.213.0.3"), rules)
            let links = try sh(["ip", "-n", bed.node, "-o", "link"])
            XCTAssertTrue(links.contains("aegv0ad50002"), links)
            XCTAssertFalse(links.contains("aegv0ad50003"), links)
            XCTAssertEqual(net.attached, ["live.g1"])
            // The freed address is handed out again; the live one is not.
            let n = try net.attach(sandbox: "new.g1", allow: [])
            XCTAssertNotEqual(n.address, IPv4Address("10.213.0.2"))
            _ = keepNs
        }
    }

    /// A UDP exchange from `port` to 203.0.113.10:9999 inside `netns`: "reply" or "timeout".
    func udpExchange(from netns: String, port: Int) throws -> String {
        let code = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", \(port))); s.settimeout(1.5)
            s.sendto(b"hi", ("203.0.113.10", 9999))
            try:
                s.recvfrom(64); print("reply")
            except socket.timeout: print("timeout")
            except OSError as e: print("error", e.errno)
            """
        return try sh(["nsenter", "--net=\(netns)", "--", "python3", "-c", code]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testReusedAddressDoesNotInheritThePreviousHoldersFlows() throws {
        let bed = try Testbed()
        let echo = Process()
        echo.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        echo.arguments = [
            "netns", "exec", bed.outside, "python3", "-c",
            """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("203.0.113.10", 9999))
            while True:
                d, a = s.recvfrom(64); s.sendto(b"echo", a)
            """,
        ]
        try echo.run()
        defer { echo.terminate(); echo.waitUntilExit() }
        usleep(300_000)
        try bed.insideNode {
            let net = try EgressNetwork(config: config("10.213.0.0/30"), isLive: { _ in false })  // one address: always reused
            let allow = try EgressNetwork.resolve([try EgressAllowEntry(parsing: "203.0.113.10:9999/udp")])
            var a: EgressAttachment? = try net.attach(sandbox: "a.g1", allow: allow)
            XCTAssertEqual(try udpExchange(from: a!.netns.path, port: 6000), "reply", "allowlisted for A")
            let address = a!.address
            net.detach(sandbox: "a.g1")
            a = nil
            let b = try net.attach(sandbox: "b.g1", allow: [])
            XCTAssertEqual(b.address, address)
            XCTAssertEqual(
                try udpExchange(from: b.netns.path, port: 6000), "timeout",
                "B (no allowlist) must not ride A's conntrack entry for the same address and port")
        }
    }

    func testSetupRefusesForeignBridgeSecondOwnerAndBadSubnets() throws {
        let bed = try Testbed()
        try bed.insideNode {
            var c = config()
            c.bridge = "up0"
            XCTAssertThrowsError(try EgressNetwork(config: c, isLive: { _ in false })) { e in
                XCTAssertTrue("\(e)".contains("exists and is not a bridge (kind \"veth\")"), "\(e)")
            }
            let first = try EgressNetwork(config: config(), isLive: { _ in false })
            XCTAssertThrowsError(try EgressNetwork(config: config(), isLive: { _ in false })) { e in
                XCTAssertTrue("\(e)".contains("another AEGIS node (pid \(getpid()))"), "\(e)")
            }
            _ = first
        }
        let fresh = try Testbed()  // no bridge yet: failed setups must not leave one
        try fresh.insideNode {
            let resolv = dir + "/resolv.conf"
            try "nameserver 10.214.0.53\n".write(toFile: resolv, atomically: true, encoding: .utf8)
            var c = config("10.214.0.0/24")
            c.resolvConf = resolv
            XCTAssertThrowsError(try EgressNetwork(config: c, isLive: { _ in false })) { e in
                XCTAssertTrue("\(e)".contains("contains the host's nameserver 10.214.0.53"), "\(e)")
            }
            XCTAssertThrowsError(try EgressNetwork(config: config("198.51.100.0/25"), isLive: { _ in false })) { e in
                XCTAssertTrue("\(e)".contains("overlaps host route 198.51.100.0/24 dev up0"), "\(e)")
            }
            XCTAssertThrowsError(try EgressNetwork(config: config("169.254.0.0/16"), isLive: { _ in false })) { e in
                XCTAssertTrue("\(e)".contains("link-local"), "\(e)")
            }
            XCTAssertFalse(try sh(["ip", "-n", fresh.node, "-o", "link"]).contains("aegis0"), "a failed setup leaves no bridge")
        }
    }

    func testLiveSandboxWithoutItsVethIsReportedLost() throws {
        let bed = try Testbed()
        try bed.insideNode {
            var ns: HeldNetns?
            do {
                let net = try EgressNetwork(config: config(), isLive: { _ in false })
                let a = try net.attach(sandbox: "cut.g1", allow: [])
                ns = a.netns
                try sh(["ip", "-n", bed.node, "link", "del", a.ifname])
            }
            let net = try EgressNetwork(config: config(), isLive: { $0 == "cut.g1" })
            XCTAssertEqual(net.lost, ["cut.g1"])
            XCTAssertEqual(net.attached, [])
            _ = ns
        }
    }

    /// Whether an `aegv*` link is still in the node namespace after up to 10 s of polling.
    func vethsRemain(_ bed: Testbed) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while try sh(["ip", "-n", bed.node, "-o", "link"]).contains("aegv") {
            if Date() > deadline { return true }
            usleep(50_000)
        }
        return false
    }

    func testHostNameResolvingToLoopbackIsRefused() throws {
        XCTAssertThrowsError(try EgressNetwork.resolve([try EgressAllowEntry(parsing: "localhost:80")])) { e in
            XCTAssertTrue("\(e)".contains("localhost resolves to 127.0.0.1"), "\(e)")
            XCTAssertTrue("\(e)".contains("loopback"), "\(e)")
        }
        XCTAssertThrowsError(try EgressNetwork.resolve([try EgressAllowEntry(parsing: "no-such-host.invalid:80")])) { e in
            XCTAssertTrue("\(e)".contains("resolve no-such-host.invalid"), "\(e)")
        }
    }
}
