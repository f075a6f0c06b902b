// WorkflowEngine+Placements.swift — the engine's effects on the controller: a step placement
// submitted under its identity (input files copied from earlier steps' outputs), stopped, and
// its end turned into a report (outcome and small outputs).
import AegisControl
import AegisProtocol
import AegisStore

extension WorkflowEngine {
    /// Performs the starts (concurrently) and stops of a persisted plan.
    func perform(_ actions: [WorkflowAction], of run: WorkflowRun) async {
        var starts: [(PlacementIdentity, WorkloadSpec, [InputCopy])] = []
        for action in actions {
            switch action {
            case .start(let identity, let spec, let inputs): starts.append((identity, spec, inputs))
            case .stop(let identity, _): await stop(identity, caller: run.caller)
            default: continue
            }
        }
        guard !starts.isEmpty else { return }
        let caller = run.caller
        // At most `concurrentStarts` at once: each may hold its input files (up to the input cap).
        await withTaskGroup(of: Void.self) { group in
            for (n, (identity, spec, inputs)) in starts.enumerated() {
                if n >= Self.concurrentStarts { await group.next() }
                group.addTask { await self.start(identity, spec: spec, inputs: inputs, caller: caller) }
            }
        }
    }

    /// Placements submitted at once by one plan (a fan-out's are submitted this many at a time).
    static let concurrentStarts = 16

    /// Submits one placement under its identity; a failure to submit ends the attempt as an error.
    func start(_ identity: PlacementIdentity, spec: WorkloadSpec, inputs: [InputCopy], caller: Caller) async {
        var spec = spec
        do {
            // Each file is read only when it fits what is left of the input cap (never read whole
            // first: an output may be up to a gibibyte).
            var left = controller.maxInputBytes
            for copy in inputs {
                let bytes = try await output(of: copy.source, file: copy.file, caller: caller, limit: left)
                left -= bytes.count
                spec.inputs[copy.path] = bytes
            }
            let submitted = try await controller.submitSpec(spec, caller: caller, idempotencyKey: identity.description)
            track(submitted.workload.id, identity)
            if submitted.replayed {
                logger.info("placement adopted", metadata: ["identity": "\(identity)", "workload": "\(submitted.workload.id)"])
            }
            // It may have ended before it was tracked: the store has its latest state.
            if let now = try? await store.workload(id: submitted.workload.id), now.state.isFinal { await ended(now) }
        } catch {
            logger.warning("step placement not started", metadata: ["identity": "\(identity)", "error": "\(error)"])
            queued[identity.workflowID, default: []].append(.finished(identity, .error("\(error)"), outputs: [:]))
            await advance(identity.workflowID)
        }
    }

    /// Asks the controller to stop the placement (its end comes back as a workload change).
    func stop(_ identity: PlacementIdentity, caller: Caller) async {
        guard let id = await workload(of: identity, tenant: caller.tenant) else { return }
        do { _ = try await controller.cancel(id: id, caller: caller) } catch {
            logger.warning("stopping a step placement failed", metadata: ["identity": "\(identity)", "error": "\(error)"])
        }
    }

    func track(_ workload: String, _ identity: PlacementIdentity) {
        identities[workload] = identity
        workloads[identity] = workload
    }

    /// The workload of a placement: tracked, or found by its Idempotency-Key.
    func workload(of identity: PlacementIdentity, tenant: String) async -> String? {
        if let id = workloads[identity] { return id }
        guard let w = try? await store.workload(tenant: tenant, idempotencyKey: identity.description) else { return nil }
        track(w.id, identity)
        return w.id
    }

    /// One output file of an earlier placement (the tenant's own: the caller is its tenant).
    /// - Parameter limit: bytes; a larger file is refused before it is read.
    func output(of identity: PlacementIdentity, file: String, caller: Caller, limit: Int) async throws(ControllerError) -> [UInt8] {
        guard let id = await workload(of: identity, tenant: caller.tenant) else {
            throw .notFound("no workload for \(identity)")
        }
        return try await controller.output(id: id, path: file, caller: caller, limit: limit)
    }

    /// A workload changed: when it is a tracked placement that ended, its report.
    func changed(_ w: Workload) async {
        guard w.state.isFinal, identities[w.id] != nil else { return }
        await ended(w)
    }

    /// Reports a placement's end with its outcome and the outputs later steps read.
    func ended(_ w: Workload) async {
        guard let identity = identities.removeValue(forKey: w.id) else { return }
        workloads[identity] = nil
        guard let run = runs[identity.workflowID] else { return }
        var outputs: [String: String] = [:]
        if w.state != .lost {
            for file in run.workflow.outputsToRead(of: identity.key.step) {
                do {
                    let bytes = try await controller.output(
                        id: w.id, path: file, caller: run.caller, limit: WorkflowLimits.maxReadOutputBytes)
                    outputs[file] = String(decoding: bytes, as: UTF8.self)
                } catch {
                    logger.notice("output not read", metadata: ["workload": "\(w.id)", "file": "\(file)", "error": "\(error)"])
                }
            }
        }
        queued[identity.workflowID, default: []].append(.finished(identity, Self.outcome(of: w), outputs: outputs))
        advanceSoon(identity.workflowID)
    }

    /// Advances the run in a task of its own rather than in the caller's (the loop following
    /// workload changes): the ends that arrive while it persists the state are applied together
    /// in its next round — one write of the state for many ends of a fan-out, not one each.
    func advanceSoon(_ id: String) {
        if advancing.contains(id) {
            dirty.insert(id)
            return
        }
        guard scheduled.insert(id).inserted else { return }
        advanceRequested.yield(id)
    }

    func runScheduled(_ id: String) async {
        scheduled.remove(id)
        await advance(id)
    }

    /// How an ended workload's attempt ended, as the planner counts it.
    static func outcome(of w: Workload) -> AttemptOutcome {
        switch w.state {
        case .succeeded: return .exited(w.exitCode ?? 0)
        case .cancelled: return .stopped
        case .lost: return .lost
        default:
            if w.oomKilled { return .oomKilled }
            if let t = w.spec.timeoutSeconds, w.reason == "timeout of \(t)s reached" { return .timedOut }
            if let code = w.exitCode, code > 0 { return .exited(code) }
            if let signal = w.signal, signal > 0 { return .exited(128 + signal) }
            return .error(w.reason ?? "failed")
        }
    }
}
