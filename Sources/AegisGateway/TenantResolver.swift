// TenantResolver.swift — which tenant a bearer token acts for, asked of the controller itself
// (GET /v1/whoami with that token) and reused for 30 s, keyed by the token's SHA-256 (the token is
// never kept). A token the controller refuses counts under its hash's prefix, so a client cycling
// bad tokens is limited per token rather than sharing anyone's bucket. Concurrent first requests
// with one token make one lookup.
import AegisSystem
import AegisProtocol
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

final class TenantResolver: Sendable {
    /// A cached key, or the lookup that will give it.
    private enum Known {
        case key(String)
        case lookup(Task<String, Never>)
    }

    private enum Entry {
        case resolved(key: String, until: ContinuousClock.Instant)
        case pending(Task<String, Never>)
    }

    let upstream: Upstream
    let ttl: Duration
    private let cache = Mutex<[String: Entry]>([:])
    static let maxEntries = 50_000

    init(upstream: Upstream, ttl: Duration) {
        self.upstream = upstream
        self.ttl = ttl
    }

    /// The limit key of a request: "admin", "tenant:NAME", "token:<16 hex of SHA-256>" for a token
    /// the controller refused or could not resolve, or "ip:ADDRESS" without a bearer token.
    func key(authorization: String?, remoteIP: String) async -> String {
        guard let authorization, let token = Self.bearerToken(authorization) else { return "ip:" + remoteIP }
        let hash = Hex.lowercase(SHA256.hash(data: Array(token.utf8)))
        let now = ContinuousClock.now
        let known: Known = cache.withLock { c in
            switch c[hash] {
            case .resolved(let key, let until) where until > now:
                return .key(key)
            case .pending(let task):
                return .lookup(task)
            default:
                if c.count >= Self.maxEntries {
                    c = c.filter { if case .resolved(_, let until) = $0.value { return until > now } else { return true } }
                }
                let task = Task { await self.lookup(token: token, hash: hash) }
                c[hash] = .pending(task)
                return .lookup(task)
            }
        }
        switch known {
        case .key(let key): return key
        case .lookup(let task): return await task.value
        }
    }

    /// Asks the controller; caches a tenant and a refusal for `ttl`, anything else not at all.
    private func lookup(token: String, hash: String) async -> String {
        let fallback = "token:" + hash.prefix(16)
        var key = fallback
        var cacheable = false
        do {
            var request = HTTPClientRequest(url: upstream.url(path: "/v1/whoami"))
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            let response = try await upstream.client.execute(request, timeout: upstream.headTimeAmount)
            let body = try await response.body.collect(upTo: 64 << 10)
            if response.status == .ok, let who = try? JSONDecoder().decode(WhoAmI.self, from: Data(body.readableBytesView)) {
                key = who.kind == "admin" ? "admin" : "tenant:" + who.tenant
                cacheable = true
            } else if response.status == .unauthorized || response.status == .forbidden {
                cacheable = true
            }
        } catch {
            cacheable = false
        }
        let until = ContinuousClock.now + ttl
        cache.withLock { c in c[hash] = cacheable ? .resolved(key: key, until: until) : nil }
        return key
    }

    /// The token of "Bearer TOKEN" (scheme case-insensitive), nil for anything else.
    static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
