// WorkflowPlanner.swift — the pure planner: given the workflow, its state and the time, the actions
// to take now and when to look again. Deterministic: steps in manifest order, items by index.

import AegisProtocol

/// Plans a workflow run.
///
/// Rules:
/// - A step waits for its dependencies to be done. A dependency that failed, was cancelled, or
///   was skipped because of a failure skips it (`dependencyFailed`); one skipped otherwise
///   (condition false, no result) counts as done.
/// - Then `when:` is evaluated: false skips (`conditionFalse`); reading a step without a result
///   skips (`noResult`); an undecidable condition fails the step.
/// - A fan-out is expanded (its items fixed in the state), then its items start in order, at most
///   `parallelism` of the step and of the workflow running at once. Once an item fails for good,
///   items not running are skipped (`fanOutFailed`); the step fails when the rest are done.
/// - A failed attempt is retried when `retry.on` names its kind and retries are left, after
///   `backoff.delayMilliseconds(retry: n)`; else the instance fails.
/// - A step's `timeout` runs from its first attempt's start (an approval's from its wait): the
///   agent is stopped and the step fails without retry. The workflow's `timeout` stops the main
///   steps and fails the workflow; `aegis workflow cancel` stops them and cancels it.
/// - When the main steps are done, the onExit steps run (`{{workflow.status}}` is the outcome of
///   the main steps); the workflow then ends with that outcome, or failed if an onExit step failed.
public enum WorkflowPlanner {
    public struct Plan: Equatable, Sendable {
        public var actions: [WorkflowAction] = []
        /// When a retry or a deadline is due, if nothing happens before (ms since the epoch).
        public var wakeAt: Milliseconds?

        mutating func wake(_ t: Milliseconds) { wakeAt = min(wakeAt ?? t, t) }
    }

    /// The actions to take at `now`. Applying them (`WorkflowState.apply`) may enable more: call
    /// again until the plan is empty, or use `settle`.
    public static func next(_ workflow: Workflow, _ state: WorkflowState, now: Milliseconds) -> Plan {
        var plan = Plan()
        guard state.phase == .running else { return plan }
        let inExit = state.mainOutcome != nil
        if !inExit, state.stopping == nil, let t = workflow.timeoutSeconds {
            let deadline = state.runStartedAt + Milliseconds(t) * 1000
            if now >= deadline {
                plan.actions.append(.stopWorkflow(.workflowTimeout))
                return plan
            }
            plan.wake(deadline)
        }
        let stage = inExit ? workflow.onExit : workflow.steps
        if !inExit, let reason = state.stopping {
            stopAll(stage, state, reason: reason, into: &plan)
        } else {
            var running = runningCount(workflow, state)
            for step in stage { StepPlanner(workflow: workflow, state: state, step: step, now: now).plan(into: &plan, running: &running) }
        }
        if plan.actions.isEmpty, stage.allSatisfy({ state.phase(of: $0.name).isTerminal }) {
            let outcome = stageOutcome(stage, state)
            if inExit {
                plan.actions.append(.finish(state.mainOutcome == .succeeded && outcome == .failed ? .failed : state.mainOutcome!))
            } else if !workflow.onExit.isEmpty {
                plan.actions.append(.runExitHandlers(mainOutcome: outcome))
            } else {
                plan.actions.append(.finish(outcome))
            }
        }
        return plan
    }

    /// Plans and applies until nothing more is to be done at `now`; returns every action in order
    /// (the engine persists `state`, then performs the `start`s and `stop`s) and the next wake-up.
    public static func settle(_ workflow: Workflow, _ state: inout WorkflowState, now: Milliseconds) -> Plan {
        var all = Plan()
        while true {
            let plan = next(workflow, state, now: now)
            for a in plan.actions { state.apply(a, at: now) }
            all.actions += plan.actions
            guard !plan.actions.isEmpty else {
                all.wakeAt = plan.wakeAt
                return all
            }
        }
    }

    /// The outcome of the main steps or of the onExit steps.
    static func stageOutcome(_ stage: [Step], _ state: WorkflowState) -> WorkflowPhase {
        if state.mainOutcome == nil, let stop = state.stopping { return stop == .cancelled ? .cancelled : .failed }
        for s in stage {
            switch state.phase(of: s.name) {
            case .failed: return .failed
            case .cancelled: return .cancelled
            default: continue
            }
        }
        return .succeeded
    }

    static func stopAll(_ stage: [Step], _ state: WorkflowState, reason: StopReason, into plan: inout Plan) {
        for step in stage {
            guard let s = state.steps[step.name], s.settled == nil else { continue }
            if s.instances.isEmpty {
                plan.actions.append(.cancel(InstanceKey(step: step.name)))
                continue
            }
            for (i, inst) in s.instances.enumerated() where !inst.phase.isTerminal {
                let key = InstanceKey(step: step.name, item: s.items == nil ? nil : i)
                if inst.phase == .running {
                    if inst.stopRequested == nil { plan.actions.append(.stop(state.identity(key, attempt: inst.attempt), reason)) }
                } else {
                    plan.actions.append(.cancel(key))
                }
            }
        }
    }

    static func runningCount(_ workflow: Workflow, _ state: WorkflowState) -> Int {
        state.steps.values.reduce(0) { n, s in n + s.instances.filter { $0.phase == .running }.count }
    }

    /// Each step's phase for display: `ready` for a pending step whose dependencies are done and
    /// that is not yet running (waiting for parallelism or for the engine).
    public static func displayPhases(_ workflow: Workflow, _ state: WorkflowState) -> [String: InstancePhase] {
        var out: [String: InstancePhase] = [:]
        for step in workflow.allSteps {
            var p = state.phase(of: step.name)
            let stageOpen = step.isExitHandler == (state.mainOutcome != nil)
            if p == .pending, stageOpen, state.phase == .running,
                step.dependencies.allSatisfy({ state.phase(of: $0) == .succeeded || state.phase(of: $0) == .skipped })
            {
                p = .ready
            }
            out[step.name] = p
        }
        return out
    }
}
