// Controller+Nodes.swift — node operations with Kubernetes semantics: cordon (no new agents),
// uncordon, and drain (cordon, then stop every agent of the node; agents whose restart policy is
// on-failure or always are re-queued as pending and get a new generation when placed again, the
// others end cancelled with reason "drained from node X").
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import AegisScheduler
import AegisStore
import Logging

extension Controller {
    /// Default and largest drain wait, seconds.
    public static let defaultDrainTimeoutSeconds = 300
    public static let maxDrainTimeoutSeconds = Bounds.maxDrainTimeoutSeconds

    /// Cordons a node: the scheduler places no new agent there (pending reason "node X is
    /// cordoned"); agents already there keep running. The flag is stored, so it survives a
    /// controller restart and the node re-registering.
    /// - Throws: `.forbidden` for a tenant caller, `.notFound` for an unknown node.
    public func cordon(name: String, caller: Caller) async throws(ControllerError) -> NodeInfo {
        guard caller.isAdmin else { throw .forbidden("cordoning nodes is admin-only") }
        return try await setCordon(name: name, true)
    }

    /// Uncordons a node and runs a scheduling pass (pending agents may now be placed there).
    /// - Throws: `.forbidden` for a tenant caller, `.notFound` for an unknown node.
    public func uncordon(name: String, caller: Caller) async throws(ControllerError) -> NodeInfo {
        guard caller.isAdmin else { throw .forbidden("uncordoning nodes is admin-only") }
        _ = try await setCordon(name: name, false)
        await schedule()
        return try await node(name: name, caller: caller)
    }

    func setCordon(name: String, _ cordoned: Bool) async throws(ControllerError) -> NodeInfo {
        do {
            try await store.setCordoned(name: name, cordoned)
        } catch let e as StoreError where e.kind == .notFound {
            throw .notFound("node \(name) not found")
        } catch {
            throw .internalError("store", underlying: error)
        }
        scheduler.setCordoned(cordoned, node: name)
        logger.info(cordoned ? "node cordoned" : "node uncordoned", metadata: ["node": "\(name)"])
        guard let n = try? await store.node(name: name) else { throw .notFound("node \(name) not found") }
        return withAllocation(n)
    }

    /// Drains a node: cordons it, asks its worker to stop every scheduled or running agent there
    /// (SIGTERM, then SIGKILL after the worker's grace period), and waits until none is active or
    /// `timeoutSeconds` (default 300) pass. When a stopped agent's exit arrives, an agent with
    /// restart policy on-failure or always becomes pending again (event "drained", reason
    /// "drained from node X" until the next scheduling pass names why it waits); one with policy
    /// never ends cancelled with reason "drained from node X". Calling it again while agents are
    /// still stopping is harmless (they are asked to stop again).
    /// - Returns: the node and one entry per agent that was active on it (see `DrainedAgent`);
    ///   `complete` false when the timeout passed first.
    /// - Throws: `.forbidden` for a tenant caller, `.notFound` for an unknown node, `.badRequest`
    ///   for a timeout outside 1…86 400 s.
    public func drain(name: String, timeoutSeconds: Int? = nil, caller: Caller) async throws(ControllerError) -> DrainResponse {
        guard caller.isAdmin else { throw .forbidden("draining nodes is admin-only") }
        let timeout = timeoutSeconds ?? Self.defaultDrainTimeoutSeconds
        guard (1...Self.maxDrainTimeoutSeconds).contains(timeout) else {
            throw .invalid("timeoutSeconds: \(timeout) is outside 1…\(Self.maxDrainTimeoutSeconds)", field: "timeoutSeconds")
        }
        let start = ControlStore.nowMs()
        _ = try await setCordon(name: name, true)
        let active = await activeWorkloads(node: name)
        logger.info("draining node", metadata: ["node": "\(name)", "agents": "\(active.count)"])
        for w in active {
            drains[w.id] = name
            try? await store.appendEvent(workloadID: w.id, .init(.draining, "draining from node \(name): stop requested"))
            await workers[name]?.cancel(id: w.id, generation: w.generation)
        }
        let deadline = start + Int64(timeout) * 1000
        // A cancelled request (the node is stopping) answers with what it has instead of spinning.
        while await !activeWorkloads(node: name).isEmpty && ControlStore.nowMs() < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
        }
        // Re-queued agents get their current pending reason ("node X is cordoned") before we answer.
        await schedule()
        var items: [DrainedAgent] = []
        for w in active {
            let now = (try? await store.workload(id: w.id)) ?? w
            let outcome: String
            if now.generation != w.generation || now.state == .pending {
                outcome = "requeued"
            } else if now.state.isFinal {
                outcome = now.state.rawValue
            } else {
                outcome = "active"
            }
            items.append(
                DrainedAgent(id: w.id, tenant: w.spec.tenant, name: w.spec.name, outcome: outcome, state: now.state, reason: now.reason))
        }
        // Agents that ended some other way (lost, failed to start) are no longer being drained.
        for i in items where i.outcome != "active" { drains[i.id] = nil }
        let complete = !items.contains { $0.outcome == "active" }
        logger.info(complete ? "node drained" : "drain timed out", metadata: ["node": "\(name)", "agents": "\(items.count)"])
        guard let n = try? await store.node(name: name) else { throw .notFound("node \(name) not found") }
        return DrainResponse(node: withAllocation(n), items: items, complete: complete, waitedMs: ControlStore.nowMs() - start)
    }

    /// Records the exit of an agent a drain stopped; false when `w` is not being drained or exited
    /// on its own (then the usual final state and restart policy apply).
    func finishDrained(_ w: Workload, report r: ExitReport) async throws -> Bool {
        guard let node = drains.removeValue(forKey: w.id) else { return false }
        guard r.cancelled else { return false }
        let u = try await requeueByPolicy(
            w, report: r, events: (.drained, .drained), otherwise: .cancelled, reason: "drained from node \(node)")
        logger.info("workload drained", metadata: ["workload": "\(w.id)", "node": "\(node)", "state": "\(u.state.rawValue)"])
        notify(u)
        return true
    }
}
