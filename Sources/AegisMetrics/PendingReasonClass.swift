// PendingReasonClass.swift — the bounded label set of `aegis_pending_workloads{reason_class}`:
// why a workload waits, in a few classes, derived from the pending reason text the controller
// stores (AegisScheduler's feasibility summary, its quota check, the restart and image-pull
// back-offs). The texts are the scheduler's (Feasibility.describe/summarize, quotaCheck); a text
// this does not recognise is `other`, never a new label value.

/// Why a pending workload waits, as a label value.
public enum PendingReasonClass: String, Sendable, CaseIterable, Hashable {
    /// Its tenant's quota (running agents, cpu, memory or GPUs) is used up.
    case quota
    /// No node has the cpu, memory or egress address free (shortages: they pass as agents end).
    case capacity
    /// Not enough matching GPUs, free or at all.
    case gpu
    /// No node has the runtime (or the version) it needs.
    case runtime
    /// No node meets a requirement an operator sets: labels, reach, network egress, limit
    /// enforcement.
    case constraint
    /// No node to place it on: none registered, none Ready, or all cordoned.
    case noNodes = "no_nodes"
    /// Waiting out the back-off after its image could not be pulled (ImagePullBackOff).
    case imagePullBackoff = "image_pull_backoff"
    /// Waiting out the back-off before a restart.
    case restartBackoff = "restart_backoff"
    /// Anything else (an unknown tenant, an invalid request, a reason not recorded yet).
    case other

    /// The class of a pending reason. For the scheduler's multi-node summary ("no node fits (N
    /// nodes): n1: needs …, has …; …") the first listed rejection decides: it is the most common
    /// one.
    public init(reason: String) {
        if reason.hasPrefix("ImagePullBackOff") {
            self = .imagePullBackoff
        } else if reason.hasPrefix("restarting after") {
            self = .restartBackoff
        } else if reason.hasPrefix("no nodes registered") {
            self = .noNodes
        } else if reason.hasPrefix("tenant ") || reason.hasPrefix("quota: ") {
            // quotaCheck: "tenant acme: running agents 5/5; cpu 3500m used + …"; otherwise the
            // pass's "tenant X does not exist".
            self = reason.contains(" used + ") || reason.contains("running agents ") ? .quota : .other
        } else {
            self = Self.rejection(Self.firstRejection(reason))
        }
    }

    /// The first rejection of a scheduler reason: the whole text for a single node's, the first
    /// `; `-separated part after "no node fits…: " for a summary.
    static func firstRejection(_ reason: String) -> Substring {
        guard reason.hasPrefix("no node fits"), let colon = reason.range(of: ": ") else { return Substring(reason) }
        let rest = reason[colon.upperBound...]
        guard let end = rest.range(of: "; ") else { return rest }
        return rest[..<end.lowerBound]
    }

    /// The class of one rejection text (Feasibility.describe: message or short form).
    static func rejection(_ text: Substring) -> PendingReasonClass {
        if text.contains(" is not Ready") || text.contains(" is cordoned") { return .noNodes }
        if text.contains("needs network egress") || text.contains("needs reach=") || text.contains("needs label ")
            || text.contains("limit enforcement")
        {
            return .constraint
        }
        if text.contains(" GPU") { return .gpu }
        if text.contains("needs an egress address") || text.contains("m CPU") || text.contains(" memory") { return .capacity }
        if text.contains("needs ") { return .runtime }
        return .other
    }
}
