import AegisManifest
import AegisProtocol
import Foundation
import XCTest

/// `network: egress`, `egress.allow` and `requires.reach` in manifests (YAML and JSON), and the
/// `--network egress`, `--allow`, `--reach` run flags.
final class EgressManifestTests: XCTestCase {
    let py: [UInt8] = Array("print(1)\n".utf8)
    let head = "name: x\nruntime: python3\nfile: agent.py\n"  // lines 1-3

    func parse(_ text: String) throws -> WorkloadSpec {
        try ManifestParser.parse(text, file: "agent.yaml", inputs: ["agent.py": py], defaultTenant: "acme")
    }

    /// Expects a ManifestError at `path` and `line` whose message contains `fragment`.
    func expectError(_ text: String, path: String, line: Int, column: Int? = nil, _ fragment: String, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try parse(text), line: sourceLine) { error in
            guard let e = error as? ManifestError else { return XCTFail("not a ManifestError: \(error)", line: sourceLine) }
            XCTAssertEqual(e.path, path, "\(e)", line: sourceLine)
            XCTAssertEqual(e.line, line, "\(e)", line: sourceLine)
            if let column { XCTAssertEqual(e.column, column, "\(e)", line: sourceLine) }
            XCTAssertEqual(e.file, "agent.yaml", line: sourceLine)
            XCTAssertTrue(
                e.message.contains(fragment), "message \(e.message.debugDescription) lacks \(fragment.debugDescription)",
                line: sourceLine)
        }
    }

    func testEgressManifestInYAMLAndJSON() throws {
        let yaml =
            head + """
                network: egress
                egress:
                  allow: ["10.20.0.0/16:443/tcp", api.example.com:443, 203.0.113.7, "198.51.100.0/24:8000-8100/udp"]
                requires:
                  reach: [internet, corp-vpn]
                  labels: {zone: a}

                """
        let spec = try parse(yaml)
        XCTAssertEqual(spec.network, .egress)
        XCTAssertEqual(
            spec.egress,
            EgressSpec(allow: [
                "10.20.0.0/16:443/tcp", "api.example.com:443", "203.0.113.7",
                "198.51.100.0/24:8000-8100/udp",
            ]))
        XCTAssertEqual(spec.requires, Requirements(labels: ["zone": "a"], reach: ["internet", "corp-vpn"]))

        let json = """
            {"name": "x", "runtime": "python3", "file": "agent.py", "network": "egress",
             "egress": {"allow": ["10.20.0.0/16:443/tcp"]}, "requires": {"reach": ["internet"]}}
            """
        let fromJSON = try parse(json)
        XCTAssertEqual(fromJSON.egress?.allow, ["10.20.0.0/16:443/tcp"])
        XCTAssertEqual(fromJSON.requires.reach, ["internet"])

        // Egress without an allowlist: public destinations only; nothing else set.
        let bare = try parse(head + "network: egress\n")
        XCTAssertEqual(bare.network, .egress)
        XCTAssertNil(bare.egress)
        XCTAssertNil(bare.requires.reach)
        // The spec survives the JSON round trip the controller's store makes.
        XCTAssertEqual(try JSONDecoder().decode(WorkloadSpec.self, from: JSONEncoder().encode(spec)), spec)
    }

    func testBadAllowEntriesNameTheEntryFieldAndLine() {
        let pre = head + "network: egress\negress:\n  allow:\n"  // lines 1-6
        expectError(
            pre + "    - 10.20.0.0/16:443/tcp\n    - 10.1.2.3/16\n", path: "egress.allow[1]", line: 8, column: 7,
            "\"10.1.2.3/16\": \"10.1.2.3/16\" is not an IPv4 address or CIDR with zero host bits")
        expectError(
            pre + "    - 169.254.169.254:80\n", path: "egress.allow[0]", line: 7,
            "lies in 169.254.0.0/16, link-local")
        expectError(pre + "    - 127.0.0.1\n", path: "egress.allow[0]", line: 7, "loopback")
        expectError(pre + "    - example.com:0\n", path: "egress.allow[0]", line: 7, "port \"0\" must be 1-65535")
        expectError(pre + "    - example.com:90-80\n", path: "egress.allow[0]", line: 7, "low ≤ high")
        expectError(pre + "    - example.com:443/sctp\n", path: "egress.allow[0]", line: 7, "unknown protocol \"sctp\"")
        expectError(pre + "    - \"bad_host!\"\n", path: "egress.allow[0]", line: 7, "neither an IPv4 address/CIDR nor a host name")
        expectError(pre + "    - {host: x}\n", path: "egress.allow[0]", line: 7, "expected an allow entry")
        expectError(
            head + "network: egress\negress: {allow: api.example.com}\n", path: "egress.allow", line: 5,
            "expected a list of allow entries")
        expectError(
            head + "network: egress\negress: {alow: [x.org]}\n", path: "egress.alow", line: 5,
            "unknown field (did you mean allow?)")
        let many = (0...256).map { "\"203.0.113.\($0 % 256)\"" }.joined(separator: ", ")
        expectError(
            head + "network: egress\negress: {allow: [\(many)]}\n", path: "egress.allow", line: 5,
            "257 entries, over the limit of 256")
    }

    func testEgressAndReachNeedNetworkEgress() {
        expectError(
            head + "egress: {allow: [api.example.com:443]}\n", path: "egress", line: 4, column: 9,
            "allowed only with network: egress (network is none)")
        expectError(
            head + "network: loopback\negress:\n  allow: [x.org]\n", path: "egress", line: 6,
            "allowed only with network: egress (network is loopback)")
        expectError(
            head + "requires:\n  reach: [internet]\nnetwork: host\n", path: "requires.reach", line: 5,
            "allowed only with network: egress (network is host)")
        expectError(head + "network: internet\n", path: "network", line: 4, "(none, loopback, host, egress)")
    }

    func testReachLabels() {
        let pre = head + "network: egress\nrequires:\n  reach:\n"  // lines 1-6
        expectError(pre + "    - internet\n    - Corp_VPN\n", path: "requires.reach[1]", line: 8, "\"Corp_VPN\" is not a reach label")
        expectError(pre + "    - -vpn\n", path: "requires.reach[0]", line: 7, "is not a reach label")
        expectError(pre + "    - internet\n    - internet\n", path: "requires.reach[1]", line: 8, "listed twice")
        expectError(
            head + "network: egress\nrequires: {reach: internet}\n", path: "requires.reach", line: 5,
            "expected a list of reach labels")
        expectError(
            head + "network: egress\nrequires: {reech: [internet]}\n", path: "requires.reech", line: 5,
            "did you mean reach?")
        XCTAssertEqual(try parse(head + "network: egress\nrequires: {reach: [lab.eu-1, x]}\n").requires.reach, ["lab.eu-1", "x"])
        XCTAssertNil(try parse(head + "network: egress\nrequires: {reach: []}\n").requires.reach, "an empty list requires nothing")
    }

    func testUnknownTopLevelFieldSuggestsEgress() {
        expectError(head + "network: egress\negres: {allow: [x.org]}\n", path: "egres", line: 5, "did you mean egress?")
    }

    func testRunFlags() throws {
        let spec = try RunFlags(
            network: "egress", allow: ["10.20.0.0/16:443/tcp", "api.example.com"],
            reach: ["internet", "corp-vpn", "internet"], command: ["true"]
        )
        .spec(inputs: [:], defaultTenant: "t")
        XCTAssertEqual(spec.network, .egress)
        XCTAssertEqual(spec.egress, EgressSpec(allow: ["10.20.0.0/16:443/tcp", "api.example.com"]))
        XCTAssertEqual(spec.requires.reach, ["internet", "corp-vpn"])
        let plain = try RunFlags(network: "egress", allow: [], command: ["true"]).spec(inputs: [:], defaultTenant: "t")
        XCTAssertNil(plain.egress)
        XCTAssertNil(plain.requires.reach)
        XCTAssertEqual(
            try CLIRunOptions(network: "egress", reach: ["lab"], command: ["true"]).spec(inputs: [:], defaultTenant: "t")
                .requires.reach, ["lab"])

        func expect(_ f: RunFlags, _ path: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try f.spec(inputs: [:], defaultTenant: "t"), line: line) { e in
                XCTAssertEqual((e as? ManifestError)?.path, path, "\(e)", line: line)
                XCTAssertTrue("\(e)".contains(fragment), "\(e)", line: line)
            }
        }
        expect(
            RunFlags(allow: ["api.example.com"], command: ["true"]), "--allow",
            "allowed only with --network egress (network is none)")
        expect(
            RunFlags(network: "loopback", reach: ["internet"], command: ["true"]), "--reach",
            "allowed only with --network egress (network is loopback)")
        expect(RunFlags(network: "egress", allow: ["10.0.0.1/8"], command: ["true"]), "--allow", "\"10.0.0.1/8\"")
        expect(RunFlags(network: "egress", allow: ["224.0.0.1"], command: ["true"]), "--allow", "multicast")
        expect(RunFlags(network: "egress", reach: ["Internet"], command: ["true"]), "--reach", "\"Internet\" is not a reach label")
        expect(RunFlags(network: "egres", command: ["true"]), "--network", "(none, loopback, host, egress)")
    }
}
