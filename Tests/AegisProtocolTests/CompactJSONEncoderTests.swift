// CompactJSONEncoderTests.swift — the one-pass encoder of stored specs and API answers must write
// JSON that parses to the same document as Foundation's JSONEncoder and decodes back to the value,
// for every wire type, escapes and special types, and fall back (never emit broken JSON) when a
// conformance uses containers out of order.
import AegisProtocol
import Foundation
import XCTest

final class CompactJSONEncoderTests: XCTestCase {
    static let fullSpec: WorkloadSpec = {
        var s = WorkloadSpec(
            tenant: "acme", name: "job \"quoted\" \\ back", runtime: "python3", args: ["python3", "-c", "print('ü\n\t')"],
            env: ["Z": "last", "A": "first", "M\u{1}": "control", "émoji": "🚀"],
            resources: ResourceRequest(cpuMillis: 1500, memoryBytes: 512 << 20, pids: 64, gpus: 1, diskBytes: 1 << 30, tmpBytes: 1 << 20),
            requires: Requirements(
                runtimes: [RuntimeRequirement(name: "python3", version: ">=3.10")], gpu: GPURequirement(vendor: "nvidia", model: "T4"),
                labels: ["zone": "a", "rack": "7"], reach: ["internet"]),
            network: .egress, egress: EgressSpec(allow: ["10.0.0.0/8", "example.com:443"]), inputs: ["in.txt": [0, 1, 255]],
            outputDir: "out", timeoutSeconds: 90, restart: .onFailure,
            restartBackoff: RestartBackoff(initialSeconds: 5, maxSeconds: 60),
            image: ImageSpec(reference: "registry.local/agent:1", rootfs: .overlay, useEntrypoint: true))
        s.image?.workingDir = "/app"
        s.image?.user = "1000:1000"
        return s
    }()

    static let fullWorkload: Workload = {
        var w = Workload(
            id: "a-1", spec: fullSpec, state: .failed, reason: "exit 1", node: "n1", generation: 4, exitCode: 1, signal: 9,
            oomKilled: true, restarts: 2, createdAtMs: 1_700_000_000_000, startedAtMs: 1_700_000_000_100,
            finishedAtMs: 1_700_000_000_200, unenforcedLimits: ["memory"], gpus: ["0000:01:00.0"])
        w.nextAttemptAtMs = 1_700_000_001_000
        w.consecutiveExits = 3
        return w
    }()

    /// The parsed JSON document of some bytes (for comparing documents, whatever the key order).
    func document(_ bytes: some Collection<UInt8>, file: StaticString = #filePath, line: UInt = #line) throws -> NSObject {
        let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        return try XCTUnwrap(object as? NSObject, file: file, line: line)
    }

    func assertSameDocument<T: Encodable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let compact = try CompactJSONEncoder().encode(value)
        let foundation = try JSONEncoder().encode(value)
        XCTAssertEqual(try document(compact), try document(foundation), String(decoding: compact, as: UTF8.self), file: file, line: line)
    }

    func testWorkloadsAndSpecsEncodeToFoundationsDocumentAndDecodeBack() throws {
        try assertSameDocument(Self.fullSpec)
        try assertSameDocument(Self.fullWorkload)
        try assertSameDocument(
            Workload(id: "a-2", spec: WorkloadSpec(tenant: "t", name: "n", runtime: "command", args: []), createdAtMs: 0))
        let bytes = try CompactJSONEncoder().encode(Self.fullWorkload)
        XCTAssertEqual(try JSONDecoder().decode(Workload.self, from: Data(bytes)), Self.fullWorkload)
    }

    func testEverySessionFrameEncodesToItsGoldenDocument() throws {
        for (name, message) in SessionWireGoldenTests.frames {
            let fixture = try XCTUnwrap(SessionWireGoldenTests.fixtures[name], name)
            let compact = try CompactJSONEncoder().encode(message)
            XCTAssertEqual(try document(compact), try document(Array(fixture.utf8)), name)
        }
    }

    func testStringsAreEscapedAsJSONRequires() throws {
        let text = "q\" b\\ nl\n cr\r tab\t bs\u{8} ff\u{c} nul\u{0} us\u{1f} slash/ é 🚀"
        let bytes = try CompactJSONEncoder().encode(["k\"ey\n": text])
        XCTAssertEqual(
            String(decoding: bytes, as: UTF8.self),
            #"{"k\"ey\n":"q\" b\\ nl\n cr\r tab\t bs\b ff\f nul\u0000 us\u001f slash/ é 🚀"}"#)
        XCTAssertEqual(try JSONDecoder().decode([String: String].self, from: Data(bytes)), ["k\"ey\n": text])
    }

    func testDictionaryKeysAreSortedSoEqualValuesGiveEqualBytes() throws {
        var a: [String: Int] = [:]
        var b: [String: Int] = [:]
        let keys = (0..<50).map { "key-\($0)" }
        for k in keys { a[k] = k.count }
        for k in keys.reversed() { b[k] = k.count }
        let bytesA = try CompactJSONEncoder().encode(a)
        XCTAssertEqual(bytesA, try CompactJSONEncoder().encode(b))
        XCTAssertTrue(String(decoding: bytesA, as: UTF8.self).hasPrefix(#"{"key-0":5,"key-1":5,"key-10":6"#))
    }

    func testSpecialTypesAreWrittenAsJSONEncodersDefaultsWrite() throws {
        struct Special: Codable, Equatable {
            var data: Data
            var url: URL
            var date: Date
            var double: Double
            var float: Float
            var small: Int8
            var big: UInt64
            var none: String?
            var nested: [[Int]]
        }
        let value = Special(
            data: Data([0, 1, 2, 250]), url: URL(string: "https://example.com/a?b=c")!, date: Date(timeIntervalSinceReferenceDate: 12.5),
            double: 0.1, float: 2.5, small: -8, big: .max, none: nil, nested: [[1, 2], [], [3]])
        try assertSameDocument(value)
        let bytes = try CompactJSONEncoder().encode(value)
        XCTAssertEqual(try JSONDecoder().decode(Special.self, from: Data(bytes)), value)
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains(#""data":"AAEC+g==""#))
    }

    func testIntegersAreWrittenAsTheirDecimalDigits() throws {
        struct Numbers: Codable, Equatable {
            var values: [Int64]
            var unsigned: [UInt64]
            var small: [Int8]
        }
        let value = Numbers(
            values: [0, 7, -7, 10, -10, 1_234_567_890, .min, .max], unsigned: [0, 9, 100, .max], small: [.min, .max, -1])
        let text = String(decoding: try CompactJSONEncoder().encode(value), as: UTF8.self)
        XCTAssertEqual(
            text,
            #"{"values":[0,7,-7,10,-10,1234567890,-9223372036854775808,9223372036854775807],"#
                + #""unsigned":[0,9,100,18446744073709551615],"small":[-128,127,-1]}"#)
    }

    func testANonFiniteNumberIsRefusedWithItsCodingPath() throws {
        struct Holder: Encodable { var values: [Double] }
        XCTAssertThrowsError(try CompactJSONEncoder().encode(Holder(values: [1, .nan]))) { error in
            guard case let EncodingError.invalidValue(_, context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }, ["values", "1"])
        }
    }

    /// Conformances that write in an order a stream cannot follow still come out as valid JSON of
    /// the value (through `JSONEncoder`).
    func testOutOfOrderContainerUseFallsBackToAValidDocument() throws {
        struct Interleaved: Encodable {
            enum K: String, CodingKey { case a, b, c }
            func encode(to encoder: Encoder) throws {
                var outer = encoder.container(keyedBy: K.self)
                var first = outer.nestedUnkeyedContainer(forKey: .a)
                var second = outer.nestedUnkeyedContainer(forKey: .b)
                try second.encode(2)
                try first.encode(1)  // after its sibling was opened
                try outer.encode(3, forKey: .c)
            }
        }
        struct WithSuper: Encodable {
            enum K: String, CodingKey { case x }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                try c.encode(1, forKey: .x)
                var s = c.superEncoder().singleValueContainer()
                try s.encode("base")
            }
        }
        struct Mixed: Encodable {
            func encode(to encoder: Encoder) throws {
                var u = encoder.unkeyedContainer()
                try u.encode(1)
                var v = encoder.singleValueContainer()
                try v.encode(2)
            }
        }
        try assertSameDocument(Interleaved())
        try assertSameDocument(WithSuper())
        // Foundation's own answer to a mixed use is whatever it does; ours must be the same.
        if let foundation = try? JSONEncoder().encode(Mixed()) {
            XCTAssertEqual(try document(CompactJSONEncoder().encode(Mixed())), try document(foundation))
        }
    }

    /// Nested containers used in order stream without the fallback, closed in the right places.
    func testNestedContainersUsedInOrderAreClosedInPlace() throws {
        struct Nested: Encodable {
            enum K: String, CodingKey { case list, object, tail }
            enum Inner: String, CodingKey { case deep }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var list = c.nestedUnkeyedContainer(forKey: .list)
                try list.encode(1)
                var element = list.nestedContainer(keyedBy: Inner.self)
                try element.encode([1, 2], forKey: .deep)
                try list.encode(3)
                var object = c.nestedContainer(keyedBy: Inner.self, forKey: .object)
                _ = object.nestedUnkeyedContainer(forKey: .deep)
                try c.encode("end", forKey: .tail)
            }
        }
        let text = String(decoding: try CompactJSONEncoder().encode(Nested()), as: UTF8.self)
        XCTAssertEqual(text, #"{"list":[1,{"deep":[1,2]},3],"object":{"deep":[]},"tail":"end"}"#)
    }

    func testAKnownEncodingIsWrittenVerbatimInItsPlace() throws {
        var spec = Self.fullWorkload.spec
        spec.inputs = [:]
        var workload = Self.fullWorkload
        workload.spec = spec
        let specJSON = try CompactJSONEncoder().encode(spec)
        let spliced = try CompactJSONEncoder(writing: specJSON, for: WorkloadSpec.self).encode(workload)
        XCTAssertEqual(spliced, try CompactJSONEncoder().encode(workload))
    }

    /// Not a timed assertion: prints both encoders' time per spec so a regression is visible.
    func testPrintsTheCostPerSpecBesideJSONEncoders() throws {
        let iterations = 2000
        let compact = CompactJSONEncoder()
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]
        var spec = Self.fullSpec
        spec.inputs = [:]
        let clock = ContinuousClock()
        let a = try clock.measure { for _ in 0..<iterations { _ = try compact.encode(spec) } }
        let b = try clock.measure { for _ in 0..<iterations { _ = try foundation.encode(spec) } }
        print("CompactJSONEncoder \(a / iterations) per spec; JSONEncoder (sorted keys) \(b / iterations)")
    }
}
