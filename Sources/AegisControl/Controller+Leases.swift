// Controller+Leases.swift — remote workers' sessions and leases: attach/detach a worker's
// connection, lease renewals, the monitor that declares nodes NotReady and Down at their
// deadlines (LeaseTracker), and the rescheduling of a Down node's agents once the grace period
// plus the safety margin has passed (the worker has fenced itself by then: every sandbox
// supervisor kills its agent once the worker's lease file is older than the grace, which the
// worker refreshes only when a renewal it sent was acknowledged here).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import AegisScheduler
import AegisStore
import Logging
import AegisSystem

extension Controller {
    /// Lease terms sent to every worker in `welcome` (durations in ms).
    public nonisolated var leaseTerms: LeaseTerms {
        let c = leases.config
        func ms(_ d: Duration) -> Int { Int(d.wholeMilliseconds) }
        return LeaseTerms(
            renewEveryMs: ms(c.renewEvery), notReadyAfterMs: ms(c.notReadyAfter), downAfterMs: ms(c.downAfter),
            rescheduleMarginMs: ms(c.rescheduleMargin))
    }

    /// Starts tracking the leases of the remote nodes the store knows (all but `localNode`), each
    /// as if it had just renewed: after a controller restart a worker gets the full grace to
    /// reconnect before it is declared NotReady, Down, and its agents moved.
    public func trackKnownNodes(except localNode: String?) async {
        let now = ContinuousClock.now
        for n in (try? await store.listNodes()) ?? [] where n.name != localNode && n.role != .controller {
            leases.register(node: n.name, now: now)
        }
    }

    /// A worker's session said hello: registers the node and its link (which receives `welcome`
    /// with the placements it should hold), and renews its lease.
    /// - Throws: store failures.
    public func attach(node info: NodeInfo, link: any WorkerLink) async throws {
        if let previous = workers[info.name] as? RemoteWorkerLink, previous !== (link as? RemoteWorkerLink) {
            previous.close(reason: "replaced by a new session of node \(info.name)")
        }
        leases.register(node: info.name, now: .now)
        await collectLeaseTransitions()
        try await register(node: info, link: link)
    }

    /// A worker's session ended. The node keeps its lease until the deadlines pass (a reconnect
    /// within the grace changes nothing), but receives no new work while disconnected.
    public func detach(node: String, link: RemoteWorkerLink) {
        guard let current = workers[node] as? RemoteWorkerLink, current === link else { return }
        workers[node] = nil
        _ = scheduler.setState(.disconnected, node: node)
        logger.warning("worker session ended", metadata: ["node": "\(node)", "reason": "\(link.closedReason ?? "?")"])
    }

    /// A renewal from `node`'s session, received at `now`. O(1) on the hot path; a node that was
    /// NotReady or Down is made Ready (one transition, logged and stored) and told which placements
    /// it should still hold (any other copy is stale and is killed by the worker).
    /// - Returns: the node's lease state after the renewal, or nil when the node holds no lease.
    /// - Parameters:
    ///   - capacity: what the worker measured (kept in memory, shown by `node ls|describe`).
    ///   - capabilities: new capabilities when they changed (stored; the scheduler uses them).
    public nonisolated func renewLease(
        node: String, now: ContinuousClock.Instant = .now, capacity: LiveCapacity? = nil,
        capabilities: NodeCapabilities? = nil
    ) async -> LeaseState? {
        let previous: LeaseState
        do { previous = try leases.renew(node: node, now: now) } catch { return nil }
        metrics?.recordLeaseRenewal()
        if var c = capacity {
            c.reportedAtMs = ControlStore.nowMs()
            live.withLock { $0[node] = c }
        }
        if let capabilities { await updateCapabilities(node: node, capabilities) }
        if previous != .ready { await recovered(node: node) }
        return .ready
    }

    /// A worker's capabilities changed (a runtime installed, a GPU gone, an image pulled): stored
    /// and handed to the scheduler; pending agents may now fit.
    public func updateCapabilities(node: String, _ capabilities: NodeCapabilities) async {
        guard var info = try? await store.node(name: node) else { return }
        let grace = info.capabilities.leaseGraceMs
        info.capabilities = capabilities
        // The grace is the worker's to raise or lower at registration; an update without it keeps it.
        if capabilities.leaseGraceMs == nil { info.capabilities.leaseGraceMs = grace }
        do { info = try await store.upsertNode(info) } catch {
            logger.error("storing new capabilities failed", metadata: ["node": "\(node)", "error": "\(error)"])
            return
        }
        var state = NodeState(info)
        if let current = scheduler.node(node) { state.state = current.state }
        scheduler.upsert(state)
        logger.info("node capabilities changed", metadata: ["node": "\(node)"])
        await wakeScheduler()
    }

    func recovered(node: String) async {
        await collectLeaseTransitions()
        guard let link = workers[node] else { return }
        _ = scheduler.setState(.ready, node: node)
        let active = await activeWorkloads(node: node)
        await link.reconcile(active: active.map { ($0.id, $0.generation) })
        await wakeScheduler()
    }

    /// Runs until cancelled: sleeps to the next lease deadline (at most 200 ms, so nodes registered
    /// meanwhile are never overslept), records the transitions and reschedules Down nodes whose
    /// grace plus margin has passed: Down + margin, or the node's advertised longest sandbox
    /// grace (`NodeCapabilities.leaseGraceMs`) + margin when that is longer. Run it through
    /// `LeaseMonitor` (a Service) so that a ServiceGroup owns it.
    public func runLeaseMonitor() async {
        // Down nodes waiting out a longer advertised grace: node → (outage, when to move its agents).
        var deferred: [String: (episode: ContinuousClock.Instant?, due: ContinuousClock.Instant)] = [:]
        while !Task.isCancelled {
            let now = ContinuousClock.now
            var wake = min(leases.nextDeadline() ?? now + .milliseconds(200), now + .milliseconds(200))
            if let next = deferred.values.map(\.due).min() { wake = min(wake, next) }
            if wake > now { try? await Task.sleep(until: wake, clock: .continuous) }
            await collectLeaseTransitions()
            for node in leases.nodesDueForReschedule(now: .now) {
                // A worker whose sandboxes fence later than Down (a longer --lease-grace, or
                // sandboxes re-adopted from a start with one) is waited for: grace + margin.
                // The grace is the worker's word: read it within 0…24 h so no sum or sleep overflows.
                let advertised = (try? await store.node(name: node))?.capabilities.leaseGraceMs ?? 0
                let graceMs = min(max(0, advertised), Bounds.maxLeaseDurationMs)
                let extraMs = graceMs - leaseTerms.downAfterMs
                guard extraMs > 0 else { await rescheduleAgents(ofDownNode: node); continue }
                logger.warning(
                    "waiting for the node's longer lease grace before moving its agents",
                    metadata: ["node": "\(node)", "grace-ms": "\(graceMs)", "extra-ms": "\(extraMs)"])
                // This outage only: a node that renews and goes Down again has another rescheduleAt.
                deferred[node] = (leases.rescheduleAt(node: node), .now + .milliseconds(extraMs))
            }
            for (node, wait) in deferred where wait.due <= .now {
                deferred[node] = nil
                guard leases.state(node: node) == .down, leases.rescheduleAt(node: node) == wait.episode else { continue }
                await rescheduleAgents(ofDownNode: node)
            }
        }
    }

    /// Applies the transitions the tracker has recorded: node state in the store and the scheduler
    /// (only Ready nodes receive work), one warning log line each (recoveries included: an
    /// operator wants both ends of an outage).
    func collectLeaseTransitions() async {
        for t in leases.tick(now: .now) {
            try? await store.setNodeState(name: t.node, t.to.condition)
            metrics?.recordNodeTransition(to: t.to.condition)
            if t.to != .ready || workers[t.node] != nil { _ = scheduler.setState(t.to.condition, node: t.node) }
            let late = t.lateness.inMilliseconds
            logger.warning(
                "node \(t.to.rawValue)",
                metadata: [
                    "node": "\(t.node)", "from": "\(t.from.rawValue)", "late-ms": "\(String(format: "%.1f", late))",
                ])
        }
    }

    /// The node has been Down for the safety margin: its worker has fenced itself, so its agents
    /// are placed again according to their restart policy (on-failure and always: pending, with a
    /// new generation when placed; never: lost).
    public func rescheduleAgents(ofDownNode node: String) async {
        let active = await activeWorkloads(node: node)
        if !active.isEmpty {
            logger.warning("rescheduling the agents of a Down node", metadata: ["node": "\(node)", "agents": "\(active.count)"])
        }
        for w in active {
            drains[w.id] = nil
            do {
                if await stopRequested(w) {  // killed while the node was away: it ends here, not elsewhere
                    let u = try await store.update(
                        id: w.id, event: .init(.cancelled, "cancelled; node \(node) went Down before it stopped")
                    ) {
                        try Self.expectUnchanged($0, since: w)
                        $0.state = .cancelled
                        $0.finishedAtMs = ControlStore.nowMs()
                        $0.reason = "cancelled"
                    }
                    releaseReservation(w.id)
                    notify(u)
                    continue
                }
                let u = try await requeueByPolicy(
                    w, report: nil, events: (.rescheduling, .lost), otherwise: .lost,
                    reason: "node \(node) is Down (no lease renewal for \(leaseTerms.downAfterMs / 1000) s)", failure: true)
                if u.state == .pending { metrics?.recordRescheduled() }
            } catch is WorkloadChangedSincePass {
                continue  // ended or placed again meanwhile: that change stands
            } catch {
                logger.error("rescheduling failed", metadata: ["workload": "\(w.id)", "error": "\(error)"])
            }
        }
        await wakeScheduler()
    }
}
