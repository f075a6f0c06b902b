// PodRecord.swift — the pod's state on disk (state.json), rewritten atomically at every change, so
// that a runner restarted (or killed -9 and started again) finds the infra and every container it
// started and re-adopts them instead of starting second copies; `aegis pod ls|describe` read it.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// The pod phase (Kubernetes' PodPhase, plus the runner's own stopping states).
public enum PodPhase: String, Codable, Sendable, Equatable {
    /// Infra or init containers starting.
    case pending = "Pending"
    /// Every init container done; main containers started.
    case running = "Running"
    /// restartPolicy Never/OnFailure and every main container ended (successfully).
    case succeeded = "Succeeded"
    case failed = "Failed"
    /// `aegis pod stop` or SIGTERM: containers being stopped in order.
    case terminating = "Terminating"
    /// Stopped by request; nothing of it runs.
    case stopped = "Stopped"

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .stopped }
}

/// A container's state (Kubernetes' ContainerState: waiting, running, terminated).
public enum ContainerPhase: String, Codable, Sendable, Equatable {
    case waiting = "Waiting"
    case running = "Running"
    case terminated = "Terminated"
}

/// One container's record.
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var name: String
    /// Its current (or last) attempt; sandbox id `PodPaths.sandboxID(name, attempt:)`. 0: never
    /// started.
    public var attempt: Int
    /// Restarts so far (attempts after the first).
    public var restartCount: Int
    public var phase: ContainerPhase
    /// Why it waits or ended ("CrashLoopBackOff", "Completed", "Error", "OOMKilled",
    /// "LivenessProbeFailed", "StartupProbeFailed", "ImagePullBackOff", "CreateContainerError").
    public var reason: String?
    /// The error message of a failed start.
    public var message: String?
    /// `startupProbe` passed (or the container has none and is running).
    public var started: Bool
    /// `readinessProbe` passing (or none and running).
    public var ready: Bool
    public var lastExitCode: Int32?
    /// Unix ms.
    public var startedAtMs: Int64?
    public var finishedAtMs: Int64?
    /// Restart back-off: not started again before this Unix ms.
    public var notBeforeMs: Int64?
    /// The back-off delay the next failure doubles, seconds (kubelet: 10 s to 300 s).
    public var backoffSeconds: Int

    public init(name: String) {
        self.name = name
        attempt = 0
        restartCount = 0
        phase = .waiting
        started = false
        ready = false
        backoffSeconds = 0
    }
}

/// state.json.
public struct PodRecord: Codable, Sendable, Equatable {
    public var name: String
    public var phase: PodPhase
    public var message: String?
    /// The runner process serving the pod (pid and /proc start time, so a reused pid is told apart).
    public var runnerPid: Int32
    public var runnerStartTime: UInt64
    /// The infra sandbox's generation: 1 for the first, +1 each time the pod is restarted because
    /// the infra died.
    public var infraGeneration: Int
    /// Unix ms.
    public var createdAtMs: Int64
    public var containers: [ContainerRecord]
    /// Lines of the runner's own history ("infra died: restarting the pod", stop order).
    public var events: [String]

    public init(name: String, runnerPid: Int32, runnerStartTime: UInt64, createdAtMs: Int64, containers: [String]) {
        self.name = name
        phase = .pending
        self.runnerPid = runnerPid
        self.runnerStartTime = runnerStartTime
        infraGeneration = 0
        self.createdAtMs = createdAtMs
        self.containers = containers.map(ContainerRecord.init(name:))
        events = []
    }

    /// Events kept at most (the oldest go first).
    public static let maxEvents = 200

    public subscript(container name: String) -> ContainerRecord? {
        get { containers.first { $0.name == name } }
        set {
            guard let newValue, let i = containers.firstIndex(where: { $0.name == name }) else { return }
            containers[i] = newValue
        }
    }

    /// Reads state.json; nil when there is none.
    /// - Throws: `PodError` when it exists but does not decode.
    public static func load(_ paths: PodPaths) throws(PodError) -> PodRecord? {
        guard access(paths.state, F_OK) == 0 else { return nil }
        do {
            return try JSONDecoder().decode(PodRecord.self, from: Data(try FileSystem.readBytes(paths.state, limit: 4 << 20)))
        } catch {
            throw PodError(.state, "\(paths.state): unreadable pod state: \(error)", underlying: error)
        }
    }

    /// Writes state.json atomically (temp file, fsync, rename).
    public func save(_ paths: PodPaths) throws(PodError) {
        let bytes: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            bytes = Array(try encoder.encode(self))
        } catch {
            throw PodError(.state, "encode pod state: \(error)", underlying: error)
        }
        do { try FileSystem.writeAtomically(paths.state, bytes, mode: 0o600) } catch {
            throw PodError(.state, "write \(paths.state): \(error)", underlying: error)
        }
    }
}
