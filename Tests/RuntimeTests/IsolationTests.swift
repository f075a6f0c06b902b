// What a process sees inside a container made from `aegis-runtime spec`'s default config: its own
// pid, uts and network namespaces, masked /proc/kcore, the spec's capabilities, no_new_privs and a
// seccomp filter, and no user namespace (config-linux.md; proc(5) /proc/PID/status).
import Foundation
import XCTest
import AegisOCI

final class IsolationTests: RuntimeTestCase {
    /// Runs `script` (sh -c) in a container from `bundle`; returns its output split into the
    /// sections the script introduces with "== name" lines.
    func runSections(_ bundle: String, id: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: [String]] {
        let r = try aegis(["run", "--bundle", bundle, id])
        XCTAssertEqual(r.status, 0, "run: \(r.stderr)", file: file, line: line)
        var sections: [String: [String]] = [:]
        var current = ""
        for l in r.stdout.split(separator: "\n").map(String.init) {
            if l.hasPrefix("== ") { current = String(l.dropFirst(3)); sections[current] = []; continue }
            sections[current, default: []].append(l)
        }
        return sections
    }

    /// "Key:\tvalue" lines of /proc/self/status.
    func statusFields(_ lines: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for l in lines {
            let parts = l.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return out
    }

    /// One line (ps shows PID 1's command line; newlines in it would split ps's output).
    static let probeScript = [
        "echo '== ps'", "ps",
        "echo '== hostname'", "hostname",
        "echo '== kcore'", "if [ -e /proc/kcore ]; then echo \"exists $(wc -c < /proc/kcore)\"; else echo absent; fi",
        "echo '== status'", "grep -E '^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
        "echo '== netdev'", "cat /proc/net/dev",
        "echo '== uidmap'", "cat /proc/self/uid_map",
        "echo '== end'",
    ].joined(separator: "; ")

    func testDefaultSpecIsolation() throws {
        let id = newID("iso"), m = newMarker()
        let hostname = "iso-\(m)"
        var caps: [String] = []
        let bundle = try makeBundle { spec in
            spec.hostname = hostname
            spec.process?.args = ["sh", "-c", ": marker-\(m); " + Self.probeScript]
            caps = spec.process?.capabilities?.effective ?? []
        }
        XCTAssertEqual(Set(caps), ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"], "spec's default capabilities changed")
        let s = try runSections(bundle, id: id)

        // ps: only the sandbox's processes; PID 1 is the container's command.
        let ps = try XCTUnwrap(s["ps"]).dropFirst()  // header
        let pids = ps.compactMap { Int($0.split(separator: " ").first ?? "") }
        XCTAssertEqual(pids.count, ps.count, "unparsable ps output: \(ps)")
        XCTAssertEqual(Set(pids), [1, 2], "processes outside the sandbox are visible: \(ps)")
        XCTAssertTrue(
            ps.first { $0.split(separator: " ").first == "1" }?.contains("marker-\(m)") == true,
            "PID 1 is not the container's command: \(ps)")

        XCTAssertEqual(s["hostname"], [hostname])

        // /proc/kcore is masked: absent on kernels without it, else reads 0 bytes.
        let kcore = try XCTUnwrap(s["kcore"]?.first)
        XCTAssertTrue(kcore == "absent" || kcore == "exists 0", "/proc/kcore readable: \(kcore)")

        let status = statusFields(s["status"] ?? [])
        let mask = capabilityMask(caps)
        XCTAssertEqual(mask, "0000000020000420")
        XCTAssertEqual(status["CapEff"], mask)
        XCTAssertEqual(status["CapPrm"], mask)
        XCTAssertEqual(status["CapBnd"], mask)
        XCTAssertEqual(status["CapAmb"], "0000000000000000")
        XCTAssertEqual(status["NoNewPrivs"], "1")
        XCTAssertEqual(status["Seccomp"], "2", "no seccomp filter (mode 2) installed")

        // /proc/net/dev: two header lines, then only lo.
        let netdev = (s["netdev"] ?? []).dropFirst(2)
        let interfaces = netdev.compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(interfaces, ["lo"], "network namespace shows: \(netdev)")

        // No user namespace: the initial identity map.
        let uidMap = (s["uidmap"] ?? []).map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        XCTAssertEqual(uidMap, ["0 0 4294967295"])
        XCTAssertEqual(s["end"], [], "script did not finish")
    }

    func testEmptyCapabilityListsGiveNoCapabilities() throws {
        let id = newID("iso0")
        let bundle = try makeBundle { spec in
            spec.process?.args = ["sh", "-c", Self.probeScript]
            spec.process?.capabilities = LinuxCapabilities(bounding: [], effective: [], inheritable: [], permitted: [], ambient: [])
        }
        let status = statusFields(try runSections(bundle, id: id)["status"] ?? [])
        for key in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
            XCTAssertEqual(status[key], "0000000000000000", key)
        }
        XCTAssertEqual(status["NoNewPrivs"], "1")
        XCTAssertEqual(status["Seccomp"], "2")
    }

    /// A different capability set shows up as exactly that mask (the mask is not a constant).
    func testCapabilityMaskFollowsSpec() throws {
        let id = newID("isocap")
        let caps = ["CAP_CHOWN", "CAP_NET_RAW"]
        let bundle = try makeBundle { spec in
            spec.process?.args = ["sh", "-c", Self.probeScript]
            spec.process?.capabilities = LinuxCapabilities(bounding: caps, effective: caps, permitted: caps)
        }
        let status = statusFields(try runSections(bundle, id: id)["status"] ?? [])
        XCTAssertEqual(capabilityMask(caps), "0000000000002001")
        XCTAssertEqual(status["CapEff"], capabilityMask(caps))
        XCTAssertEqual(status["CapBnd"], capabilityMask(caps))
    }
}
