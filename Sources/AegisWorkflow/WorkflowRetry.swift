// WorkflowRetry.swift — `aegis workflow retry`: a failed or cancelled run runs again from where it
// ended. Succeeded instances stay (they never run again); failed, skipped and cancelled ones go
// back to pending and start as their next attempt, so their placement identities (and with them
// the Idempotency-Keys) are new.

extension WorkflowState {
    /// Whether `retry` would take the run up again: it ended failed or cancelled.
    public var isRetryable: Bool { phase == .failed || phase == .cancelled }

    /// Takes an ended run up again at `now`: every step (main and onExit) that did not succeed is
    /// reset — a fan-out keeps its items and its succeeded items, a step settled before it had
    /// instances loses its settlement — and the workflow runs again, its `timeout` counted from now.
    /// Each reset instance keeps its attempt number (its next start is attempt + 1) and counts
    /// `retry.limit` afresh from there; its step `timeout` runs from its next start.
    /// - Returns: the instances (a step without instances yet: its key without item) that will run
    ///   again; empty, changing nothing, when the run is not `isRetryable`.
    @discardableResult
    public mutating func retry(_ workflow: Workflow, at now: Milliseconds) -> [InstanceKey] {
        guard isRetryable else { return [] }
        var reset: [InstanceKey] = []
        for step in workflow.allSteps {
            guard var s = steps[step.name], self.phase(of: step.name) != .succeeded else { continue }
            if s.settled != nil {
                s.settled = nil
                reset.append(InstanceKey(step: step.name))
            }
            for (i, inst) in s.instances.enumerated() where inst.phase != .succeeded {
                var fresh = InstanceState()
                fresh.attempt = inst.attempt
                fresh.priorAttempts = inst.attempt
                s.instances[i] = fresh
                reset.append(InstanceKey(step: step.name, item: s.items == nil ? nil : i))
            }
            steps[step.name] = s
        }
        phase = .running
        stopping = nil
        mainOutcome = nil
        finishedAt = nil
        retries = (retries ?? 0) + 1
        retriedAt = now
        return reset
    }
}

extension Workflow {
    /// The main steps in an order where each comes after its dependencies (manifest order where
    /// the DAG allows), then the onExit steps in manifest order.
    public var dagOrder: [Step] {
        var placed: Set<String> = []
        var out: [Step] = []
        var left = steps
        while !left.isEmpty {
            guard let i = left.firstIndex(where: { $0.dependencies.allSatisfy(placed.contains) }) else {
                out += left  // a cycle: refused at load, so never here
                break
            }
            placed.insert(left[i].name)
            out.append(left.remove(at: i))
        }
        return out + onExit
    }
}
