// StepPlanner.swift — the planner's work on one step: dependencies, `when:`, fan-out expansion,
// approvals, starts within parallelism, retries, timeouts. The rules are on `WorkflowPlanner`.

import AegisProtocol

struct StepPlanner {
    let workflow: Workflow
    let state: WorkflowState
    let step: Step
    let now: Milliseconds

    var stepKey: InstanceKey { InstanceKey(step: step.name) }

    func plan(into plan: inout WorkflowPlanner.Plan, running: inout Int) {
        guard let s = state.steps[step.name], s.settled == nil, !state.phase(of: step.name).isTerminal else { return }
        let untouched = s.instances.allSatisfy { $0.phase == .pending } && s.items == nil
        if untouched {
            guard let decision = gate() else { return }  // dependencies not done
            if let decision {
                plan.actions.append(decision)
                return
            }
        }
        if case .approval = step.kind {
            approval(s.instances[0], into: &plan)
            return
        }
        if s.items == nil, let fanOut = step.fanOut {
            plan.actions.append(expand(fanOut))
            return
        }
        instances(s, into: &plan, running: &running)
    }

    /// Before a step starts: nil while a dependency is not done; `.some(nil)` to go ahead; or the
    /// skip or failure that settles it.
    func gate() -> WorkflowAction?? {
        for dep in step.dependencies {
            let phase = state.phase(of: dep)
            guard phase.isTerminal else { return nil }
            if phase == .failed || phase == .cancelled || isFailureSkip(dep) { return .some(.skip(stepKey, .dependencyFailed(dep))) }
        }
        guard let when = step.when else { return .some(nil) }
        let scope = TemplateScope(workflow: workflow, state: state)
        do {
            let taken = try when.evaluate { r throws(ResolveError) in try scope.value(r) }
            return .some(taken ? nil : .skip(stepKey, .conditionFalse))
        } catch let e as ResolveError {
            return .some(resolveFailure(e, stepKey))
        } catch let e as ConditionError {
            return .some(.fail(stepKey, .condition(e.message)))
        } catch {
            return .some(.fail(stepKey, .condition("\(error)")))
        }
    }

    func isFailureSkip(_ step: String) -> Bool {
        guard let s = state.steps[step] else { return false }
        if case .skipped(.dependencyFailed) = s.settled { return true }
        return s.items == nil && s.instances.first.map { if case .dependencyFailed = $0.skip { true } else { false } } == true
    }

    func resolveFailure(_ e: ResolveError, _ key: InstanceKey) -> WorkflowAction {
        switch e {
        case .noResult(let step): return .skip(key, .noResult(step))
        case .outputUnavailable(let step, let file): return .fail(key, .outputUnavailable(step: step, file: file))
        }
    }

    func approval(_ inst: InstanceState, into plan: inout WorkflowPlanner.Plan) {
        switch inst.phase {
        case .pending:
            plan.actions.append(.awaitApproval(step: step.name))
        case .waitingApproval:
            guard let t = step.timeoutSeconds, let since = inst.startedAt else { return }
            let deadline = since + Milliseconds(t) * 1000
            if now >= deadline { plan.actions.append(.fail(stepKey, .approvalTimedOut)) } else { plan.wake(deadline) }
        default:
            return
        }
    }

    func expand(_ fanOut: FanOut) -> WorkflowAction {
        switch fanOut {
        case .items(let items):
            return .expand(step: step.name, items: items)
        case .output(let ref):
            let scope = TemplateScope(workflow: workflow, state: state)
            let text: String
            do { text = try scope.value(.output(step: ref.step, file: ref.path)) } catch { return resolveFailure(error, stepKey) }
            guard let items = FanOutItems.parse(text) else {
                return .fail(stepKey, .badFanOut("\(ref.step)'s \(ref.path) starts with [ but is not a list of strings"))
            }
            guard items.count <= WorkflowLimits.maxFanOutItems else {
                return .fail(
                    stepKey, .badFanOut("\(items.count) items in \(ref.step)'s \(ref.path), over \(WorkflowLimits.maxFanOutItems)"))
            }
            return .expand(step: step.name, items: items)
        }
    }

    func instances(_ s: StepState, into plan: inout WorkflowPlanner.Plan, running: inout Int) {
        var stepRunning = s.instances.filter { $0.phase == .running }.count
        // An item failed for good, before or in this plan: items not running don't start.
        let itemFailed = s.instances.enumerated().contains { i, inst in
            if inst.phase == .failed { return true }
            guard inst.phase == .attemptFailed, case .fail = retryOrFail(InstanceKey(step: step.name, item: i), inst) else { return false }
            return true
        }
        for (i, inst) in s.instances.enumerated() {
            let key = InstanceKey(step: step.name, item: s.items == nil ? nil : i)
            if itemFailed, s.items != nil, [.pending, .retryWaiting].contains(inst.phase) {
                plan.actions.append(.skip(key, .fanOutFailed))
                continue
            }
            if let deadline = deadline(inst), inst.phase == .running || inst.phase == .retryWaiting {
                if now >= deadline {
                    if inst.phase == .running {
                        if inst.stopRequested == nil {
                            plan.actions.append(.stop(state.identity(key, attempt: inst.attempt), .stepTimeout))
                        }
                    } else {
                        plan.actions.append(.fail(key, .stepTimedOut))
                    }
                    continue
                }
                plan.wake(deadline)
            }
            switch inst.phase {
            case .pending, .retryWaiting:
                if let at = inst.retryAt, inst.phase == .retryWaiting, now < at {
                    plan.wake(at)
                    continue
                }
                guard hasRoom(running: running, stepRunning: stepRunning) else { continue }
                let action = start(key, attempt: inst.attempt + 1, item: s.items?[i])
                plan.actions.append(action)
                if case .start = action {
                    running += 1
                    stepRunning += 1
                }
            case .attemptFailed:
                plan.actions.append(retryOrFail(key, inst))
            default:
                continue
            }
        }
    }

    func deadline(_ inst: InstanceState) -> Milliseconds? {
        guard let t = step.timeoutSeconds, let first = inst.firstStartedAt else { return nil }
        return first + Milliseconds(t) * 1000
    }

    func hasRoom(running: Int, stepRunning: Int) -> Bool {
        if let p = workflow.parallelism, running >= p { return false }
        if let p = step.parallelism, stepRunning >= p { return false }
        return true
    }

    /// The start of `attempt`, with templates resolved and the inputs to copy; or the skip or
    /// failure a template that cannot be resolved causes.
    func start(_ key: InstanceKey, attempt: Int, item: String?) -> WorkflowAction {
        guard case .agent(let spec, let scriptPath) = step.kind else { return .fail(key, .condition("not an agent step")) }
        let scope = TemplateScope(workflow: workflow, state: state, item: item)
        let resolved: WorkloadSpec
        do { resolved = try scope.resolve(spec, scriptPath: scriptPath) } catch { return resolveFailure(error, key) }
        var copies: [InputCopy] = []
        for input in step.inputs {
            let producer = InstanceKey(step: input.from.step)
            guard let p = state.instance(producer), p.attempt > 0, state.phase(of: producer.step) == .succeeded else {
                return .skip(key, .noResult(input.from.step))
            }
            copies.append(InputCopy(source: state.identity(producer, attempt: p.attempt), file: input.from.path, path: input.path))
        }
        return .start(state.identity(key, attempt: attempt), spec: resolved, inputs: copies)
    }

    func retryOrFail(_ key: InstanceKey, _ inst: InstanceState) -> WorkflowAction {
        let outcome = inst.lastOutcome ?? .error("no outcome recorded")
        guard let policy = step.retry, let kind = outcome.retryKind, policy.on.contains(kind), inst.attemptsThisRun <= policy.limit
        else {
            return .fail(key, .attempt(outcome))
        }
        let delay = policy.backoff.delayMilliseconds(retry: inst.attemptsThisRun)
        return .scheduleRetry(key, attempt: inst.attempt + 1, at: now + delay)
    }
}

extension WorkflowPlanner {
    /// The `start` of a running instance's attempt, computed again from the state (after a restart
    /// of the engine, for an attempt whose placement was never submitted): the same spec and
    /// inputs as when it was first planned, since the steps it reads have not changed since.
    static func start(_ workflow: Workflow, _ state: WorkflowState, _ key: InstanceKey, attempt: Int) -> WorkflowAction? {
        guard let step = workflow.step(key.step) else { return nil }
        let item = key.item.flatMap { i in state.steps[key.step]?.items.flatMap { $0.indices.contains(i) ? $0[i] : nil } }
        return StepPlanner(workflow: workflow, state: state, step: step, now: 0).start(key, attempt: attempt, item: item)
    }
}
