// BodyLimit.swift — a request body on its way up: counted, refused once it passes the limit
// (the upstream request then fails and is cancelled), and when it ended (the response-head
// timeout starts there).
import NIOCore
import Synchronization

/// The request body passed `limit` bytes while it streamed.
struct BodyTooLarge: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "request body over the \(limit)-byte limit" }
}

/// How far a request body got; shared by the streaming side and the forwarder.
final class BodyProgress: Sendable {
    private struct State {
        var bytes = 0
        var exceeded = false
        var endedAt: ContinuousClock.Instant?
        /// The upstream request is reading a chunk right now.
        var reading = false
        /// The upstream request reads no more: the server drains what is left.
        var detached = false
    }
    private let state = Mutex(State())

    /// A progress for a request without a body: ended now.
    static func none() -> BodyProgress {
        let p = BodyProgress()
        p.end()
        return p
    }

    /// Bytes streamed so far.
    var bytes: Int { state.withLock { $0.bytes } }
    /// Whether the body passed its limit.
    var exceeded: Bool { state.withLock { $0.exceeded } }
    /// When the body was read to its end (nil while it streams).
    var endedAt: ContinuousClock.Instant? { state.withLock { $0.endedAt } }

    /// Counts `n` more bytes; false when that passes `limit` (then `exceeded` is set).
    func add(_ n: Int, limit: Int) -> Bool {
        state.withLock { s in
            s.bytes += n
            if s.bytes > limit { s.exceeded = true }
            return !s.exceeded
        }
    }

    func end() { state.withLock { s in if s.endedAt == nil { s.endedAt = .now } } }

    /// Starts reading a chunk; false once detached.
    func beginRead() -> Bool {
        state.withLock { s in
            s.reading = !s.detached
            return s.reading
        }
    }

    func endRead() { state.withLock { $0.reading = false } }
    var isDetached: Bool { state.withLock { $0.detached } }

    /// Stops the upstream request from reading the body and waits (at most `timeout`) for a read in
    /// progress to return, so that the server can read the rest itself. False when the read did not
    /// return in time (the body's owner is unknown: the connection must close).
    func detach(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ s in
            s.detached = true
            return s.reading
        }) {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}

/// `base` (the client's request body) as the upstream request's body: throws `BodyTooLarge` as soon
/// as more than `limit` bytes came, records progress in `progress`.
struct LimitedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let limit: Int
    let progress: BodyProgress

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int
        let progress: BodyProgress

        mutating func next() async throws -> ByteBuffer? {
            guard progress.beginRead() else { return nil }
            defer { progress.endRead() }
            guard let chunk = try await base.next() else {
                progress.end()
                return nil
            }
            if progress.isDetached { return nil }
            guard progress.add(chunk.readableBytes, limit: limit) else { throw BodyTooLarge(limit: limit) }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit, progress: progress)
    }
}
