// ClusterAuthorityTests.swift — renewal and peer authorization of joined nodes (real CA files,
// real SQLite store).
import AegisControl
import AegisPKI
import AegisProtocol
import AegisStore
import Foundation
import XCTest

final class ClusterAuthorityPlaceholderTests: XCTestCase {
    func testTargetBuilds() throws {
        // Replaced by the lease/authority tests; keeps the target non-empty until then.
        XCTAssertEqual(NodeRole.worker.rawValue, "worker")
    }
}
