// WorkerLink.swift — how the controller reaches a worker. In a hybrid node this is a direct call
// into the in-process worker (LocalWorkerLink in the node runtime); for a remote worker it is
// RemoteWorkerLink, which carries the same calls over the worker's own outbound session.
import AegisProtocol

/// Bytes of a log read from an offset, and the log's size at the time of the read. Offsets and
/// sizes are logical: they count every byte the agent wrote, also those the history cap dropped.
public struct LogChunk: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Logical offset of `bytes[0]`: beyond the offset asked for when the bytes between were
    /// dropped (history cap).
    public var start: Int64
    /// Logical size of the whole log, bytes. Smaller than the offset asked for only when the log
    /// was replaced: the reader starts again from 0.
    public var size: Int64

    public init(bytes: [UInt8], start: Int64, size: Int64) {
        self.bytes = bytes
        self.start = start
        self.size = size
    }
}

public protocol WorkerLink: Sendable {
    /// Starts a placed workload (its spec, generation and assigned GPUs).
    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async
    /// Stops it: SIGTERM, then SIGKILL after a grace period. Its exit is reported as an event.
    func cancel(id: String, generation: Int64) async
    /// Removes the ended sandbox (its final state is recorded). Logs and outputs stay.
    func release(id: String, generation: Int64) async
    /// Up to `maxBytes` of the workload's stdout or stderr history from `offset`; nil when the
    /// worker has no such log or can't be asked (disconnected).
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk?
    /// Relative paths of the output files (empty when the worker can't be asked).
    func outputs(id: String, outputDir: String) async -> [String]
    /// One output file's bytes. Throws when missing, outside the output directory, or the worker
    /// can't be asked.
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8]
    /// One output file's bytes when it has at most `limit` bytes; else `OutputTooLarge`, found
    /// before the file is read whole.
    func readOutput(id: String, outputDir: String, path: String, limit: Int) async throws -> [UInt8]
    /// The placements the worker should hold: it re-adopts those still running, reports ended and
    /// lost ones as events, and kills any other copy (a stale generation).
    func reconcile(active: [(id: String, generation: Int64)]) async
}

extension WorkerLink {
    /// Reads the whole file, then checks it (links that run nothing and hold no files).
    public func readOutput(id: String, outputDir: String, path: String, limit: Int) async throws -> [UInt8] {
        let bytes = try await readOutput(id: id, outputDir: outputDir, path: path)
        guard bytes.count <= limit else { throw OutputTooLarge(path: path, size: Int64(bytes.count), limit: limit) }
        return bytes
    }
}

/// An output file larger than its reader accepts.
public struct OutputTooLarge: Error, CustomStringConvertible {
    public let path: String
    /// Bytes.
    public let size: Int64
    /// Bytes.
    public let limit: Int
    public init(path: String, size: Int64, limit: Int) {
        self.path = path
        self.size = size
        self.limit = limit
    }
    public var description: String { "output \(path) is \(size) bytes, more than the \(limit) bytes this read takes" }
}
