// GatewayLimitsTests.swift — fair limits: a tenant over its burst gets 429 with Retry-After while
// another tenant's requests pass; in-flight caps per tenant; the join route per client IP; the
// session path and tokens the controller refuses; a 429 held for the refusal delay (others pass
// meanwhile; a drain or the client leaving ends the hold).
import AegisGateway
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

final class GatewayLimitsTests: GatewayTestCase {
    func testTenantOverItsBurstIsRefusedWhileAnotherPasses() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.5
            $0.burst = 3
        }
        let http = try client()
        for i in 0..<3 {
            let ok = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
            XCTAssertEqual(ok.status, 200, "request \(i) within the burst")
        }
        let refused = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.headers["retry-after"], "2")
        XCTAssertTrue((refused.json["error"] as? String ?? "").contains("rate limited"), refused.body)
        for _ in 0..<3 {
            let other = try await http.fetch(gateway.base + "/echo/b", headers: [("Authorization", "Bearer token-b")])
            XCTAssertEqual(other.status, 200, "tenant b is not starved by tenant a")
        }
        let keys = Set(
            gateway.log.all.compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["limit_key"] as? String
            })
        XCTAssertEqual(keys, ["tenant:a", "tenant:b"])
    }

    func testFloodOfOneTenantLeavesAnotherAlone() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 10
        }
        let http = try client()
        let codes = try await withThrowingTaskGroup(of: UInt.self) { group in
            for _ in 0..<60 {
                group.addTask { try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")]).status }
            }
            return try await group.reduce(into: [UInt]()) { $0.append($1) }
        }
        XCTAssertEqual(codes.filter { $0 == 200 }.count, 10, "tenant a's burst")
        XCTAssertEqual(codes.filter { $0 == 429 }.count, 50)
        let b = try await http.fetch(gateway.base + "/echo/b", headers: [("Authorization", "Bearer token-b")])
        XCTAssertEqual(b.status, 200)
    }

    func testConcurrentRequestsPerTenantAreCapped() async throws {
        let gateway = try await startGateway { $0.maxConcurrent = 2 }
        let http = try client()
        var streams: [HTTPClientResponse] = []
        for _ in 0..<2 {
            var request = HTTPClientRequest(url: gateway.base + "/sse?n=30")
            request.headers.add(name: "Authorization", value: "Bearer token-a")
            streams.append(try await http.execute(request, timeout: .seconds(10)))
        }
        let third = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(third.status, 429)
        XCTAssertEqual(third.headers["retry-after"], "1")
        XCTAssertTrue((third.json["error"] as? String ?? "").contains("2 requests in flight"), third.body)
        let b = try await http.fetch(gateway.base + "/echo/b", headers: [("Authorization", "Bearer token-b")])
        XCTAssertEqual(b.status, 200)
        for stream in streams { for try await _ in stream.body {} }
        let again = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(again.status, 200, "slots are released when the streams end")
    }

    func testJoinRouteIsLimitedPerClientIP() async throws {
        let gateway = try await startGateway { $0.joinRate = 0.1 }  // 10 at once, then one per 10 s
        let http = try client()
        var codes: [UInt] = []
        for _ in 0..<12 {
            codes.append(
                try await http.fetch(gateway.base + "/v1/cluster/join", method: .POST, body: .bytes(ByteBuffer(string: "{}"))).status)
        }
        XCTAssertEqual(Array(codes.prefix(10)), Array(repeating: 200, count: 10), "burst of 10")
        XCTAssertEqual(codes.suffix(2), [429, 429])
        let tenant = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(tenant.status, 200, "the join limit is its own")
    }

    func testRefusedTokensCountUnderTheirHash() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 2
        }
        let http = try client()
        for token in ["bad-1", "bad-1", "bad-2"] {
            _ = try await http.fetch(gateway.base + "/echo/x", headers: [("Authorization", "Bearer \(token)")])
        }
        let third = try await http.fetch(gateway.base + "/echo/x", headers: [("Authorization", "Bearer bad-1")])
        XCTAssertEqual(third.status, 429, "bad-1's own bucket is empty")
        let keys = gateway.log.all.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["limit_key"] as? String
        }
        XCTAssertEqual(Set(keys).count, 2)
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix("token:") && $0.count == 22 }, "\(keys)")
    }

    func testSessionsAndProbesAreExempt() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 1
        }
        let tls = try pki.clientTLS(pki.node)
        for _ in 0..<3 {
            _ = try await GatewayWebSocketTests.session(port: gateway.ports.cluster, tls: tls) { identity, _, outbound in
                XCTAssertTrue(identity.hasPrefix("identity:"), identity)
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
        let http = try client()
        for _ in 0..<3 {
            let probe = try await http.fetch(gateway.base + "/healthz")
            XCTAssertNotEqual(probe.status, 429)
        }
        let first = try await http.fetch(gateway.base + "/echo/x")
        XCTAssertEqual(first.status, 200, "the IP's one token is still there")
        let second = try await http.fetch(gateway.base + "/echo/x")
        XCTAssertEqual(second.status, 429)
    }

    func testRefusalIsHeldForTheDelayWhileOthersPass() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 1
            $0.refusalDelay = .milliseconds(800)
        }
        let http = try client()
        let first = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(first.status, 200)
        let clock = ContinuousClock()
        let start = clock.now
        async let refused = http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        try await Task.sleep(for: .milliseconds(100))
        let other = try await http.fetch(gateway.base + "/echo/b", headers: [("Authorization", "Bearer token-b")])
        let otherDone = clock.now - start
        XCTAssertEqual(other.status, 200)
        let held = try await refused
        let heldFor = clock.now - start
        XCTAssertEqual(held.status, 429)
        XCTAssertEqual(held.headers["retry-after"], "10", "10 s to a token at 0.1/s; the 0.8 s held are less than a whole second")
        XCTAssertGreaterThanOrEqual(heldFor, .milliseconds(800), "the refusal waited for the delay")
        XCTAssertLessThan(otherDone, heldFor, "tenant b's request was answered while a's refusal was held")
    }

    func testTheHoldCountsTowardRetryAfter() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 1
            $0.refusalDelay = .seconds(2)
        }
        let http = try client()
        _ = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        let refused = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.headers["retry-after"], "8", "10 s to the next token, 2 of them spent holding the answer")
    }

    func testDrainEndsARefusalsHold() async throws {
        let gateway = try await startGateway {
            $0.rate = 0.1
            $0.burst = 1
            $0.refusalDelay = .seconds(10)
        }
        let http = try client()
        _ = try await http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        let clock = ContinuousClock()
        let start = clock.now
        async let refused = http.fetch(gateway.base + "/echo/a", headers: [("Authorization", "Bearer token-a")])
        try await Task.sleep(for: .milliseconds(300))
        await gateway.stop()
        let held = try await refused
        XCTAssertEqual(held.status, 429, "the held refusal still goes out")
        XCTAssertLessThan(clock.now - start, .seconds(5), "the drain did not wait out the 10 s hold")
    }
}
