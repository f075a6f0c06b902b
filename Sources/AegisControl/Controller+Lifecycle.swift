// Controller+Lifecycle.swift — node registration and what happens when a worker reports a start,
// an exit or a loss (final states, restart policy, releases). Scheduling: Controller+Scheduling.swift.
import AegisProtocol
import AegisScheduler
import AegisStore
import Logging

extension Controller {
    /// Registers (or re-registers after a restart) a node and its worker link, rebuilds its
    /// allocation from the workloads placed there (cpu, memory, GPUs, and one egress address per
    /// egress agent), and lets the worker reconcile them.
    public func register(node info: NodeInfo, link: any WorkerLink) async throws {
        var info = info
        let stored = try await store.upsertNode(info)
        info.cordoned = stored.cordoned
        workers[info.name] = link
        // A workload that ends while the list is read would get its reservation back below (and
        // keep it forever): read again when a reservation was released meanwhile.
        var active: [Workload] = []
        for _ in 1...5 {
            let before = releases
            active = try await store.listWorkloads(states: [.scheduled, .running], node: info.name)
            if releases == before { break }
        }
        scheduler.upsert(NodeState(info))
        let sizing = Scheduler(config: scheduler.config)
        for w in active where scheduler.reservation(for: w.id) == nil {
            let req = PlacementRequest(workloadID: w.id, spec: w.spec, tenant: w.spec.tenant)
            do {
                try scheduler.restore(workload: w.id, reservation: sizing.reservation(for: req, node: info.name, gpus: w.gpus))
            } catch {
                logger.error("cannot restore a reservation", metadata: ["workload": "\(w.id)", "error": "\(error)"])
            }
        }
        logger.info(
            "node registered",
            metadata: [
                "node": "\(info.name)", "role": "\(info.role.rawValue)",
                "active": "\(active.count)",
            ])
        // A placement the running pass has yet to start is not the worker's to know yet (it would
        // report it lost).
        await link.reconcile(active: active.filter { starting[$0.id] != $0.generation }.map { ($0.id, $0.generation) })
        // A stop asked for while the node was away (kill, drain) is asked again.
        for w in active where await stopRequested(w) { await link.cancel(id: w.id, generation: w.generation) }
        await schedule()
    }

    /// Whether a stop (kill or drain) was requested since the workload's current placement.
    func stopRequested(_ w: Workload) async -> Bool {
        guard let events = try? await store.events(workloadID: w.id),
            let placed = events.lastIndex(where: { WorkloadEventType(stored: $0.type) == .scheduled })
        else { return false }
        return events[placed...].contains { WorkloadEventType(stored: $0.type).requestsStop }
    }

    /// A worker's report. Reports about an older generation than the workload's current one are
    /// stale: the reporting worker is told to stop that copy and remove its sandbox, and nothing
    /// else changes.
    /// - Parameter node: the node that reported it (a remote worker's session); nil: the
    ///   workload's current node (the in-process worker).
    public func handle(_ event: WorkerEvent, from node: String? = nil) async {
        guard let w = try? await store.workload(id: event.workloadID) else { return }
        let link = (node ?? w.node).flatMap { workers[$0] }
        // Only the node the workload is placed on reports on it; anything else is a stale copy (or
        // a worker speaking about another node's agent, which must change nothing).
        guard event.generation == w.generation, !w.state.isFinal, node == nil || node == w.node else {
            // A stale copy (an older placement, or one that ended meanwhile): it must not run.
            if case .started = event { await link?.cancel(id: event.workloadID, generation: event.generation) }
            if event.isExit { await link?.release(id: event.workloadID, generation: event.generation) }
            return
        }
        recordDispatchOutcome(event)
        do {
            switch event {
            case let .started(_, _, pid):
                if w.state == .running { return }  // re-reported after a reconnect: already recorded
                let u = try await store.update(id: w.id, event: .init(.started, "started (pid \(pid))")) {
                    try Self.expectUnchanged($0, since: w)
                    $0.state = .running
                    $0.startedAtMs = ControlStore.nowMs()
                }
                notify(u)
                // Asked to stop (kill, drain) while it was being started: the worker may have had
                // nothing to signal yet, so ask again.
                if drains[w.id] != nil ? true : await stopRequested(w) { await link?.cancel(id: w.id, generation: w.generation) }
            case let .exited(_, generation, report):
                let recorded: Result<Void, any Error>
                do { recorded = .success(try await finish(w, report: report)) } catch { recorded = .failure(error) }
                await link?.release(id: w.id, generation: generation)  // also when recording failed
                try recorded.get()
                await wakeScheduler()
            case let .failedToStart(_, _, error):
                let u = try await store.update(id: w.id, event: .init(.failed, "failed to start: \(error)")) {
                    try Self.expectUnchanged($0, since: w)
                    $0.state = .failed
                    $0.reason = "failed to start: \(error)"
                    $0.finishedAtMs = ControlStore.nowMs()
                }
                releaseReservation(w.id)
                notify(u)
                await link?.release(id: w.id, generation: w.generation)  // whatever a cut-short create left
                await wakeScheduler()
            case let .imagePullFailed(_, _, error, retryable):
                try await imagePullFailed(w, error: error, retryable: retryable)
                await link?.release(id: w.id, generation: w.generation)
                await wakeScheduler()
            case .lost:
                let u = try await store.update(id: w.id, event: .init(.lost, "sandbox vanished without an outcome")) {
                    try Self.expectUnchanged($0, since: w)
                    $0.state = .lost
                    $0.reason = "sandbox vanished without an outcome"
                    $0.finishedAtMs = ControlStore.nowMs()
                }
                releaseReservation(w.id)
                notify(u)
                await link?.release(id: w.id, generation: w.generation)  // its leaf and state dir may remain
                await wakeScheduler()
            }
        } catch is WorkloadChangedSincePass {
            // Another path (a cancel, a Down node, a newer placement) changed it first: that one stands.
            logger.debug("worker event about a workload that changed meanwhile", metadata: ["workload": "\(w.id)"])
        } catch {
            logger.error("recording a worker event failed", metadata: ["workload": "\(w.id)", "error": "\(error)"])
        }
    }

    /// Final state from an exit report, then the restart policy.
    func finish(_ w: Workload, report r: ExitReport) async throws {
        if try await finishDrained(w, report: r) { return }
        if r.evicted == true { return try await finishEvicted(w, report: r) }
        let state: WorkloadState
        let reason: String
        if r.cancelled {
            state = .cancelled; reason = "cancelled"
        } else if r.timedOut {
            state = .failed; reason = "timeout of \(w.spec.timeoutSeconds ?? 0)s reached"
        } else if r.fenced == true {
            state = .failed; reason = "stopped by self-fencing: node \(w.node ?? "?") lost its lease"
        } else if r.oomKilled {
            state = .failed; reason = "OOM-killed (memory limit \(w.spec.resources.memoryBytes ?? 0) bytes)"
        } else if let e = r.error {
            state = .failed; reason = e
        } else if r.exitCode == 0 {
            state = .succeeded; reason = "exited with 0"
        } else if r.signal != 0 {
            state = .failed; reason = "killed by signal \(r.signal)"
        } else {
            state = .failed; reason = "exited with \(r.exitCode)"
        }

        let restart = !r.cancelled && (w.spec.restart == .always || (w.spec.restart == .onFailure && state == .failed))
        let now = ControlStore.nowMs()
        let exits = RestartBackoff.exits(previous: w.consecutiveExits ?? 0, ranMs: w.startedAtMs.map { now - $0 })
        let delay = (w.spec.restartBackoff ?? .standard).delaySeconds(afterExits: exits)
        let message = restart ? "\(reason); next attempt in \(delay)s (restart back-off)" : reason
        let u = try await store.update(id: w.id, event: .init(restart ? .restarting : WorkloadEventType(final: state) ?? .failed, message))
        {
            try Self.expectUnchanged($0, since: w)
            $0.exitCode = r.exitCode
            $0.signal = r.signal == 0 ? nil : r.signal
            $0.oomKilled = r.oomKilled
            $0.finishedAtMs = now
            if restart {
                $0.state = .pending
                $0.restarts += 1
                $0.reason = "restarting after: \(reason) (back-off \(delay)s)"
                $0.consecutiveExits = exits
                $0.nextAttemptAtMs = now + Int64(delay) * 1000
            } else {
                $0.state = state
                $0.reason = reason
            }
        }
        releaseReservation(w.id)  // only now: a refused update (changed meanwhile) keeps a newer placement's
        logger.info("workload ended", metadata: ["workload": "\(w.id)", "state": "\(u.state.rawValue)", "reason": "\(reason)"])
        notify(u)
    }

    /// Its image could not be pulled: pending again after the back-off (`restartBackoff`, as for
    /// restarts), counted in `consecutiveExits`, while the failure may pass and fewer than
    /// `Bounds.maxImagePullAttempts` attempts failed (Kubernetes' ImagePullBackOff); failed with
    /// the pull's error otherwise.
    ///
    /// A kill or a drain asked for while the image was pulled ends it as a stop would have
    /// (cancelled; drained by its restart policy), not with another attempt.
    func imagePullFailed(_ w: Workload, error: String, retryable: Bool) async throws {
        if let node = drains.removeValue(forKey: w.id) {
            try await requeueByPolicy(
                w, report: nil, events: (.drained, .drained), otherwise: .cancelled,
                reason: "drained from node \(node) while its image was pulled")
            return
        }
        if await stopRequested(w) {
            let u = try await store.update(id: w.id, event: .init(.cancelled, "cancelled while its image was pulled")) {
                try Self.expectUnchanged($0, since: w)
                $0.state = .cancelled
                $0.reason = "cancelled"
                $0.finishedAtMs = ControlStore.nowMs()
            }
            releaseReservation(w.id)
            return notify(u)
        }
        let attempts = (w.consecutiveExits ?? 0) + 1
        let retry = retryable && attempts < Bounds.maxImagePullAttempts
        let delay = (w.spec.restartBackoff ?? .standard).delaySeconds(afterExits: attempts)
        let now = ControlStore.nowMs()
        let reason =
            retry
            ? "ImagePullBackOff: \(error) (attempt \(attempts) of \(Bounds.maxImagePullAttempts); next in \(delay)s)"
            : "image pull failed\(retryable ? " \(attempts) times" : ""): \(error)"
        let u = try await store.update(id: w.id, event: .init(retry ? .imagePullBackOff : .failed, reason)) {
            try Self.expectUnchanged($0, since: w)
            $0.reason = reason
            $0.consecutiveExits = attempts
            if retry {
                $0.state = .pending
                $0.nextAttemptAtMs = now + Int64(delay) * 1000
            } else {
                $0.state = .failed
                $0.finishedAtMs = now
            }
        }
        releaseReservation(w.id)
        logger.info("image pull failed", metadata: ["workload": "\(w.id)", "state": "\(u.state.rawValue)", "error": "\(error)"])
        notify(u)
    }

    /// Its worker was shut down with its agents: placed again by restart policy (on-failure,
    /// always: pending; never: cancelled), with reason "node X stopped".
    func finishEvicted(_ w: Workload, report r: ExitReport) async throws {
        // The node is on its way down: nothing new goes there (a restart registers it Ready again).
        if let node = w.node { _ = scheduler.setState(.stopping, node: node) }
        let u = try await requeueByPolicy(
            w, report: r, events: (.evicted, .evicted), otherwise: .cancelled,
            reason: "node \(w.node ?? "?") stopped with its agents (aegis down)")
        logger.info("workload evicted", metadata: ["workload": "\(w.id)", "state": "\(u.state.rawValue)"])
    }

    /// Ends a placement stopped for a reason outside the agent (a drain, an eviction, a Down node):
    /// restart policy on-failure or always → pending, placed again with a new generation; never →
    /// `final`. Releases the reservation and records one event (`events.requeued` or `events.ended`).
    /// - Parameter failure: count the requeue as a restart (a lost node is a failure; a drain or an
    ///   eviction, as in Kubernetes, is not).
    @discardableResult
    func requeueByPolicy(
        _ w: Workload, report r: ExitReport?, events: (requeued: WorkloadEventType, ended: WorkloadEventType),
        otherwise final: WorkloadState, reason: String, failure: Bool = false
    ) async throws -> Workload {
        let requeue = w.spec.restart == .always || w.spec.restart == .onFailure
        let message = requeue ? "\(reason); pending again (restart policy \(w.spec.restart.rawValue))" : reason
        let u = try await store.update(id: w.id, event: .init(requeue ? events.requeued : events.ended, message)) {
            try Self.expectUnchanged($0, since: w)
            if let r {
                $0.exitCode = r.exitCode
                $0.signal = r.signal == 0 ? nil : r.signal
                $0.oomKilled = r.oomKilled
            }
            $0.finishedAtMs = ControlStore.nowMs()
            $0.state = requeue ? .pending : final
            $0.reason = reason
            if requeue && failure { $0.restarts += 1 }
        }
        releaseReservation(w.id)
        pendingReasons[w.id] = nil
        notify(u)
        return u
    }

    /// The workloads placed on `node` that have not ended (what `aegis down` waits for).
    public func activeWorkloads(node: String) async -> [Workload] {
        (try? await store.listWorkloads(states: [.scheduled, .running], node: node)) ?? []
    }
}

extension WorkerEvent {
    var isExit: Bool {
        switch self {
        case .exited, .lost, .failedToStart, .imagePullFailed: return true
        case .started: return false
        }
    }
}
