// LeaseTracker.swift — node liveness from lease renewals. Workers renew a lease every
// `renewEvery`; the controller declares a node NotReady `notReadyAfter` after its last successful
// renewal and Down `downAfter` after it, and moves a Down node's agents only `rescheduleMargin`
// later still, when the worker has certainly fenced itself (its sandbox supervisors kill the agents
// once the worker's lease file is older than the grace; see AegisNode's Worker+Lease.swift).
//
// The rules follow two known designs, in AEGIS's own code: the Kubernetes node lifecycle
// controller's grace period (a node that has not updated its lease for the grace period is marked
// not ready; eviction waits longer still), and Nomad's heartbeat TTL (a client missing its
// heartbeat deadline is marked down and its allocations replaced). Deadlines are always counted
// from the last successful renewal, never from when a check happened to run, so a late check
// reports the transition at its deadline together with how late it was noticed.
//
// Cost: `renew` is a dictionary lookup and two stores under a lock, O(1) and allocation-free.
// Deadlines live in a binary min-heap with at most one live entry per node; a renewal does not
// touch the heap: an entry that turns out to be early (the node renewed since it was pushed) is
// moved to the node's real deadline when it reaches the top, so heap work is about one push per
// node per `notReadyAfter - renewEvery` interval, not per renewal.
import AegisProtocol
import Synchronization

/// A node's lease state. Raw values are the `NodeInfo.state` / `NodeState.state` strings.
public enum LeaseState: String, Sendable, Equatable, CaseIterable {
    /// Renewed within `notReadyAfter`: may receive work.
    case ready = "Ready"
    /// No renewal for `notReadyAfter` (but less than `downAfter`): receives no new work, keeps its agents.
    case notReady = "NotReady"
    /// No renewal for `downAfter`: the worker has fenced itself; agents are rescheduled at
    /// `rescheduleAt`.
    case down = "Down"

    /// The node condition this lease state gives the node.
    public var condition: NodeCondition {
        switch self {
        case .ready: .ready
        case .notReady: .notReady
        case .down: .down
        }
    }
}

/// Lease timing. All values are `Duration`s of the monotonic clock (`ContinuousClock`).
public struct LeaseConfig: Sendable, Equatable {
    /// How often a worker renews (default 5 s). The tracker does not enforce it; it bounds the
    /// other values (see `validate`).
    public var renewEvery: Duration
    /// NotReady this long after the last successful renewal (default 20 s, four missed renewals).
    public var notReadyAfter: Duration
    /// Down this long after the last successful renewal (default 40 s). Also the grace after which
    /// workers fence themselves.
    public var downAfter: Duration
    /// Extra wait after Down before a node's agents may be rescheduled (default 10 s): covers clock
    /// rate differences and the supervisors' fence check interval.
    public var rescheduleMargin: Duration

    public init(
        renewEvery: Duration = .seconds(5), notReadyAfter: Duration = .seconds(20),
        downAfter: Duration = .seconds(40), rescheduleMargin: Duration = .seconds(10)
    ) {
        self.renewEvery = renewEvery
        self.notReadyAfter = notReadyAfter
        self.downAfter = downAfter
        self.rescheduleMargin = rescheduleMargin
    }

    /// Checks: every duration is positive (the margin may be zero), `renewEvery < notReadyAfter`
    /// and `notReadyAfter < downAfter`.
    /// - Throws: `LeaseConfigError` naming the first offending field and both values.
    public func validate() throws(LeaseConfigError) {
        for (field, value) in [("renewEvery", renewEvery), ("notReadyAfter", notReadyAfter), ("downAfter", downAfter)]
        where value <= .zero {
            throw LeaseConfigError(field: field, message: "\(field) must be positive, got \(value)")
        }
        if rescheduleMargin < .zero {
            throw LeaseConfigError(field: "rescheduleMargin", message: "rescheduleMargin must not be negative, got \(rescheduleMargin)")
        }
        if renewEvery >= notReadyAfter {
            throw LeaseConfigError(
                field: "renewEvery",
                message: "renewEvery (\(renewEvery)) must be shorter than notReadyAfter "
                    + "(\(notReadyAfter)), or every node flaps to NotReady between renewals")
        }
        if notReadyAfter >= downAfter {
            throw LeaseConfigError(
                field: "notReadyAfter",
                message: "notReadyAfter (\(notReadyAfter)) must be shorter than "
                    + "downAfter (\(downAfter))")
        }
    }
}

/// An invalid `LeaseConfig`.
public struct LeaseConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The offending `LeaseConfig` field, e.g. "notReadyAfter".
    public var field: String
    public var message: String
    public var description: String { "invalid lease configuration: \(message)" }
}

/// A lease operation on a node the tracker does not know.
public struct LeaseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var node: String
    public var description: String { "node \(node) holds no lease (never registered, or removed)" }
}

/// One state change of a node's lease.
public struct LeaseTransition: Sendable, Equatable, CustomStringConvertible {
    public var node: String
    public var from: LeaseState
    public var to: LeaseState
    /// When it took effect: the deadline (last renewal + `notReadyAfter` or `downAfter`) for a
    /// timeout, the renewal instant for a recovery to Ready.
    public var at: ContinuousClock.Instant
    /// How long after `at` the tracker noticed it (the `tick`/`renew` time minus `at`); zero or more.
    public var lateness: Duration

    public init(node: String, from: LeaseState, to: LeaseState, at: ContinuousClock.Instant, lateness: Duration) {
        self.node = node
        self.from = from
        self.to = to
        self.at = at
        self.lateness = lateness
    }

    public var description: String { "\(node): \(from.rawValue) → \(to.rawValue) (\(lateness) late)" }
}

/// A node's lease as `snapshot()` reports it.
public struct LeaseStatus: Sendable, Equatable {
    public var node: String
    public var state: LeaseState
    /// Last successful renewal (or registration).
    public var lastRenewal: ContinuousClock.Instant
    /// When the node becomes NotReady (Ready) or Down (NotReady); nil when Down.
    public var nextTransitionAt: ContinuousClock.Instant?
    /// Down nodes only: when their agents may be rescheduled.
    public var rescheduleAt: ContinuousClock.Instant?
}

/// Tracks every node's lease and computes Ready/NotReady/Down transitions from explicit instants.
///
/// Time only enters through the `now` arguments (`ContinuousClock.Instant`), so the tracker is
/// deterministic and testable; the controller passes `ContinuousClock.now`. A controller loop sleeps
/// until `nextDeadline()`, then calls `tick(now:)` and `nodesDueForReschedule(now:)`; a renewal that
/// reports a previous state other than `.ready` should also be followed by `tick(now:)` to collect
/// its recovery transition. Thread-safe (one lock). `renew` is O(1); `tick`, `nextDeadline` and
/// `nodesDueForReschedule` cost O(log n) per deadline they process; `snapshot` is O(n log n).
public final class LeaseTracker: Sendable {
    /// The timing this tracker applies.
    public let config: LeaseConfig
    private let storage: Mutex<Storage>

    /// - Throws: `LeaseConfigError` when `config` is invalid (see `LeaseConfig.validate`).
    public init(config: LeaseConfig = LeaseConfig()) throws(LeaseConfigError) {
        try config.validate()
        self.config = config
        self.storage = Mutex(Storage(config: config))
    }

    /// Starts tracking `node` as Ready with its last renewal at `now`. Registering a known node
    /// counts as a renewal (a reconnecting worker), including the recovery transition if it was not
    /// Ready.
    /// - Returns: true when the node was new.
    @discardableResult
    public func register(node: String, now: ContinuousClock.Instant) -> Bool {
        storage.withLock { s in
            if let slot = s.slotOf[node] {
                s.renew(slot: slot, now: now)
                return false
            }
            s.add(node: node, now: now)
            return true
        }
    }

    /// Records a successful renewal of `node` at `now` (instants earlier than the last renewal are
    /// ignored, so renewals raced across threads never move the lease back).
    ///
    /// If a deadline passed before `now` and no `tick` noticed it yet, that transition is recorded
    /// first (deadlines are strict here: a renewal exactly at the deadline keeps the node Ready).
    /// A node that was NotReady or Down becomes Ready; the transition (at `now`) is reported by the
    /// next `tick`. O(1), allocation-free.
    /// - Returns: the state before this renewal (`.ready` when nothing changed).
    /// - Throws: `LeaseError` when `node` is not registered.
    @discardableResult
    public func renew(node: String, now: ContinuousClock.Instant) throws(LeaseError) -> LeaseState {
        let previous: LeaseState? = storage.withLock { s in
            guard let slot = s.slotOf[node] else { return nil }
            return s.renew(slot: slot, now: now)
        }
        guard let previous else { throw LeaseError(node: node) }
        return previous
    }

    /// Stops tracking `node` (left the cluster or was forgotten); its pending reschedule, if any,
    /// is dropped (transitions already recorded are still reported by `tick`).
    /// - Returns: false when it was not tracked.
    @discardableResult
    public func remove(node: String) -> Bool {
        storage.withLock { s in s.remove(node: node) }
    }

    /// Applies every deadline that is at or before `now` and returns the transitions since the last
    /// call, ordered by `at`: Ready→NotReady at last renewal + `notReadyAfter`, NotReady→Down at
    /// last renewal + `downAfter` (both, in order, when a tick comes after both deadlines), and the
    /// recoveries to Ready recorded by `renew`.
    public func tick(now: ContinuousClock.Instant) -> [LeaseTransition] {
        storage.withLock { s in
            s.advance(now: now)
            guard !s.pendingTransitions.isEmpty else { return [] }
            var out = s.pendingTransitions
            s.pendingTransitions.removeAll(keepingCapacity: true)
            if out.count > 1 { out.sort { $0.at < $1.at } }  // sort is stable: a node's own order stays
            return out
        }
    }

    /// The earliest instant at which `tick` or `nodesDueForReschedule` will have something to do
    /// (a NotReady, Down or reschedule deadline), or nil when no node has a pending deadline.
    /// Exact, not an estimate: sleeping until it detects transitions with only the wake-up latency.
    public func nextDeadline() -> ContinuousClock.Instant? {
        storage.withLock { s in s.settleTop() }
    }

    /// When the agents of a Down node may be rescheduled: last renewal + `downAfter` +
    /// `rescheduleMargin`. Nil for unknown nodes and nodes that are not Down.
    public func rescheduleAt(node: String) -> ContinuousClock.Instant? {
        storage.withLock { s in
            guard let slot = s.slotOf[node], s.nodes[slot].state == .down else { return nil }
            return s.nodes[slot].last + s.config.downAfter + s.config.rescheduleMargin
        }
    }

    /// Down nodes whose `rescheduleAt` is at or before `now`, each reported once per outage (a node
    /// that renews and goes Down again is reported again). Also applies due transitions; they stay
    /// queued for the next `tick`.
    public func nodesDueForReschedule(now: ContinuousClock.Instant) -> [String] {
        storage.withLock { s in
            s.advance(now: now)
            guard !s.pendingReschedule.isEmpty else { return [] }
            let out = s.pendingReschedule
            s.pendingReschedule.removeAll(keepingCapacity: true)
            return out
        }
    }

    /// `node`'s current state (as of the last `tick`/`renew`), or nil when not tracked.
    public func state(node: String) -> LeaseState? {
        storage.withLock { s in s.slotOf[node].map { s.nodes[$0].state } }
    }

    /// Every tracked node, sorted by name. O(n log n): for status pages, not the hot path.
    public func snapshot() -> [LeaseStatus] {
        storage.withLock { s in
            s.slotOf.map { name, slot in
                let n = s.nodes[slot]
                let next: ContinuousClock.Instant? =
                    switch n.state {
                    case .ready: n.last + s.config.notReadyAfter
                    case .notReady: n.last + s.config.downAfter
                    case .down: nil
                    }
                return LeaseStatus(
                    node: name, state: n.state, lastRenewal: n.last, nextTransitionAt: next,
                    rescheduleAt: n.state == .down ? n.last + s.config.downAfter + s.config.rescheduleMargin : nil)
            }.sorted { $0.node < $1.node }
        }
    }

    /// Number of tracked nodes.
    public var count: Int { storage.withLock { $0.slotOf.count } }
}

// MARK: - storage

/// Everything behind the lock. Nodes live in slots (reused after removal); the heap holds
/// (deadline, slot, generation) entries, each no later than the slot's real deadline.
private struct Storage: Sendable {
    struct Node: Sendable {
        var name: String
        var last: ContinuousClock.Instant
        var state: LeaseState
        /// Down only: the reschedule was reported.
        var rescheduleReported: Bool
        /// Bumped on removal and on recovery; heap entries of other generations are dropped.
        var generation: UInt32
        var inUse: Bool
    }

    struct Entry: Sendable {
        var deadline: ContinuousClock.Instant
        var slot: Int
        var generation: UInt32
    }

    let config: LeaseConfig
    var nodes: [Node] = []
    var slotOf: [String: Int] = [:]
    var freeSlots: [Int] = []
    var heap: [Entry] = []
    var pendingTransitions: [LeaseTransition] = []
    var pendingReschedule: [String] = []

    init(config: LeaseConfig) { self.config = config }

    /// The slot's real pending deadline: NotReady, Down or reschedule; nil when nothing is pending.
    func deadline(_ slot: Int) -> ContinuousClock.Instant? {
        let n = nodes[slot]
        switch n.state {
        case .ready: return n.last + config.notReadyAfter
        case .notReady: return n.last + config.downAfter
        case .down: return n.rescheduleReported ? nil : n.last + config.downAfter + config.rescheduleMargin
        }
    }

    mutating func add(node: String, now: ContinuousClock.Instant) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            nodes[slot] = Node(
                name: node, last: now, state: .ready, rescheduleReported: false,
                generation: nodes[slot].generation &+ 1, inUse: true)
        } else {
            slot = nodes.count
            nodes.append(Node(name: node, last: now, state: .ready, rescheduleReported: false, generation: 0, inUse: true))
        }
        slotOf[node] = slot
        push(Entry(deadline: now + config.notReadyAfter, slot: slot, generation: nodes[slot].generation))
    }

    mutating func remove(node: String) -> Bool {
        guard let slot = slotOf.removeValue(forKey: node) else { return false }
        nodes[slot].inUse = false
        nodes[slot].generation &+= 1
        freeSlots.append(slot)
        if let i = pendingReschedule.firstIndex(of: node) { pendingReschedule.remove(at: i) }
        return true
    }

    /// See `LeaseTracker.renew`. Returns the state before the renewal.
    @discardableResult
    mutating func renew(slot: Int, now: ContinuousClock.Instant) -> LeaseState {
        // Fast path (the common case): a Ready node renewing before its NotReady deadline.
        if case .ready = nodes[slot].state {
            let last = nodes[slot].last
            guard now > last else { return .ready }
            if now <= last + config.notReadyAfter {
                nodes[slot].last = now  // the heap entry is now early: fixed lazily
                return .ready
            }
        }
        // Overdue deadlines first (strictly before `now`), so the history stays truthful.
        if nodes[slot].state != .down, let due = deadline(slot), due < now {
            step(slot: slot, now: now, strict: true)
        }
        let previous = nodes[slot].state
        if now > nodes[slot].last { nodes[slot].last = now }
        guard previous != .ready else { return .ready }  // the heap entry is now early: fixed lazily
        nodes[slot].state = .ready
        nodes[slot].rescheduleReported = false
        nodes[slot].generation &+= 1
        let n = nodes[slot]
        pendingTransitions.append(LeaseTransition(node: n.name, from: previous, to: .ready, at: n.last, lateness: .zero))
        push(Entry(deadline: n.last + config.notReadyAfter, slot: slot, generation: n.generation))
        return previous
    }

    /// Applies the slot's timeouts that are due at `now` (`strict`: only those strictly before),
    /// recording transitions. Returns nothing; does not touch the heap.
    mutating func step(slot: Int, now: ContinuousClock.Instant, strict: Bool) {
        while nodes[slot].state != .down {
            let n = nodes[slot]
            let (to, at): (LeaseState, ContinuousClock.Instant) =
                n.state == .ready
                ? (.notReady, n.last + config.notReadyAfter) : (.down, n.last + config.downAfter)
            guard strict ? at < now : at <= now else { return }
            nodes[slot].state = to
            pendingTransitions.append(LeaseTransition(node: n.name, from: n.state, to: to, at: at, lateness: now - at))
        }
    }

    /// Pops every heap entry due at `now`, applying one deadline per pop and pushing the slot's
    /// next deadline, so transitions of all nodes come out in deadline order.
    mutating func advance(now: ContinuousClock.Instant) {
        while let top = heap.first, top.deadline <= now {
            let slot = top.slot
            guard nodes[slot].inUse, nodes[slot].generation == top.generation, let due = deadline(slot) else {
                popTop()
                continue
            }
            if due > now {  // the node renewed since this entry was pushed
                replaceTop(deadline: due)
                continue
            }
            let n = nodes[slot]
            switch n.state {
            case .ready, .notReady:
                let to: LeaseState = n.state == .ready ? .notReady : .down
                nodes[slot].state = to
                pendingTransitions.append(LeaseTransition(node: n.name, from: n.state, to: to, at: due, lateness: now - due))
            case .down:
                nodes[slot].rescheduleReported = true
                pendingReschedule.append(n.name)
            }
            if let next = deadline(slot) { replaceTop(deadline: next) } else { popTop() }
        }
    }

    /// Makes the heap top exact (drops dead entries, moves early ones) and returns its deadline.
    mutating func settleTop() -> ContinuousClock.Instant? {
        while let top = heap.first {
            let slot = top.slot
            guard nodes[slot].inUse, nodes[slot].generation == top.generation, let due = deadline(slot) else {
                popTop()
                continue
            }
            if due == top.deadline { return due }
            replaceTop(deadline: due)
        }
        return nil
    }

    // MARK: binary min-heap on deadline

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].deadline < heap[parent].deadline else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown()
    }

    /// Moves the top entry to a later `deadline` (one sift-down instead of a pop and a push).
    mutating func replaceTop(deadline: ContinuousClock.Instant) {
        heap[0].deadline = deadline
        siftDown()
    }

    mutating func siftDown() {
        var i = 0
        let count = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < count, heap[l].deadline < heap[smallest].deadline { smallest = l }
            if r < count, heap[r].deadline < heap[smallest].deadline { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
