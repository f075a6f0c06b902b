// WorkflowEngine.swift — runs workflows on the controller, durably: each run's state lives in the
// store (`WorkflowRecord`), and the engine drives the `Controller` through its public API only
// (submit, workload changes, outputs, cancel).
//
// Exactly-once starts: the planner's `start` is applied and the state persisted BEFORE the step's
// placement is submitted, under the Idempotency-Key `PlacementIdentity.description`. A crash
// between the two leaves a running instance without a workload; on resume it is submitted again
// under the same key, and the controller returns the first workload if there was one.
//
// One writer per run: every change of a run's state (a report, the planner) happens in `advance`,
// between awaits; reports from outside are queued and applied by it.
import AegisControl
import AegisManifest
import AegisProtocol
import AegisStore
import Logging

/// The workflow engine of one controller. Start its loop with `WorkflowService`.
public actor WorkflowEngine {
    let controller: Controller
    let store: any ControlStateStore
    let logger: Logger
    /// Unfinished runs by id.
    var runs: [String: WorkflowRun] = [:]
    /// Reports not yet applied, by run.
    var queued: [String: [WorkflowReport]] = [:]
    /// Runs `advance` is working on, and those to go round again when it is done.
    var advancing: Set<String> = []
    var dirty: Set<String> = []
    /// Callers waiting for a run's queued reports to be persisted.
    var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// When each run wants to be looked at again (retries, deadlines), ms since the epoch.
    var wakeAt: [String: Milliseconds] = [:]
    /// Placements submitted and not yet ended: workload id → identity, and back.
    var identities: [String: PlacementIdentity] = [:]
    var workloads: [PlacementIdentity: String] = [:]
    /// Runs whose state could not be persisted: read again from the store at the next tick.
    var reload: Set<String> = []
    /// Runs an `advanceSoon` task will advance.
    var scheduled: Set<String> = []
    /// Runs a `retry` call is taking up again (one at a time).
    var retrying: Set<String> = []
    /// Runs to advance in a task of their own, started by `run()`'s task group (which owns them).
    let advanceRequests: AsyncStream<String>
    let advanceRequested: AsyncStream<String>.Continuation

    /// - Parameter store: the controller's store (the engine keeps its runs there).
    public init(controller: Controller, store: any ControlStateStore, logger: Logger = Logger(label: "aegis.workflow")) {
        self.controller = controller
        self.store = store
        self.logger = logger
        (advanceRequests, advanceRequested) = AsyncStream<String>.makeStream()
    }

    static func now() -> Milliseconds { ControlStore.nowMs() }

    // MARK: API

    /// `POST /v1/workflows`: parses and checks the manifest with its `-p` values (nothing is stored
    /// when it does not pass), stores the run, and starts its first steps.
    /// - Throws: 400 naming the field and line of the first problem; 403 for another tenant.
    public func submit(_ request: WorkflowSubmitRequest, caller: Caller) async throws(ControllerError) -> WorkflowInfo {
        let file = request.manifestFile ?? "workflow"
        let workflow: Workflow
        do {
            workflow = try WorkflowParser.parse(request.manifest, file: file, overrides: request.parameters, defaultTenant: caller.tenant)
        } catch let e as ManifestError {
            throw .invalid(e.description, field: e.path.isEmpty ? nil : e.path, underlying: e)
        } catch {
            throw .invalid("\(error)", underlying: error)
        }
        let now = Self.now()
        let id = ControlStore.newWorkflowID(nowMs: now)
        let state = WorkflowState(workflow: workflow, id: id, startedAt: now)
        let record: WorkflowRecord
        do {
            record = WorkflowRecord(
                id: id, tenant: caller.tenant, name: workflow.name, manifest: request.manifest, manifestFile: file,
                parameters: request.parameters, state: try WorkflowStateCoding.encode(state), createdAtMs: now)
            try await store.insertWorkflow(record)
        } catch {
            throw Self.storeFailure(error, "store workflow \(id)")
        }
        logger.info("workflow submitted", metadata: ["workflow": "\(id)", "tenant": "\(caller.tenant)", "name": "\(workflow.name)"])
        runs[id] = WorkflowRun(record: record, workflow: workflow, state: state)
        await advance(id)
        return try await current(id, caller: caller)
    }

    /// `GET /v1/workflows`: the caller's workflows, oldest first.
    public func list(caller: Caller, phases: Set<WorkflowPhase>? = nil) async throws(ControllerError) -> [WorkflowInfo] {
        let records: [WorkflowRecord]
        do { records = try await store.listWorkflows(tenant: caller.tenant, phases: phases) } catch {
            throw Self.storeFailure(error, "list workflows")
        }
        return records.map { r in
            if let live = runs[r.id] { return live.info }
            let state = try? WorkflowStateCoding.decode(r.state)
            var counts: [String: Int] = [:]
            for s in state?.steps.values ?? [:].values { for i in s.instances { counts[i.phase.rawValue, default: 0] += 1 } }
            return WorkflowInfo(
                id: r.id, tenant: r.tenant, name: r.name, phase: r.phase, createdAtMs: r.createdAtMs, finishedAtMs: r.finishedAtMs,
                instances: counts)
        }
    }

    /// `GET /v1/workflows/{id}`: the run, each instance with its last workload, the DAG drawn.
    public func describe(id: String, caller: Caller) async throws(ControllerError) -> WorkflowDetail {
        let run = try await run(id, caller: caller)
        var instances: [WorkflowInstanceInfo] = []
        for (key, inst) in run.instanceKeys {
            var workload: String?
            if inst.attempt > 0 {
                let identity = run.state.identity(key, attempt: inst.attempt)
                workload = workloads[identity]
                if workload == nil {
                    workload = try? await store.workload(tenant: run.record.tenant, idempotencyKey: identity.description)?.id
                }
            }
            instances.append(
                WorkflowInstanceInfo(
                    step: key.step, item: key.item, phase: inst.phase, attempt: inst.attempt, workload: workload, detail: inst.detail))
        }
        return WorkflowDetail(
            workflow: run.info, parameters: Dictionary(uniqueKeysWithValues: run.workflow.parameters.map { ($0.name, $0.value) }),
            instances: instances, text: WorkflowRender.text(run.workflow, run.state), dot: WorkflowRender.dot(run.workflow, run.state))
    }

    /// `POST /v1/workflows/{id}/cancel`: stops the running steps and cancels the rest (onExit steps
    /// still run). A finished workflow is returned as it is.
    public func cancel(id: String, caller: Caller) async throws(ControllerError) -> WorkflowInfo {
        let run = try await run(id, caller: caller)
        guard runs[id] != nil else { return run.info }
        await report(.cancel, to: id)
        return try await current(id, caller: caller)
    }

    /// `POST /v1/workflows/{id}/approve/{step}` (or reject): settles an approval step that waits.
    /// - Throws: 404 for an unknown workflow or step; 409 when the step is not waiting.
    public func decide(id: String, step: String, approve: Bool, caller: Caller) async throws(ControllerError) -> WorkflowInfo {
        let run = try await run(id, caller: caller)
        guard let s = run.workflow.step(step), case .approval = s.kind else {
            throw .notFound("workflow \(id) has no approval step \"\(step)\"")
        }
        let phase = run.state.phase(of: step)
        guard runs[id] != nil, phase == .waitingApproval else {
            throw .conflict("step \(step) of workflow \(id) is not waiting for approval (it is \(phase.rawValue))")
        }
        await report(approve ? .approved(step: step) : .rejected(step: step), to: id)
        return try await current(id, caller: caller)
    }

    /// `POST /v1/workflows/{id}/retry`: runs a failed or cancelled workflow again — its failed,
    /// skipped and cancelled steps as new attempts (new placement identities); succeeded steps
    /// stay and never run again (`WorkflowState.retry`).
    /// - Throws: 404 (also another tenant's); 409 unless the workflow ended failed or cancelled.
    public func retry(id: String, caller: Caller) async throws(ControllerError) -> WorkflowInfo {
        guard !retrying.contains(id) else { throw .conflict("workflow \(id) is being retried") }
        retrying.insert(id)
        defer { retrying.remove(id) }
        var run = try await run(id, caller: caller)
        guard runs[id] == nil, run.state.isRetryable else {
            throw .conflict("workflow \(id) is \(run.state.phase.rawValue): only a failed or cancelled workflow can be retried")
        }
        let now = Self.now()
        let reset = run.state.retry(run.workflow, at: now)
        do {
            try await store.updateWorkflow(
                id: id, state: try WorkflowStateCoding.encode(run.state), phase: run.state.phase, updatedAtMs: now, finishedAtMs: nil)
        } catch {
            throw Self.storeFailure(error, "store the retry of workflow \(id)")
        }
        logger.info(
            "workflow retried",
            metadata: ["workflow": "\(id)", "retry": "\(run.state.retries ?? 0)", "instances": "\(reset.count)"])
        runs[id] = run
        await advance(id)
        return try await current(id, caller: caller)
    }

    /// The run's summary as it stands now.
    func current(_ id: String, caller: Caller) async throws(ControllerError) -> WorkflowInfo {
        if let live = runs[id] { return live.info }
        return try await run(id, caller: caller).info
    }

    /// The caller's run: live, or read from the store. - Throws: 404 (also another tenant's).
    func run(_ id: String, caller: Caller) async throws(ControllerError) -> WorkflowRun {
        if let live = runs[id], live.record.tenant == caller.tenant { return live }
        let record: WorkflowRecord?
        do { record = try await store.workflow(id: id, tenant: caller.tenant) } catch {
            throw Self.storeFailure(error, "read workflow \(id)")
        }
        guard let record else { throw .notFound("workflow \(id) not found") }
        do { return try WorkflowRun(record: record) } catch { throw .internalError(underlying: error) }
    }

    static func storeFailure(_ error: any Error, _ what: String) -> ControllerError {
        if let e = error as? StoreError, e.kind == .fenced || e.kind == .unreachable {
            return .unavailable("\(what): \(e.message)", underlying: e)
        }
        return .internalError(what, underlying: error)
    }

    // MARK: the run's state

    /// Queues a report for a run and returns once it has been applied and persisted.
    func report(_ report: WorkflowReport, to id: String) async {
        queued[id, default: []].append(report)
        if advancing.contains(id) {
            dirty.insert(id)
            await withCheckedContinuation { waiters[id, default: []].append($0) }
        } else {
            await advance(id)
        }
    }

    /// Applies queued reports, plans, persists, then performs the starts and stops: again while
    /// reports came in meanwhile. Effects are performed only once the state saying so is stored.
    func advance(_ id: String) async {
        guard !advancing.contains(id) else {
            dirty.insert(id)
            return
        }
        advancing.insert(id)
        repeat {
            dirty.remove(id)
            await advanceOnce(id)
        } while dirty.contains(id)
        advancing.remove(id)
        for w in waiters.removeValue(forKey: id) ?? [] { w.resume() }
    }

    private func advanceOnce(_ id: String) async {
        guard var run = runs[id] else { return }
        let now = Self.now()
        for r in queued.removeValue(forKey: id) ?? [] { run.state.record(r, at: now) }
        let plan = WorkflowPlanner.settle(run.workflow, &run.state, now: now)
        runs[id] = run
        do {
            try await store.updateWorkflow(
                id: id, state: try WorkflowStateCoding.encode(run.state), phase: run.state.phase, updatedAtMs: now,
                finishedAtMs: run.state.finishedAt)
        } catch {
            // Nothing of this plan happens; the run is read again from the store.
            logger.error("persisting a workflow failed", metadata: ["workflow": "\(id)", "error": "\(error)"])
            runs[id] = nil
            wakeAt[id] = nil
            reload.insert(id)
            return
        }
        await perform(plan.actions, of: run)
        wakeAt[id] = plan.wakeAt
        if run.state.phase.isFinal {
            runs[id] = nil
            wakeAt[id] = nil
            logger.info("workflow ended", metadata: ["workflow": "\(id)", "phase": "\(run.state.phase.rawValue)"])
        }
    }
}
