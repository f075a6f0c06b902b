// WorkflowState.swift — a workflow run as a value: each step instance's phase, attempts and
// result. Changed only by `apply` (the planner's actions) and `record` (what happened outside);
// the engine persists it, and the planner reads it.

import AegisProtocol

/// Milliseconds since the Unix epoch (wall clock of the controller).
public typealias Milliseconds = Int64

/// One instance of a step: the step itself, or item `item` (0-based) of its fan-out.
public struct InstanceKey: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var step: String
    public var item: Int?

    public init(step: String, item: Int? = nil) {
        self.step = step
        self.item = item
    }

    public static func < (a: Self, b: Self) -> Bool { (a.step, a.item ?? -1) < (b.step, b.item ?? -1) }
    public var description: String { item.map { "\(step)[\($0)]" } ?? step }
}

/// The deterministic identity of one attempt of one instance: the placement identity of
/// exactly-once starts. Submitting the same identity twice must adopt the first placement.
public struct PlacementIdentity: Hashable, Codable, Sendable, CustomStringConvertible {
    public var workflowID: String
    public var key: InstanceKey
    /// 1-based.
    public var attempt: Int

    public init(workflowID: String, key: InstanceKey, attempt: Int) {
        self.workflowID = workflowID
        self.key = key
        self.attempt = attempt
    }

    /// `WORKFLOW/STEP/ITEM/ATTEMPT`, ITEM `-` without fan-out: `wf-7/work/3/2`, `wf-7/plan/-/1`.
    public var description: String { "\(workflowID)/\(key.step)/\(key.item.map(String.init) ?? "-")/\(attempt)" }
}

/// How an attempt ended, as the engine reports it.
public enum AttemptOutcome: Codable, Equatable, Sendable {
    case exited(Int32)
    case oomKilled
    /// The agent's own `timeout` elapsed.
    case timedOut
    /// It could not be started or run (the message says why).
    case error(String)
    /// Its node was lost.
    case lost
    /// Killed on the workflow's request (`stop`).
    case stopped

    /// The `retry.on` kind of a failed attempt; nil for a success or a requested stop.
    public var retryKind: RetryOn? {
        switch self {
        case .exited(0), .stopped: return nil
        case .exited, .timedOut: return .failure
        case .oomKilled: return .oom
        case .error: return .error
        case .lost: return .lost
        }
    }

    public var exitCode: Int32? { if case .exited(let c) = self { return c } else { return nil } }
}

/// Why an instance (or a whole step) failed.
public enum FailureReason: Codable, Equatable, Sendable {
    /// The last attempt failed and no retry was left or allowed.
    case attempt(AttemptOutcome)
    case stepTimedOut
    case workflowTimedOut
    case rejected
    case approvalTimedOut
    /// An output a template, `from` or `withOutput` reads is missing or too large.
    case outputUnavailable(step: String, file: String)
    /// `withOutput`'s file is not a list, or too long a one.
    case badFanOut(String)
    /// `when:` could not be decided.
    case condition(String)
}

/// Why an instance (or a whole step) was skipped.
public enum SkipReason: Codable, Equatable, Sendable {
    case conditionFalse
    case dependencyFailed(String)
    /// A template or `when:` reads a step that has no result (skipped, or ended without an exit code).
    case noResult(String)
    /// Another item of the fan-out failed; items not yet running are not started.
    case fanOutFailed
}

/// Why the workflow stops a running agent.
public enum StopReason: String, Codable, Sendable {
    case cancelled, stepTimeout, workflowTimeout
}

public struct InstanceState: Codable, Equatable, Sendable {
    public var phase: InstancePhase = .pending
    /// Attempts started so far (the running or last one's number).
    public var attempt = 0
    public var firstStartedAt: Milliseconds?
    /// The current attempt's start, or when an approval began waiting.
    public var startedAt: Milliseconds?
    public var finishedAt: Milliseconds?
    public var retryAt: Milliseconds?
    public var lastOutcome: AttemptOutcome?
    /// The last attempt's outputs the engine read (`Workflow.outputsToRead`), file → text.
    public var outputs: [String: String] = [:]
    public var failure: FailureReason?
    public var skip: SkipReason?
    public var stopRequested: StopReason?
    /// Attempts made before the workflow's last `aegis workflow retry` (nil: none): `retry.limit`
    /// and back-off count the attempts after them.
    public var priorAttempts: Int?

    public init() {}

    /// Attempts of this run of the workflow (after its last `aegis workflow retry`).
    public var attemptsThisRun: Int { attempt - (priorAttempts ?? 0) }
}

/// A step settled as a whole, before (or without) instances of its own.
public enum StepSettlement: Codable, Equatable, Sendable {
    case skipped(SkipReason)
    case failed(FailureReason)
    case cancelled
}

public struct StepState: Codable, Equatable, Sendable {
    /// Fan-out items once expanded; nil for a step without fan-out or before expansion.
    public var items: [String]?
    /// One instance for a step without fan-out; one per item after expansion; none before.
    public var instances: [InstanceState]
    public var settled: StepSettlement?

    public init(fanOut: Bool) {
        instances = fanOut ? [] : [InstanceState()]
    }
}

/// A workflow run.
public struct WorkflowState: Codable, Equatable, Sendable {
    public var workflowID: String
    public var startedAt: Milliseconds
    public var phase: WorkflowPhase = .running
    public var steps: [String: StepState]
    /// Set once the main steps are being stopped (cancel, workflow timeout).
    public var stopping: StopReason?
    /// Set when the main steps are done and the onExit steps run: the outcome of the main steps.
    public var mainOutcome: WorkflowPhase?
    public var finishedAt: Milliseconds?
    /// `aegis workflow retry`s so far (nil: none).
    public var retries: Int?
    /// When the last retry began (ms since the epoch): the workflow's `timeout` runs from it.
    public var retriedAt: Milliseconds?

    /// Where the workflow's `timeout` runs from: its start, or its last retry.
    public var runStartedAt: Milliseconds { retriedAt ?? startedAt }

    public init(workflow: Workflow, id: String, startedAt: Milliseconds) {
        workflowID = id
        self.startedAt = startedAt
        var steps: [String: StepState] = [:]
        for s in workflow.allSteps { steps[s.name] = StepState(fanOut: s.fanOut != nil) }
        self.steps = steps
    }

    public func identity(_ key: InstanceKey, attempt: Int) -> PlacementIdentity {
        PlacementIdentity(workflowID: workflowID, key: key, attempt: attempt)
    }

    public func instance(_ key: InstanceKey) -> InstanceState? {
        guard let s = steps[key.step] else { return nil }
        let i = key.item ?? 0
        return s.instances.indices.contains(i) ? s.instances[i] : nil
    }

    /// The step as a whole: settled, or from its instances (a fan-out: running while any item is
    /// not done; then failed if any failed, cancelled if any was, skipped if all were, else
    /// succeeded — an empty list succeeds).
    public func phase(of step: String) -> InstancePhase {
        guard let s = steps[step] else { return .pending }
        switch s.settled {
        case .skipped: return .skipped
        case .failed: return .failed
        case .cancelled: return .cancelled
        case nil: break
        }
        if s.items == nil { return s.instances.first?.phase ?? .pending }
        let phases = s.instances.map(\.phase)
        if phases.contains(where: { !$0.isTerminal }) {
            return phases.allSatisfy { $0 == .pending } ? .pending : .running
        }
        if phases.contains(.failed) { return .failed }
        if phases.contains(.cancelled) { return .cancelled }
        if !phases.isEmpty && phases.allSatisfy({ $0 == .skipped }) { return .skipped }
        return .succeeded
    }
}
