// ClientGone.swift — noticing that a client left while its response still streams. HTTP/1.1
// clients don't half-close, so the end of a connection's input (a TLS close_notify, a FIN) or the
// connection itself means the reader is gone: an open-ended stream (an SSE log follow) is then
// cancelled at once, and with it the upstream request, instead of waiting for the next event to
// fail its write.
import AsyncHTTPClient
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Fires once when a connection's input ends; `wait()` returns then (or when its task is cancelled).
final class ClientGoneSignal: Sendable {
    private struct State {
        var fired = false
        var next = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { s in
            s.fired = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    var fired: Bool { state.withLock { $0.fired } }

    func wait() async {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s in
                    if s.fired || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// Fires the connection's signal when its input closes or the connection goes.
final class ClientGoneWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    let signal: ClientGoneSignal

    init(signal: ClientGoneSignal) { self.signal = signal }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { signal.fire() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        signal.fire()
        context.fireChannelInactive()
    }
}

/// The response body writer moved into the task that relays an open-ended stream; only that task
/// uses it while the relay runs.
private final class RelayState: @unchecked Sendable {
    var writer: any ResponseBodyWriter
    let bytes = Atomic<Int>(0)
    init(_ writer: any ResponseBodyWriter) { self.writer = writer }
}

/// The reader left while its response streamed.
struct ClientGone: Error, CustomStringConvertible {
    var description: String { "the client closed the connection" }
}

enum StreamRelay {
    /// Writes `body` to `writer` chunk by chunk; cancels it (and so the upstream request) as soon
    /// as `signal` fires. Returns the bytes written.
    /// - Throws: `ClientGone`, or the first read or write error.
    static func relay(
        _ body: HTTPClientResponse.Body, to writer: any ResponseBodyWriter, until signal: ClientGoneSignal
    ) async throws
        -> Int
    {
        let state = RelayState(writer)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await chunk in body {
                    state.bytes.add(chunk.readableBytes, ordering: .relaxed)
                    try await state.writer.write(chunk)
                }
                try await state.writer.finish(nil)
            }
            group.addTask {
                await signal.wait()
                throw ClientGone()
            }
            defer { group.cancelAll() }
            try await group.next()
        }
        return state.bytes.load(ordering: .relaxed)
    }

}
