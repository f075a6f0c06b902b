// WorkerLink.swift — how the controller reaches a worker. In a hybrid node this is a direct call
// into the in-process worker; the multi-node issue carries the same calls over the worker's own
// outbound connection.
import AegisProtocol

public protocol WorkerLink: Sendable {
    /// Starts a placed workload (its spec, generation and assigned GPUs).
    func start(_ workload: Workload, uid: UInt32, gpus: [GPUDevice]) async
    /// Stops it: SIGTERM, then SIGKILL after a grace period. Its exit is reported as an event.
    func cancel(id: String, generation: Int64) async
    /// Removes the ended sandbox (its final state is recorded). Logs and outputs stay.
    func release(id: String, generation: Int64) async
    /// A local file holding the workload's stdout or stderr history, if this worker has it.
    func logPath(id: String, stream: LogStream) -> String?
    /// Relative paths of the output files.
    func outputs(id: String, outputDir: String) -> [String]
    /// One output file's bytes. Throws when missing or outside the output directory.
    func readOutput(id: String, outputDir: String, path: String) throws -> [UInt8]
    /// Re-adopts what survived a restart; reports ended and lost workloads as events.
    func reconcile(active: [(id: String, generation: Int64)]) async
}
