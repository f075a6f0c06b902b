// WorkflowAction.swift — what the planner decides and the reports of what happened outside, and
// the reducer that applies both to a WorkflowState.

import AegisProtocol

/// An input file to copy before an instance starts: `file` of the output of the placement
/// `source` (the producer's last attempt), to `path` in the working directory.
public struct InputCopy: Equatable, Sendable {
    public var source: PlacementIdentity
    public var file: String
    public var path: String

    public init(source: PlacementIdentity, file: String, path: String) {
        self.source = source
        self.file = file
        self.path = path
    }
}

/// One decision of the planner. The engine persists the state after `apply` of the actions of a
/// plan before performing the effects of `start` and `stop`.
public enum WorkflowAction: Equatable, Sendable {
    /// Submit the placement `identity` running `spec` (templates resolved), after copying `inputs`.
    case start(PlacementIdentity, spec: WorkloadSpec, inputs: [InputCopy])
    /// Kill the running placement.
    case stop(PlacementIdentity, StopReason)
    /// Start `attempt` of the instance at `at` (ms since the epoch).
    case scheduleRetry(InstanceKey, attempt: Int, at: Milliseconds)
    /// Skip the instance, or a whole step (item nil on a fan-out step).
    case skip(InstanceKey, SkipReason)
    /// Fail the instance for good, or a whole step (item nil on a fan-out step).
    case fail(InstanceKey, FailureReason)
    /// Cancel an instance that is not running (or a whole fan-out step not yet expanded).
    case cancel(InstanceKey)
    /// Fix a fan-out's items (one instance each).
    case expand(step: String, items: [String])
    case awaitApproval(step: String)
    /// Stop the main steps (the workflow's timeout).
    case stopWorkflow(StopReason)
    /// The main steps are done with `mainOutcome`; the onExit steps run.
    case runExitHandlers(mainOutcome: WorkflowPhase)
    case finish(WorkflowPhase)
}

/// What happened outside the planner.
public enum WorkflowReport: Equatable, Sendable {
    /// The placement ended; `outputs` holds the files of `Workflow.outputsToRead` that could be read.
    case finished(PlacementIdentity, AttemptOutcome, outputs: [String: String])
    case approved(step: String)
    case rejected(step: String)
    /// `aegis workflow cancel`.
    case cancel
}

extension WorkflowState {
    /// Applies a planner action at `now`.
    public mutating func apply(_ action: WorkflowAction, at now: Milliseconds) {
        switch action {
        case .start(let id, _, _):
            update(id.key) {
                $0.phase = .running
                $0.attempt = id.attempt
                $0.startedAt = now
                $0.firstStartedAt = $0.firstStartedAt ?? now
                $0.retryAt = nil
                $0.outputs = [:]
            }
        case .stop(let id, let reason):
            update(id.key) { $0.stopRequested = reason }
        case .scheduleRetry(let key, _, let at):
            update(key) {
                $0.phase = .retryWaiting
                $0.retryAt = at
            }
        case .skip(let key, let reason):
            settle(key, .skipped(reason), at: now) {
                $0.phase = .skipped
                $0.skip = reason
            }
        case .fail(let key, let reason):
            settle(key, .failed(reason), at: now) {
                $0.phase = .failed
                $0.failure = reason
            }
        case .cancel(let key):
            settle(key, .cancelled, at: now) { $0.phase = .cancelled }
        case .expand(let step, let items):
            steps[step]?.items = items
            steps[step]?.instances = items.map { _ in InstanceState() }
        case .awaitApproval(let step):
            update(InstanceKey(step: step)) {
                $0.phase = .waitingApproval
                $0.startedAt = now
            }
        case .stopWorkflow(let reason):
            stopping = reason
        case .runExitHandlers(let outcome):
            mainOutcome = outcome
        case .finish(let phase):
            self.phase = phase
            finishedAt = now
        }
    }

    /// Records a report at `now`. Returns false, changing nothing, for a report that does not fit
    /// the state: a placement that is not the instance's running attempt (a duplicate or stale
    /// report), an approval of a step that is not waiting, a cancel of a workflow not running.
    @discardableResult
    public mutating func record(_ report: WorkflowReport, at now: Milliseconds) -> Bool {
        switch report {
        case .finished(let id, let outcome, let outputs):
            guard let inst = instance(id.key), inst.phase == .running, inst.attempt == id.attempt else { return false }
            update(id.key) {
                $0.finishedAt = now
                $0.lastOutcome = outcome
                $0.outputs = outputs
                if outcome == .exited(0) {
                    $0.phase = .succeeded
                } else if $0.stopRequested == .stepTimeout {
                    $0.phase = .failed
                    $0.failure = .stepTimedOut
                } else if $0.stopRequested == .workflowTimeout {
                    $0.phase = .failed
                    $0.failure = .workflowTimedOut
                } else if $0.stopRequested == .cancelled {
                    $0.phase = .cancelled
                } else {
                    $0.phase = .attemptFailed
                }
            }
            return true
        case .approved(let step), .rejected(let step):
            let key = InstanceKey(step: step)
            guard instance(key)?.phase == .waitingApproval else { return false }
            update(key) {
                $0.finishedAt = now
                if case .approved = report {
                    $0.phase = .succeeded
                } else {
                    $0.phase = .failed
                    $0.failure = .rejected
                }
            }
            return true
        case .cancel:
            guard phase == .running, stopping == nil, mainOutcome == nil else { return false }
            stopping = .cancelled
            return true
        }
    }

    mutating func update(_ key: InstanceKey, _ body: (inout InstanceState) -> Void) {
        let i = key.item ?? 0
        guard let s = steps[key.step], s.instances.indices.contains(i) else { return }
        body(&steps[key.step]!.instances[i])
    }

    /// An instance, or (item nil on a step without instances yet) the step as a whole.
    mutating func settle(_ key: InstanceKey, _ settlement: StepSettlement, at now: Milliseconds, _ body: (inout InstanceState) -> Void) {
        guard let s = steps[key.step] else { return }
        if key.item == nil && s.instances.isEmpty {
            steps[key.step]!.settled = settlement
            return
        }
        update(key) {
            body(&$0)
            $0.finishedAt = now
        }
    }
}
