// RemoteWorkerLink.swift — the controller's end of a worker's session (AegisProtocol
// Session.swift): WorkerLink calls become SessionMessages handed to `send` (the transport writes
// them in order); requests wait for the worker's reply with the same seq.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import Synchronization

/// A failed request to a remote worker.
public struct RemoteWorkerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

public final class RemoteWorkerLink: WorkerLink, Sendable {
    public let node: String
    /// Lease terms sent with every `welcome`.
    public let lease: LeaseTerms
    /// How long a request waits for its reply.
    public let requestTimeout: Duration
    private let send: @Sendable (SessionMessage) -> Void
    private let onClose: @Sendable (String) -> Void
    private let state = Mutex<(next: UInt64, waiters: [UInt64: CheckedContinuation<WorkerReply, any Error>], closed: String?)>(
        (1, [:], nil))

    /// - Parameters:
    ///   - send: queues one message for the session's writer (never blocks).
    ///   - onClose: ends the session with a reason (when replaced by a newer session).
    public init(
        node: String, lease: LeaseTerms, requestTimeout: Duration = .seconds(30),
        send: @escaping @Sendable (SessionMessage) -> Void, onClose: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.node = node
        self.lease = lease
        self.requestTimeout = requestTimeout
        self.send = send
        self.onClose = onClose
    }

    public func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        var w = workload
        let files = w.spec.inputs.mapValues { Data($0).base64EncodedString() }
        w.spec.inputs = [:]
        send(.start(StartCommand(workload: w, uid: uid, gpus: gpus, files: files)))
    }

    public func cancel(id: String, generation: Int64) async {
        send(.cancel(PlacementRef(id: id, generation: generation)))
    }

    public func release(id: String, generation: Int64) async {
        send(.release(PlacementRef(id: id, generation: generation)))
    }

    public func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? {
        guard let r = try? await request(WorkerRequest(kind: .log, workload: id, stream: stream, offset: offset, maxBytes: maxBytes)),
            r.error == nil, let size = r.size, let bytes = Data(base64Encoded: r.data ?? "")
        else { return nil }
        return LogChunk(bytes: Array(bytes), start: r.start ?? offset, size: size)
    }

    public func outputs(id: String, outputDir: String) async -> [String] {
        (try? await request(WorkerRequest(kind: .outputs, workload: id, outputDir: outputDir)))?.paths ?? []
    }

    /// Chunk size of output transfers (a frame stays well under `NodeSession.maxFrameBytes` in base64).
    public static let outputChunkBytes = 4 << 20

    /// The file in chunks of `outputChunkBytes` (each a request/reply), until its size is reached.
    /// Largest output file read whole through a session: 1 GiB.
    public static let maxOutputBytes = 1 << 30

    public func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] {
        try await readOutput(id: id, outputDir: outputDir, path: path, limit: Self.maxOutputBytes)
    }

    /// The file in chunks; refused at the first reply when the worker reports more than `limit`
    /// bytes (or when more than `limit` arrive from a worker that reports no size).
    public func readOutput(id: String, outputDir: String, path: String, limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let r = try await request(
                WorkerRequest(
                    kind: .output, workload: id, offset: Int64(out.count),
                    maxBytes: Self.outputChunkBytes, outputDir: outputDir, path: path))
            if let e = r.error { throw RemoteWorkerError(e) }
            guard let bytes = Data(base64Encoded: r.data ?? "") else {
                throw RemoteWorkerError("node \(node) sent output \(path) that is not base64")
            }
            // Held in memory: a sparse file costs an agent nothing and could have any size.
            if let size = r.size, size > Int64(Self.maxOutputBytes) {
                throw RemoteWorkerError(
                    "output \(path) is \(size) bytes: above the \(Self.maxOutputBytes >> 20) MiB one read holds in memory")
            }
            if let size = r.size, size > Int64(limit) { throw OutputTooLarge(path: path, size: size, limit: limit) }
            out += bytes
            if out.count > limit { throw OutputTooLarge(path: path, size: Int64(out.count), limit: limit) }
            // Done at the size the worker reports (an old worker sends the whole file and no size).
            if bytes.isEmpty || Int64(out.count) >= (r.size ?? Int64(out.count)) { return out }
        }
    }

    /// Sends `welcome`: the protocol version, the lease terms and the placements to hold.
    public func reconcile(active: [(id: String, generation: Int64)]) async {
        send(
            .welcome(version: NodeSession.version, lease: lease, active: active.map { PlacementRef(id: $0.id, generation: $0.generation) }))
    }

    /// Asks the worker and waits for its reply. The timeout is a child task of the request (no task
    /// outlives it).
    /// - Throws: `RemoteWorkerError` when the session is closed or no reply came within `requestTimeout`.
    public func request(_ r: WorkerRequest) async throws -> WorkerReply {
        let timeout = requestTimeout
        let seq: UInt64? = state.withLock { s in
            if s.closed != nil { return nil }
            defer { s.next += 1 }
            return s.next
        }
        guard let seq else { throw RemoteWorkerError("node \(node) is not connected") }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await Task.sleep(for: timeout)
                self.expire(seq: seq, reason: "did not answer within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<WorkerReply, any Error>) in
                let closed: String? = state.withLock { s in
                    if s.closed == nil { s.waiters[seq] = c }
                    return s.closed
                }
                if let closed {
                    c.resume(throwing: RemoteWorkerError("node \(node): \(closed)"))
                    return
                }
                send(.request(seq: seq, r))
            }
        }
    }

    /// Fails the request `seq` if it still waits.
    private func expire(seq: UInt64, reason: String) {
        state.withLock { $0.waiters.removeValue(forKey: seq) }?.resume(throwing: RemoteWorkerError("node \(node) \(reason)"))
    }

    /// Hands a worker's `reply` to the request waiting for it (unknown seqs are dropped).
    public func deliver(seq: UInt64, reply: WorkerReply) {
        state.withLock { $0.waiters.removeValue(forKey: seq) }?.resume(returning: reply)
    }

    /// Why the session ended (the first `close` reason), nil while it is open.
    public var closedReason: String? { state.withLock { $0.closed } }

    /// Fails every waiting request and refuses new ones; ends the session with `reason`.
    public func close(reason: String) {
        let waiters: [CheckedContinuation<WorkerReply, any Error>] = state.withLock { s in
            if s.closed == nil { s.closed = reason }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(throwing: RemoteWorkerError("node \(node): \(reason)")) }
        onClose(reason)
    }
}
