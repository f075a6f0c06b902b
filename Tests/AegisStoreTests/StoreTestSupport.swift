// StoreTestSupport.swift — temp directories, a deterministic test hasher, spec builders.
import XCTest
import Foundation
@testable import AegisStore
import AegisProtocol

/// Not cryptographic: four FNV-1a-64 lanes with different offsets → 64 hex digits. Deterministic
/// and never contains its input, which is all the store's contract needs. Production uses SHA-256.
struct ToyHasher: TokenHasher {
    func hash(_ token: String) -> String {
        var out = ""
        for lane: UInt64 in [0xcbf2_9ce4_8422_2325, 0x84222325cbf29ce4, 0x9e37_79b9_7f4a_7c15, 0x1234_5678_9abc_def0] {
            var h = lane
            for b in token.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
            out += String(h, radix: 16).leftPadded(16)
        }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// A fresh directory under /tmp, removed in tearDown.
class StoreTestCase: XCTestCase {
    var dir: String = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/aegis-store-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard p != nil else { throw XCTSkip("mkdtemp failed: errno \(errno)") }
        dir = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    override func tearDownWithError() throws {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    var dbPath: String { dir + "/aegis.db" }

    func openStore() throws -> ControlStore {
        try ControlStore(dataDirectory: dir, hasher: ToyHasher())
    }

    /// Bytes of the database file and its WAL (whatever exists).
    func fileBytes() throws -> [UInt8] {
        var all: [UInt8] = []
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: dbPath + suffix) {
            all += [UInt8](try Data(contentsOf: URL(fileURLWithPath: dbPath + suffix)))
        }
        return all
    }

    func spec(tenant: String = "default", name: String = "agent", inputs: [String: [UInt8]] = [:]) -> WorkloadSpec {
        WorkloadSpec(
            tenant: tenant, name: name, runtime: "python3", args: ["python3", "main.py"], env: ["K": "v"],
            resources: ResourceRequest(cpuMillis: 500, memoryBytes: 256 << 20, pids: 64, gpus: 0),
            requires: Requirements(runtimes: [RuntimeRequirement(name: "python3", version: ">=3.10")], labels: ["zone": "a"]),
            inputs: inputs, timeoutSeconds: 60, restart: .onFailure)
    }

    func expectStoreError(
        _ kind: StoreError.Kind, containing text: String? = nil, file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            XCTFail("expected StoreError(.\(kind)) but the call succeeded", file: file, line: line)
        } catch let e as StoreError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            if let text { XCTAssertTrue(e.description.contains(text), "\(e) does not mention \(text)", file: file, line: line) }
        } catch {
            XCTFail("expected StoreError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        while i <= count - needle.count {
            if self[i] == first && Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}
