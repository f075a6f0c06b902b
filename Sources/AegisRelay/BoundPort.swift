// BoundPort.swift — the port a listener binds (an ephemeral one in tests), known once it is bound;
// callers wait for it. Used by the relay's listener and the edge's loopback listener.
import Synchronization

/// A listener's port, settled once: bound (every waiter and later caller gets it) or failed
/// (the waiters so far get the error; later callers wait for a later `settle`).
final class BoundPort: Sendable {
    private let state = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, any Error>])>((nil, []))

    /// The port, waiting until it is bound. - Throws: the error the listener failed with.
    func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { c in
            let ready: Int? = state.withLock { p in
                if let v = p.value { return v }
                p.waiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// Answers every waiter: the port once bound, or why it is not.
    func settle(_ result: Result<Int, any Error>) {
        let waiters = state.withLock { p in
            if case .success(let v) = result { p.value = v }
            defer { p.waiters = [] }
            return p.waiters
        }
        for w in waiters { w.resume(with: result) }
    }
}
