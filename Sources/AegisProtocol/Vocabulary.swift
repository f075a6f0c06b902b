// Vocabulary.swift — the states and event kinds that cross modules (controller, scheduler, store,
// API, CLI, workers), typed. Raw values are the strings the API's JSON and the store's rows have
// always carried, so stored data and clients are unchanged.

/// A node's condition as the controller sees it (`NodeInfo.state`): leases make it Ready,
/// NotReady or Down; a session that ended makes it Disconnected; a node shutting down with its
/// agents is Stopping. Only Ready nodes receive work (Cordoned is shown separately).
public enum NodeCondition: String, Codable, Sendable, CaseIterable {
    case ready = "Ready"
    case notReady = "NotReady"
    case down = "Down"
    case stopping = "Stopping"
    case disconnected = "Disconnected"
    /// The controller does not know the node (a renewal from a node it has no lease for).
    case unknown = "Unknown"

    /// A condition read from storage or another peer: an unrecognised string is `.unknown`.
    public init(stored text: String) {
        self = NodeCondition(rawValue: text) ?? .unknown
    }

    public init(from decoder: any Decoder) throws {
        self.init(stored: try decoder.singleValueContainer().decode(String.self))
    }
}

/// The kind of one entry of a workload's event log (`WorkloadEvent.type`).
public enum WorkloadEventType: String, Codable, Sendable, CaseIterable {
    case submitted, pending, scheduled, started
    /// Final: exited with 0 / ended otherwise / cancelled / vanished without an outcome.
    case succeeded, failed, cancelled, lost
    /// A kill was asked for; the worker has not reported the end yet.
    case cancelling
    /// A drain asked the workload to stop; `drained` when it did.
    case draining, drained
    /// Stopped because its worker shut down with its agents.
    case evicted
    /// Its node went Down: placed again elsewhere.
    case rescheduling
    /// Ended and placed again by its restart policy (after the back-off).
    case restarting
    /// Its image could not be pulled: pending again, retried after the back-off (Kubernetes'
    /// ImagePullBackOff).
    case imagePullBackOff
    /// A kind this version does not know (written by a newer controller).
    case unknown

    /// The event that records a workload ending in `state` (succeeded, failed, cancelled, lost);
    /// nil for a state that is not final.
    public init?(final state: WorkloadState) {
        guard state.isFinal, let kind = WorkloadEventType(rawValue: state.rawValue) else { return nil }
        self = kind
    }

    /// A kind read from storage: older rows may be capitalised ("Scheduled"); an unrecognised
    /// string is `.unknown`.
    public init(stored text: String) {
        self = WorkloadEventType(rawValue: text) ?? WorkloadEventType(rawValue: text.lowercased()) ?? .unknown
    }

    public init(from decoder: any Decoder) throws {
        self.init(stored: try decoder.singleValueContainer().decode(String.self))
    }

    /// Events after a placement that ask its copy to stop (a kill, a drain).
    public var requestsStop: Bool { self == .cancelling || self == .draining }
}
