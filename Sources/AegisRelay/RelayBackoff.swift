// RelayBackoff.swift — how long an edge waits before dialling its relays again: exponential from
// `initial` (1 s) doubling to `cap` (60 s), each delay drawn uniformly from its upper half
// ([d/2, d]) so that edges cut off together (a relay restart) come back spread over a window
// instead of in the same second. Pure: the random source is injected.

/// The redial schedule of `RelayDialer`.
public struct RelayBackoff: Sendable {
    /// The ceiling of the first delay.
    public var initial: Duration
    /// The largest ceiling.
    public var cap: Duration
    /// A number in [0, 1): where in [d/2, d] a delay falls.
    public var random: @Sendable () -> Double

    public init(
        initial: Duration = .seconds(1), cap: Duration = .seconds(60),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.initial = initial
        self.cap = cap
        self.random = random
    }

    /// The ceiling before jitter for the `attempt`-th consecutive wait (0-based): initial · 2^attempt, at most `cap`.
    public func ceiling(attempt: Int) -> Duration {
        var d = initial
        var n = 0
        while n < attempt && d < cap {
            d = d * 2
            n += 1
        }
        return min(d, cap)
    }

    /// The delay before the `attempt`-th consecutive redial (0-based), in [ceiling/2, ceiling].
    public func delay(attempt: Int) -> Duration {
        let ceiling = ceiling(attempt: attempt)
        let r = min(max(random(), 0), 1)
        return ceiling / 2 + ceiling / 2 * r
    }
}
