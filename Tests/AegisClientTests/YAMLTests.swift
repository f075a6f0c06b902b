import AegisClient
import AegisProtocol
import XCTest
import Yams

/// The YAML output (JSON value tree → Yams nodes) is read back by the YAML parser: it must parse to
/// the same values — strings stay strings, numbers numbers.
final class YAMLTests: XCTestCase {
    private func fromYams(_ any: Any?) throws -> JSONValue {
        switch any {
        case nil: return .null
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let b as Bool: return .bool(b)
        case let i as Int: return .number(String(i))
        case let d as Double: return .number(String(d))
        case let a as [Any]: return .array(try a.map(fromYams))
        case let o as [String: Any]: return .object(try o.mapValues(fromYams))
        case let o as [AnyHashable: Any]:
            var out: [String: JSONValue] = [:]
            for (k, v) in o {
                guard let key = k.base as? String else { throw ClientError("non-string key \(k) (type \(type(of: k.base)))") }
                out[key] = try fromYams(v)
            }
            return .object(out)
        default:
            throw ClientError("unexpected value \(String(describing: any)) of type \(type(of: any!))")
        }
    }

    private func assertRoundTrip(_ value: JSONValue, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try emitYAML(value)
        let parsed = try fromYams(try Yams.load(yaml: text))
        XCTAssertEqual(parsed, value, "YAML was:\n\(text)", file: file, line: line)
    }

    func testTrickyScalars() throws {
        let tricky = [
            "", " ", "yes", "No", "ON", "off", "y", "n", "true", "False", "null", "Null", "~", "0", "-1", "+1",
            "1.5", "1e3", ".5", ".inf", ".NaN", "0x1F", "0o17", "012", "1_000", "3.11.2", "0000:3b:00.0",
            "12:30:00", "2026-11-29", "a: b", "a:b", "key:", "# comment", "x #y", "- item", "-", "?", "? x",
            "[1, 2]", "{a: 1}", "*ref", "&anchor", "!tag", "|", ">", "'single'", "\"double\"", "%x", "@x", "`x",
            "line1\nline2", "tab\there", "trailing ", " leading", "back\\slash", "ünïcödé 🙂", "\u{7}bell",
            "<<", "=", "python3 >=3.10", "/dev/nvidia0", "GPU-5f2c0f7e-aaaa", "NVIDIA A100-SXM4-80GB", "plain words",
        ]
        var object: [String: JSONValue] = [:]
        for (i, s) in tricky.enumerated() { object["k\(i)"] = .string(s) }
        try assertRoundTrip(.object(object))
        // The same strings as keys.
        try assertRoundTrip(
            .object(Dictionary(uniqueKeysWithValues: tricky.enumerated().map { ($0.element, JSONValue.number(String($0.offset))) })))
        try assertRoundTrip(.array(tricky.map(JSONValue.string)))
    }

    func testNesting() throws {
        let v: JSONValue = .object([
            "empty": .object([:]), "list": .array([]), "n": .number("-42"), "big": .number(String(Int64.max)), "f": .number("0.25"),
            "t": .bool(true), "nil": .null,
            "nested": .array([
                .array([.number("1"), .array([.string("deep")])]), .object(["a": .object(["b": .array([.null])])]),
                .array([]), .object([:]),
            ]),
        ])
        try assertRoundTrip(v)
        try assertRoundTrip(.string("top-level scalar"))
        try assertRoundTrip(.array([]))
    }

    /// A real API value with strings that YAML 1.1 would misread (versions, PCI addresses, "yes").
    func testNodeInfo() throws {
        let node = NodeInfo(
            name: "yes", role: .hybrid, state: .ready,
            capabilities: NodeCapabilities(
                cpuMillis: 2000, memoryBytes: 8 << 30,
                gpus: [
                    GPUDevice(
                        vendor: "nvidia", model: "0x20b2", pciAddress: "0000:3b:00.0", index: 0,
                        uuid: "GPU-1", memoryBytes: 80 << 30, deviceNodes: ["/dev/nvidia0", "/dev/nvidiactl"])
                ],
                runtimes: [RuntimeInfo(name: "python3", version: "3.11", path: "/usr/bin/python3")],
                isolation: IsolationFeatures(cgroupControllers: [], seccomp: true, userNamespaces: true, kernelVersion: "6.1.0-18-amd64"),
                labels: ["zone": "on", "reach": "internet: yes"], warnings: ["nvidia-smi: timed out after 5 s"]),
            allocated: Allocation(cpuMillis: 500, memoryBytes: 256 << 20, gpus: ["0000:3b:00.0"], agents: 1))
        try assertRoundTrip(try JSONValue.of(node))
        let text = try yamlText(node)
        XCTAssertTrue(text.contains("name: \"yes\"\n"), text)
        XCTAssertTrue(text.contains("version: \"3.11\"\n"), text)
    }
}
