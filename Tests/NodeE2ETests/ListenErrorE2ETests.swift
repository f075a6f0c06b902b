// ListenErrorE2ETests.swift — a node whose API port is taken fails its start naming the address
// and the flag (the unit's journal then says which port), and leaves nothing serving.
import Foundation
import XCTest

final class ListenErrorE2ETests: XCTestCase {
    func testATakenAPIPortIsNamedInTheError() throws {
        let node = try NodeHarness()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let r = try node.cli(
            ["up", "--data-dir", node.dataDir + "/node", "--api-port", "\(port)", "--cgroup-parent", node.cgroupParent], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(
            r.stderr.contains("listening on 127.0.0.1:\(port) (--api-port)") && r.stderr.contains("Address already in use"),
            "stderr: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: node.dataDir + "/node/aegis.sock"), "nothing left serving")
    }
}
