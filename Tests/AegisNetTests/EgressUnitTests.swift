// EgressUnitTests.swift — allowlist grammar, nft rule text, host files (routes, resolv.conf).
import AegisNet
import AegisProtocol
import Foundation
import XCTest

final class EgressUnitTests: XCTestCase {
    func testAllowEntryGrammar() throws {
        let e = try EgressAllowEntry(parsing: "10.20.0.0/16:443/tcp")
        XCTAssertEqual(e.destination, .network(IPv4Network("10.20.0.0/16")!))
        XCTAssertEqual(e.ports, 443...443)
        XCTAssertEqual(e.proto, .tcp)
        XCTAssertEqual(e.description, "10.20.0.0/16:443/tcp")
        XCTAssertEqual(try EgressAllowEntry(parsing: "API.Example.com:8000-8100/udp").description, "api.example.com:8000-8100/udp")
        XCTAssertEqual(try EgressAllowEntry(parsing: "203.0.113.7").destination, .network(IPv4Network("203.0.113.7/32")!))
        XCTAssertNil(try EgressAllowEntry(parsing: "198.51.100.0/24/udp").ports)

        func problem(_ s: String) -> String {
            do { _ = try EgressAllowEntry(parsing: s); return "no error" } catch { return error.problem }
        }
        XCTAssertTrue(problem("10.1.2.3/16:443").contains("zero host bits"))
        XCTAssertTrue(problem("10.0.0.0/8:0").contains("must be 1-65535"))
        XCTAssertTrue(problem("10.0.0.0/8:70000").contains("must be 1-65535"))
        XCTAssertTrue(problem("10.0.0.0/8:90-80").contains("low ≤ high"))
        XCTAssertTrue(problem("10.0.0.0/8:80/icmp").contains("unknown protocol \"icmp\""))
        XCTAssertTrue(problem("169.254.169.254:80").contains("link-local, incl. cloud metadata"))
        XCTAssertTrue(problem("127.0.0.1").contains("loopback"))
        XCTAssertTrue(problem("bad_host!:80").contains("neither an IPv4 address/CIDR nor a host name"))
        XCTAssertTrue(problem("").contains("is empty"))
        XCTAssertTrue(problem("::1").contains("IPv6 destinations are not supported"))
        XCTAssertTrue(problem("[2001:db8::1]:443").contains("IPv6 destinations are not supported"))
        XCTAssertTrue(problem("8.8.8.8:+80").contains("must be 1-65535"))
        XCTAssertEqual(try EgressAllowEntry(parsing: "example.com.:443").description, "example.com:443")
        XCTAssertEqual(problem("0.0.0.0/0:443/tcp"), "no error", "a wide entry is fine: always-denied rules come first")
    }

    func testSandboxChainOrderAndMatches() {
        let allow = [
            ResolvedAllow(network: IPv4Network("10.20.0.0/16")!, ports: 443...443, proto: .tcp),
            ResolvedAllow(network: IPv4Network("198.51.100.0/24")!, ports: 8000...8100, proto: nil),
            ResolvedAllow(network: IPv4Network("203.0.113.7/32")!, ports: nil, proto: .udp),
            ResolvedAllow(network: IPv4Network("192.0.2.0/24")!, ports: nil, proto: nil),
        ]
        let s = EgressRuleset.addSandbox(
            EgressRuleset.SandboxRules(
                ifname: "aegv0ad50002", address: IPv4Address("10.213.0.2")!,
                tag: 0xbeef, allow: allow, nameservers: [IPv4Address("10.255.255.53")!]),
            subnet: IPv4Network("10.213.0.0/16")!)
        let lines = s.split(separator: "\n").map(String.init)
        let c = "add rule inet aegis aegv0ad50002", reject = "reject with icmpx admin-prohibited"
        XCTAssertEqual(
            lines,
            [
                "add chain inet aegis aegv0ad50002",
                "\(c) ct state established,related ct mark 0xbeef accept",
                "\(c) ct state established,related drop",
                "\(c) ip daddr @always_denied \(reject)",
                "\(c) ip daddr @node_addresses \(reject)",
                "\(c) ip daddr 10.213.0.0/16 \(reject)",
                "\(c) ip daddr { 10.255.255.53 } meta l4proto { tcp, udp } th dport 53 ct mark set 0xbeef accept",
                "\(c) ip daddr 10.20.0.0/16 tcp dport 443 ct mark set 0xbeef accept",
                "\(c) ip daddr 198.51.100.0/24 meta l4proto { tcp, udp } th dport 8000-8100 ct mark set 0xbeef accept",
                "\(c) ip daddr 203.0.113.7/32 meta l4proto udp ct mark set 0xbeef accept",
                "\(c) ip daddr 192.0.2.0/24 ct mark set 0xbeef accept",
                "\(c) ip daddr @non_public \(reject)",
                "\(c) ct mark set 0xbeef accept",
                "add chain inet aegis aegv0ad50002_in",
                "add rule inet aegis aegv0ad50002_in ct state established,related ct mark 0xbeef accept",
                "add rule inet aegis aegv0ad50002_in drop",
                "add element inet aegis sandboxes { 10.213.0.2 : jump aegv0ad50002 }",
                "add element inet aegis replies { 10.213.0.2 : jump aegv0ad50002_in }",
            ])
    }

    func testHostFiles() throws {
        let dir = NSTemporaryDirectory() + "aegis-hostnet-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/net", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        wg0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0

        """.write(toFile: dir + "/net/route", atomically: true, encoding: .utf8)
        let routes = try HostNet.routes(procRoot: dir)
        XCTAssertEqual(routes.map { "\($0.network) \($0.device)" }, ["192.0.2.0/24 eth0", "10.0.0.0/8 wg0"])

        try "nameserver 127.0.0.53\noptions edns0\nsearch corp.example\n".write(toFile: dir + "/stub", atomically: true, encoding: .utf8)
        try "nameserver 10.0.0.2\nnameserver 192.168.1.1\nnameserver ::1\n".write(
            toFile: dir + "/upstream", atomically: true, encoding: .utf8)
        let r = HostNet.upstreamResolvers(resolvConf: dir + "/stub", resolvedUpstream: dir + "/upstream")
        XCTAssertEqual(r.nameservers, [IPv4Address("10.0.0.2")!, IPv4Address("192.168.1.1")!])
        XCTAssertEqual(r.search, "corp.example")
        let direct = HostNet.upstreamResolvers(resolvConf: dir + "/upstream", resolvedUpstream: "/nonexistent")
        XCTAssertEqual(direct.nameservers.count, 2)
    }
}
