// FairLimits.swift — which limit a request counts against: the tenant its bearer token acts for
// (`--rate`, `--burst`, `--max-concurrent`), the client IP for the unauthenticated join route
// (5/s, burst 10 by default) and for requests without a token; health probes and the workers'
// session path are exempt (a tenant's flood never delays a lease renewal).
import AegisMetrics
import AegisProtocol
import HTTPTypes

struct FairLimits: Sendable {
    let tenants: RateLimiter
    let joins: RateLimiter
    let resolver: TenantResolver

    /// The join route: no bearer token, the join token in the body authenticates.
    static let joinPath = "/v1/cluster/join"
    static let exemptPaths: Set<String> = ["/healthz", "/readyz", NodeSession.path]

    init(configuration: GatewayConfiguration, upstream: Upstream) {
        tenants = RateLimiter(
            .init(rate: configuration.rate, burst: configuration.burst, maxConcurrent: configuration.maxConcurrent))
        joins = RateLimiter(.init(rate: configuration.joinRate, burst: configuration.joinBurst, maxConcurrent: nil))
        resolver = TenantResolver(upstream: upstream, ttl: configuration.tenantCacheTTL)
    }

    /// Admits the request or refuses it; returns the admission (release it when the response is
    /// done) and the key it counted under (nil when exempt).
    /// - Throws: `RateLimiter.Refusal` (429) naming the key's limit, with its rejection reason
    ///   (`rate_limited`, `concurrency`, `join_rate_limited`).
    func admit(
        path: String, headers: HTTPFields, remoteIP: String
    ) async throws(RateLimiter.Refusal) -> (
        RateLimiter.Admission?, String?
    ) {
        if Self.exemptPaths.contains(path) { return (nil, nil) }
        if path == Self.joinPath {
            let key = "join:" + remoteIP
            do { return (try joins.acquire(key), key) } catch {
                throw RateLimiter.Refusal(
                    retryAfter: error.retryAfter, reason: "join attempts from \(remoteIP): \(error.reason)", rejection: .joinRateLimited)
            }
        }
        let key = await resolver.key(authorization: headers[.authorization], remoteIP: remoteIP)
        return (try tenants.acquire(key), key)
    }
}
