// NodeAgent.swift — what the controller session drives on a node: the worker (AegisNode's Worker
// conforms in AegisDaemon) today; an edge daemon's agent later. The session links neither the
// sandbox runtime nor the controller: it only needs this.
import AegisProtocol

/// A log read: bytes from a logical offset and the log's logical size (offsets count the bytes a
/// history cap dropped too).
public struct AgentLogChunk: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Logical offset of `bytes[0]`, bytes.
    public var start: Int64
    /// Logical size of the whole log, bytes.
    public var size: Int64

    public init(bytes: [UInt8], start: Int64, size: Int64) {
        self.bytes = bytes
        self.start = start
        self.size = size
    }
}

/// The node's side of the node protocol's commands, requests and lease hooks.
public protocol NodeAgent: Sendable {
    /// Starts a placement and returns once its start was attempted (the outcome comes as an event:
    /// started, or exited with the failure). May block a thread for the sandbox's set-up; the
    /// session awaits it on its command task, never on the read loop.
    func start(workload: Workload, uid: UInt32, gpus: [GPUDevice]) async
    /// Stops a placement: SIGTERM, SIGKILL after the agent's grace. Its exit comes as an event.
    func cancel(workloadID: String, generation: Int64)
    /// Removes an ended placement's sandbox (its logs and outputs stay).
    func release(workloadID: String, generation: Int64)
    /// The placements the controller says this node holds: re-adopts the running ones, reports
    /// ended and lost ones, kills every other copy (a stale generation).
    func reconcile(active: [(id: String, generation: Int64)])
    /// Up to `maxBytes` of a log from logical `offset` (bytes); nil when there is no such log.
    func readLog(workloadID: String, stream: LogStream, offset: Int64, maxBytes: Int) -> AgentLogChunk?
    /// Relative paths of the placement's output files.
    func outputs(workloadID: String, outputDir: String) -> [String]
    /// Up to `maxBytes` of an output file from `offset` (bytes), and the file's size in bytes.
    /// - Throws: the agent's error for a missing file or a path outside `outputDir`.
    func readOutput(
        workloadID: String, outputDir: String, path: String, offset: Int64, maxBytes: Int
    ) throws -> (bytes: [UInt8], size: Int64)
    /// The controller acknowledged a lease renewal sent at `sentAtNs` (CLOCK_REALTIME, ns): the
    /// self-fencing lease may be extended to that moment.
    func leaseAcknowledged(sentAtNs: Int64) throws
    /// The longest self-fencing grace any of this node's sandboxes carries, ms; nil without a lease.
    var longestLeaseGraceMs: Int? { get }
    /// What a renewal reports: running agents, available memory, load.
    func liveCapacity() -> LiveCapacity
}
