// Controller+Scheduling.swift — the one scheduling loop. Wake-ups (a submission, an exit, a node
// registering, a capacity change, an uncordon, a restart back-off ending) ask for a pass; passes
// never overlap: a wake-up during a pass makes the loop run exactly one more pass after it, however
// many wake-ups came. The pass runs in the task of the caller that found the loop idle (the loop's
// current driver); callers that asked meanwhile wait for the pass after it (or, from the worker
// event path, do not wait at all).
import AegisProtocol
import AegisScheduler
import AegisStore
import Logging

/// What the scheduling loop is doing (held by the controller actor).
struct SchedulingLoopState {
    /// A pass is running (someone is driving the loop).
    var running = false
    /// A wake-up came during the current pass: run one more.
    var rerun = false
    /// Callers waiting for a pass that begins after they asked.
    var waiting: [CheckedContinuation<Void, Never>] = []
    /// Passes that ended (completed or given up after retries).
    var passes: UInt64 = 0
    /// Consecutive passes that failed on the store; a later wake-up (or the timer service) retries.
    var failures = 0
    /// When a failed pass should be tried again (Unix ms), nil when the last pass succeeded.
    var retryAtMs: Int64?
}

/// A store update found the workload no longer as its caller read it (cancelled, ended, or placed
/// again meanwhile): the update is not applied, and the other change stands.
struct WorkloadChangedSincePass: Error {}

extension Controller {
    /// Attempts of one pass when the store fails, with back-off `storeRetryBase`·2^n between them.
    static let passAttempts = 3
    static let storeRetryBase = Duration.milliseconds(50)

    /// Asks the scheduling loop for a pass and waits until a pass that began after this call has
    /// ended (so a submission returns placed when it can be placed). Never runs two passes at once.
    public func schedule() async {
        if scheduling.running {
            scheduling.rerun = true
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in scheduling.waiting.append(c) }
            return
        }
        await driveSchedulingLoop()
    }

    /// Asks for a pass without waiting for the current one to end: the worker event path (an exit,
    /// a capacity change) must not wait behind a pass that awaits that worker.
    func wakeScheduler() async {
        if scheduling.running {
            scheduling.rerun = true
            return
        }
        await driveSchedulingLoop()
    }

    /// Passes that ended since the controller started (each wake-up coalesced into at most one).
    public var schedulingPasses: UInt64 { scheduling.passes }

    /// When a pass that failed on the store is due again (Unix ms); nil when none failed.
    public var schedulingRetryAtMs: Int64? { scheduling.retryAtMs }

    private func driveSchedulingLoop() async {
        scheduling.running = true
        repeat {
            scheduling.rerun = false
            let served = scheduling.waiting
            scheduling.waiting = []
            await passRetryingStoreFailures()
            scheduling.passes += 1
            for c in served { c.resume() }
        } while scheduling.rerun
        scheduling.running = false
    }

    /// One pass; a store failure is logged and the pass retried with back-off, up to
    /// `passAttempts`. After that the failure is left to `RestartBackoffTimer` (which retries at
    /// `schedulingRetryAtMs`) and to the next wake-up: a failing store is never "nothing to do".
    private func passRetryingStoreFailures() async {
        for attempt in 1...Self.passAttempts {
            do {
                let started = ContinuousClock.now
                try await schedulingPass()
                metrics?.recordSchedulingPass(since: started)
                scheduling.failures = 0
                scheduling.retryAtMs = nil
                return
            } catch {
                scheduling.failures += 1
                let delay = Self.storeRetryBase * (1 << min(scheduling.failures - 1, 6))
                logger.error(
                    "scheduling pass failed",
                    metadata: [
                        "error": "\(error)", "attempt": "\(attempt)",
                        "retry-in-ms": "\(delay.milliseconds)",
                    ])
                scheduling.retryAtMs = ControlStore.nowMs() + delay.milliseconds
                if attempt < Self.passAttempts { try? await Task.sleep(for: delay) }
            }
        }
    }

    /// One scheduling pass over the pending workloads, oldest first: quota, then placement. The
    /// pass decides every placement in memory, commits them all in one store transaction through
    /// `placementWriter` (each only if the workload is still pending at the generation read), and
    /// then starts the committed ones. Tenants and their active usage are read once per pass and
    /// updated as workloads are placed (exact, since no other pass runs meanwhile).
    /// - Throws: store failures (the loop retries the pass; no reservation is kept then).
    func schedulingPass() async throws {
        let pending = try await store.listWorkloads(states: [.pending])
        guard !pending.isEmpty else { return recordPending([], placed: []) }
        let tenants = Dictionary(try await store.listTenants().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Usage matters only to a tenant with a quota: only theirs is read (a pass stays cheap with
        // thousands of agents running for tenants without one).
        var usage: [String: Allocation] = [:]
        for name in Set(pending.map(\.spec.tenant)) where tenants[name].map({ Self.limits($0.quota) }) == true {
            for a in try await store.listWorkloads(tenant: name, states: [.scheduled, .running]) { add(a, to: &usage) }
        }
        let now = ControlStore.nowMs()
        var decisions: [Decision] = []
        for w in pending {
            // In restart back-off: left for a later pass (RestartBackoffTimer wakes one when it is due).
            guard (w.nextAttemptAtMs ?? 0) <= now else { continue }
            guard let tenant = tenants[w.spec.tenant] else {
                await setPending(w, "tenant \(w.spec.tenant) does not exist")
                continue
            }
            if let reason = quotaCheck(
                tenantUsage: usage[tenant.name] ?? Allocation(), quota: tenant.quota,
                request: w.spec.resources, tenant: tenant.name, defaults: scheduler.config.defaults)
            {
                await setPending(w, reason)
                continue
            }
            switch scheduler.place(PlacementRequest(workloadID: w.id, spec: w.spec, tenant: w.spec.tenant)) {
            case let .pending(reason):
                await setPending(w, reason)
            case let .placed(node, gpus, _):
                guard let decision = decide(w, node: node, gpus: gpus, uid: tenant.uid) else { continue }
                decisions.append(decision)
                add(decision.placed, to: &usage)
            }
        }
        try await commitAndStart(decisions)
        recordPending(pending, placed: decisions)
    }

    /// A placement decided by a pass: the workload as it will be stored, and what its start needs.
    struct Decision {
        var placed: Workload
        var uid: UInt32
        var devices: [GPUDevice]
        var placement: Placement {
            Placement(
                workloadID: placed.id, node: placed.node ?? "", generation: placed.generation, gpus: placed.gpus,
                unenforcedLimits: placed.unenforcedLimits, onlyIfPending: true)
        }
    }

    /// The placement of `w` (read as pending at `w.generation`) on `node` as the next generation;
    /// nil (reservation released) when the node's worker is gone.
    func decide(_ w: Workload, node: String, gpus: [String], uid: UInt32) -> Decision? {
        guard workers[node] != nil, let info = scheduler.node(node) else {
            releaseReservation(w.id)
            return nil
        }
        var placed = w
        placed.state = .scheduled
        placed.node = node
        placed.generation += 1
        placed.gpus = gpus
        placed.reason = nil
        placed.nextAttemptAtMs = nil
        placed.unenforcedLimits = Self.unenforcedLimits(w.spec.resources, info.capabilities.isolation)
        let devices = info.capabilities.gpus.filter { gpus.contains($0.pciAddress) }
        return Decision(placed: placed, uid: uid, devices: devices)
    }

    /// Reads the decisions' inputs (they never change) in one read, commits the decisions in one
    /// transaction, then starts each committed one on its node's current worker link. When the
    /// inputs cannot be read or the commit fails, nothing is placed (reservations released; the
    /// error fails the pass, which is retried); a refused decision (cancelled or changed
    /// meanwhile) releases its reservation and starts nothing. Between the commit and its start a
    /// placement sits in `starting`; any other stored change of it (a cancel, an event, a requeue)
    /// takes it off, and then it is not started.
    func commitAndStart(_ decisions: [Decision]) async throws {
        guard !decisions.isEmpty else { return }
        var ready = decisions
        do {
            let inputs = try await store.inputs(ids: decisions.map(\.placed.id))
            for i in ready.indices { ready[i].placed.spec.inputs = inputs[ready[i].placed.id] ?? [:] }
        } catch {
            for d in decisions { releaseReservation(d.placed.id) }
            throw error
        }
        let refused: Set<String>
        do {
            refused = Set(try await placementWriter.commit(ready.map(\.placement)))
        } catch {
            for d in ready { releaseReservation(d.placed.id) }
            throw error
        }
        var committed: [Decision] = []
        for d in ready {
            if refused.contains(d.placed.id) {
                releaseReservation(d.placed.id)
                continue
            }
            committed.append(d)
            starting[d.placed.id] = d.placed.generation
            pendingReasons[d.placed.id] = nil
            var stored = d.placed
            stored.spec.inputs = [:]
            notify(stored)
        }
        metrics?.recordPlacements(committed.count)
        for d in committed {
            // Still the placement this pass made, and its node still connected (otherwise its
            // next registration reconciles it, or a Down node's rescheduling moves it).
            guard starting.removeValue(forKey: d.placed.id) == d.placed.generation,
                let link = d.placed.node.flatMap({ workers[$0] })
            else { continue }
            metrics?.recordDispatch(workload: d.placed.id, generation: d.placed.generation)
            await link.start(d.placed, uid: d.uid, gpus: d.devices)
        }
    }

    /// Gives a workload's reservation back to the scheduler (and counts it: see `releases`).
    func releaseReservation(_ id: String) {
        releases &+= 1
        _ = scheduler.release(workload: id)
    }

    /// Throws `WorkloadChangedSincePass` unless `current` (the stored workload, inside an update) is
    /// still at `w`'s generation, has not ended and was not requeued since `w` was read.
    static func expectUnchanged(_ current: Workload, since w: Workload) throws {
        guard current.generation == w.generation, !current.state.isFinal else { throw WorkloadChangedSincePass() }
        // Requeued (pending again at the same generation): a report of the old copy changes nothing.
        if current.state == .pending && w.state != .pending { throw WorkloadChangedSincePass() }
    }

    /// Whether a quota limits anything (nil fields are unlimited).
    static func limits(_ q: Quota) -> Bool {
        q.cpuMillis != nil || q.memoryBytes != nil || q.gpus != nil || q.runningAgents != nil
    }

    func setPending(_ w: Workload, _ reason: String) async {
        guard pendingReasons[w.id] != reason else { return }
        let generation = w.generation
        do {
            let updated = try await store.update(id: w.id, event: .init(.pending, reason)) {
                guard $0.state == .pending, $0.generation == generation else { throw WorkloadChangedSincePass() }
                $0.reason = reason
            }
            pendingReasons[w.id] = reason
            notify(updated)
        } catch is WorkloadChangedSincePass {
            return
        } catch {
            logger.error("recording a pending reason failed", metadata: ["workload": "\(w.id)", "error": "\(error)"])
        }
    }

    /// What an active workload counts against its tenant's quota (cpu, memory, GPUs, one agent, and
    /// one egress agent in network mode egress); unset cpu/memory count as the scheduler's default
    /// reservation.
    func add(_ w: Workload, to usage: inout [String: Allocation]) {
        var u = usage[w.spec.tenant] ?? Allocation()
        // Saturating: a workload stored before its values were bounded must not trap the pass.
        u.cpuMillis = u.cpuMillis.saturatingAdding(w.spec.resources.cpuMillis ?? scheduler.config.defaults.cpuMillis)
        u.memoryBytes = u.memoryBytes.saturatingAdding(w.spec.resources.memoryBytes ?? scheduler.config.defaults.memoryBytes)
        u.gpus += w.gpus
        u.agents = u.agents.saturatingAdding(1)
        if w.spec.network == .egress { u.egressAgents = (u.egressAgents ?? 0) + 1 }
        usage[w.spec.tenant] = u
    }

    /// Limits the node cannot enforce but accepts (started with --allow-unenforced-limits).
    static func unenforcedLimits(_ r: ResourceRequest, _ iso: IsolationFeatures) -> [String] {
        guard iso.allowUnenforcedLimits else { return [] }
        var out: [String] = []
        if r.memoryBytes != nil && !iso.cgroupControllers.contains("memory") { out.append("memory") }
        if r.cpuMillis != nil && !iso.cgroupControllers.contains("cpu") { out.append("cpu") }
        if r.pids != nil && !iso.cgroupControllers.contains("pids") { out.append("pids") }
        return out
    }
}

private extension Duration {
    /// Whole milliseconds (truncated).
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
