// WorkflowEngine+Loop.swift — the engine's loop: resume every unfinished workflow from the store,
// then follow the controller's workload changes and the runs' timers (retries, deadlines).
import AegisControl
import AegisProtocol
import AegisStore

extension WorkflowEngine {
    /// Longest sleep between two looks at the timers.
    static let tick: Duration = .milliseconds(250)

    /// Runs until cancelled (`WorkflowService` cancels it on graceful shutdown).
    public func run() async {
        let changes = await controller.workloadChanges()
        await resumeAll()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await w in changes { await self.changed(w) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: await self.sleepUntilDue())
                    await self.wakeDue()
                }
            }
            // Each `advanceSoon` as a task of this group (ends when the loop is cancelled).
            for await id in advanceRequests {
                group.addTask { await self.runScheduled(id) }
            }
        }
    }

    /// Resumes every unfinished workflow of the store (on start, and runs whose write failed).
    func resumeAll() async {
        let records: [WorkflowRecord]
        do { records = try await store.listWorkflows(tenant: nil, phases: [.running]) } catch {
            logger.error("reading unfinished workflows failed", metadata: ["error": "\(error)"])
            return
        }
        for record in records where runs[record.id] == nil { await resume(record) }
    }

    /// Takes a stored run up again: each running instance's placement is found by its identity —
    /// adopted while it runs, reported when it ended, submitted (under that identity) when it
    /// never was — then the run is planned.
    func resume(_ record: WorkflowRecord) async {
        let run: WorkflowRun
        do { run = try WorkflowRun(record: record) } catch {
            logger.error("a stored workflow cannot be resumed", metadata: ["workflow": "\(record.id)", "error": "\(error)"])
            return
        }
        runs[record.id] = run
        reload.remove(record.id)
        logger.info("workflow resumed", metadata: ["workflow": "\(record.id)"])
        var starts: [WorkflowAction] = []
        for (key, inst) in run.instanceKeys where inst.phase == .running {
            let identity = run.state.identity(key, attempt: inst.attempt)
            if let id = await workload(of: identity, tenant: record.tenant) {
                if let w = try? await store.workload(id: id), w.state.isFinal {
                    await ended(w)
                } else if inst.stopRequested != nil {
                    await stop(identity, caller: run.caller)
                }
            } else if inst.stopRequested != nil {
                queued[record.id, default: []].append(.finished(identity, .stopped, outputs: [:]))
            } else if let start = WorkflowPlanner.start(run.workflow, run.state, key, attempt: inst.attempt), case .start = start {
                starts.append(start)
            } else {
                queued[record.id, default: []].append(.finished(identity, .error("cannot be started again after a restart"), outputs: [:]))
            }
        }
        await perform(starts, of: run)
        await advance(record.id)
    }

    /// How long to sleep before the next timer is due (at most `tick`).
    func sleepUntilDue() -> Duration {
        guard let next = wakeAt.values.min() else { return Self.tick }
        return min(Self.tick, .milliseconds(max(0, next - Self.now())))
    }

    /// Advances every run whose timer is due; reads again the runs whose write failed.
    func wakeDue() async {
        let now = Self.now()
        for (id, at) in wakeAt where at <= now {
            wakeAt[id] = nil
            await advance(id)
        }
        if !reload.isEmpty { await resumeAll() }
    }
}
