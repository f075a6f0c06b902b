// RateLimiter.swift — fair limits per key (a tenant, an unknown token's hash, a client IP): a token
// bucket (`rate` requests per second, `burst` at once) and, optionally, a cap on requests in flight.
// One key's flood empties only its own bucket. Idle keys are forgotten once there are many.
import AegisMetrics
import AegisSystem
import Synchronization

/// Token buckets and in-flight counts per key.
final class RateLimiter: Sendable {
    /// Requests per second, bucket size, and at most this many in flight per key (nil: no cap).
    struct Limits: Sendable {
        var rate: Double
        var burst: Int
        var maxConcurrent: Int?
    }

    /// A request let through; `release()` when it is done (only counts with `maxConcurrent`).
    struct Admission: Sendable {
        let limiter: RateLimiter?
        let key: String
        func release() { limiter?.release(key) }
    }

    /// Refused: come back in `retryAfter` whole seconds (at least 1); `reason` for the error body;
    /// `rejection` for the metrics: `rateLimited` (the bucket was empty) or `concurrency` (the key
    /// had its cap in flight), `joinRateLimited` for the join route (FairLimits).
    struct Refusal: Error, Sendable {
        let retryAfter: Int
        let reason: String
        var rejection: GatewayRejection = .rateLimited
    }

    private struct Entry {
        var tokens: Double
        var refilledAt: ContinuousClock.Instant
        var inFlight = 0
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var pruneAbove = RateLimiter.minimumPruneSize
    }

    static let minimumPruneSize = 4096
    let limits: Limits
    private let state = Mutex(State())

    init(_ limits: Limits) { self.limits = limits }

    /// Takes a token for `key` and, with a concurrency cap, a slot.
    /// - Throws: `Refusal` when the bucket is empty or the key has `maxConcurrent` in flight.
    func acquire(_ key: String, now: ContinuousClock.Instant = .now) throws(Refusal) -> Admission {
        let limits = limits
        let result: Result<Admission, Refusal> = state.withLock { s in
            if s.entries.count >= s.pruneAbove { Self.prune(&s, now: now, limits: limits) }
            var e = s.entries[key] ?? Entry(tokens: Double(limits.burst), refilledAt: now)
            e.tokens = min(Double(limits.burst), e.tokens + (now - e.refilledAt).inSeconds * limits.rate)
            e.refilledAt = now
            defer { s.entries[key] = e }
            if let cap = limits.maxConcurrent, e.inFlight >= cap {
                return .failure(Refusal(retryAfter: 1, reason: "\(cap) requests in flight", rejection: .concurrency))
            }
            guard e.tokens >= 1 else {
                let wait = Int(((1 - e.tokens) / limits.rate).rounded(.up))
                return .failure(Refusal(retryAfter: max(1, wait), reason: "over \(Self.rateText(limits.rate)) requests/s"))
            }
            e.tokens -= 1
            if limits.maxConcurrent != nil { e.inFlight += 1 }
            return .success(Admission(limiter: limits.maxConcurrent == nil ? nil : self, key: key))
        }
        return try result.get()
    }

    func release(_ key: String) {
        state.withLock { s in
            if let e = s.entries[key], e.inFlight > 0 { s.entries[key]!.inFlight = e.inFlight - 1 }
        }
    }

    /// Keys known (tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Forgets keys with nothing in flight whose bucket has refilled: they would start full anyway.
    private static func prune(_ s: inout State, now: ContinuousClock.Instant, limits: Limits) {
        let full = Double(limits.burst) / limits.rate
        s.entries = s.entries.filter { _, e in e.inFlight > 0 || (now - e.refilledAt).inSeconds < full }
        s.pruneAbove = max(minimumPruneSize, s.entries.count * 2)
    }

    static func rateText(_ rate: Double) -> String {
        rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }
}
