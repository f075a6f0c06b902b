// Worker+NodeAgent.swift — the Worker as the agent a controller session drives (AegisNodeLink
// knows only the NodeAgent protocol, so it links no sandbox runtime).
import AegisNode
import AegisNodeLink
import AegisProtocol
import AegisSandbox
import Foundation

extension Worker: NodeAgent {
    public func start(workload: Workload, uid: UInt32, gpus: [GPUDevice]) async {
        await startOffPool(Assignment(workload: workload, uid: uid, gpus: gpus))
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
        var available: Int64?
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int64(line.split(separator: " ").dropFirst().first ?? "") {
            available = kb * 1024
        }
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
        return LiveCapacity(runningAgents: runningSandboxes, memoryAvailableBytes: available, loadMillis: load.map { Int64($0 * 1000) })
    }
}
