// LocalWorkerLink.swift — the in-process link from a hybrid node's controller to its own worker.
import AegisControl
import AegisNode
import AegisProtocol
import AegisSandbox
import Dispatch

struct LocalWorkerLink: WorkerLink {
    let worker: Worker
    /// Sandbox creation blocks (fork, namespaces, mounts): it runs here, off the controller's tasks
    /// and the API's requests (a submission or a shutdown never waits for one; a create that never
    /// returns holds one thread of this queue, not the node), as a remote worker's does; its
    /// outcome comes back as a worker event.
    static let launches = DispatchQueue(label: "aegis.worker.launch", attributes: .concurrent)
    /// Log and output reads block on the disk (and an output read of an agent that just ended
    /// first copies its volume out): they run here, not on a Swift concurrency thread.
    static let files = DispatchQueue(label: "aegis.worker.files", attributes: .concurrent)

    /// Runs a blocking worker call on `files` and resumes the caller with its result.
    private static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            files.async { continuation.resume(with: Result { try body() }) }
        }
    }

    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        let worker = worker
        let assignment = Assignment(workload: workload, uid: uid, gpus: gpus)
        // One with an image waits for its pull in the node's image service, not on a thread here.
        if workload.spec.image != nil { return await worker.submit(assignment) }
        Self.launches.async { worker.start(assignment) }
    }
    func cancel(id: String, generation: Int64) async { worker.cancel(workloadID: id, generation: generation) }
    func release(id: String, generation: Int64) async { worker.release(workloadID: id, generation: generation) }
    func readLog(id: String, stream: LogStream, offset: Int64, maxBytes: Int) async -> LogChunk? {
        let worker = worker
        let chunk = try? await Self.offPool { () -> CappedLogChunk? in
            worker.readLog(workloadID: id, stream: stream, offset: offset, maxBytes: maxBytes)
        }
        return chunk.map { LogChunk(bytes: $0.bytes, start: $0.start, size: $0.size) }
    }
    func outputs(id: String, outputDir: String) async -> [String] {
        let worker = worker
        return (try? await Self.offPool { worker.outputs(workloadID: id, outputDir: outputDir) }) ?? []
    }
    func readOutput(id: String, outputDir: String, path: String) async throws -> [UInt8] {
        let worker = worker
        return try await Self.offPool { try worker.readOutput(workloadID: id, outputDir: outputDir, path: path) }
    }
    func readOutput(id: String, outputDir: String, path: String, limit: Int) async throws -> [UInt8] {
        let worker = worker
        let read = try await Self.offPool {
            let r = try worker.readOutput(workloadID: id, outputDir: outputDir, path: path, offset: 0, maxBytes: limit + 1)
            return ReadOutput(bytes: r.bytes, size: r.size)
        }
        guard read.size <= Int64(limit), read.bytes.count <= limit else {
            throw OutputTooLarge(path: path, size: max(read.size, Int64(read.bytes.count)), limit: limit)
        }
        return read.bytes
    }
    func reconcile(active: [(id: String, generation: Int64)]) async { worker.reconcile(active: active) }
}

/// One bounded read of an output file (bytes read, the file's size).
private struct ReadOutput: Sendable {
    let bytes: [UInt8]
    let size: Int64
}
