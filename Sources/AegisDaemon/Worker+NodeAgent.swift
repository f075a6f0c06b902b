// Worker+NodeAgent.swift — the Worker as the agent a controller session drives (AegisNodeLink
// knows only the NodeAgent protocol, so it links no sandbox runtime).
import AegisNode
import AegisNodeLink
import AegisProtocol
import AegisSystem
import AegisSandbox
import Foundation

extension Worker: NodeAgent {
    public func start(workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        await submit(Assignment(workload: workload, uid: uid, gpus: gpus))
    }

    public func readLog(workloadID: String, stream: LogStream, offset: Int64, maxBytes: Int) -> AgentLogChunk? {
        let chunk: CappedLogChunk? = readLog(workloadID: workloadID, stream: stream, offset: offset, maxBytes: maxBytes)
        return chunk.map { AgentLogChunk(bytes: $0.bytes, start: $0.start, size: $0.size) }
    }

    public func leaseAcknowledged(sentAtNs: Int64) throws {
        try renewLease(sentAtNs: sentAtNs)
    }

    /// Running sandboxes, MemAvailable (bytes) and the 1-minute load average (thousandths).
    public func liveCapacity() -> LiveCapacity {
        let load = ProcFS.loadAverage1m()
        return LiveCapacity(
            runningAgents: runningSandboxes, memoryAvailableBytes: ProcFS.memoryAvailableBytes(),
            loadMillis: load.map { Int64($0 * 1000) })
    }
}
