// LeaseTrackerTests.swift — lease state machine with explicit instants (no sleeping): deadlines
// counted from the last renewal, hysteresis of a paused worker, Down and reschedule, late ticks,
// nextDeadline ordering, configuration errors.
import AegisControl
import XCTest

final class LeaseTrackerTests: XCTestCase {
    /// A fixed origin; every instant in these tests is origin + an offset.
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64((seconds * 1000).rounded())) }

    func makeTracker(_ config: LeaseConfig = LeaseConfig()) throws -> LeaseTracker { try LeaseTracker(config: config) }

    /// Ticks every `step` seconds over [from, to] and collects the transitions.
    func tickEvery(_ tracker: LeaseTracker, from: Double, to: Double, step: Double = 0.5) -> [LeaseTransition] {
        var out: [LeaseTransition] = []
        var t = from
        while t <= to + 1e-9 {
            out += tracker.tick(now: at(t))
            t += step
        }
        return out
    }

    func testDefaultsAreTheDocumentedOnes() throws {
        let config = LeaseConfig()
        XCTAssertEqual(config.renewEvery, .seconds(5))
        XCTAssertEqual(config.notReadyAfter, .seconds(20))
        XCTAssertEqual(config.downAfter, .seconds(40))
        XCTAssertEqual(config.rescheduleMargin, .seconds(10))
        XCTAssertNoThrow(try config.validate())
        XCTAssertEqual(LeaseState.notReady.rawValue, "NotReady")
        XCTAssertEqual(LeaseState.down.rawValue, "Down")
        XCTAssertEqual(LeaseState.ready.rawValue, "Ready")
    }

    func testSilentNodeGoesNotReadyAt20sAndDownAt40sExactly() throws {
        let tracker = try makeTracker()
        tracker.register(node: "w1", now: at(0))
        XCTAssertEqual(tracker.state(node: "w1"), .ready)
        XCTAssertEqual(tracker.nextDeadline(), at(20))

        XCTAssertEqual(tracker.tick(now: at(19.999)), [], "nothing before the NotReady deadline")
        let notReady = tracker.tick(now: at(20))
        XCTAssertEqual(notReady, [LeaseTransition(node: "w1", from: .ready, to: .notReady, at: at(20), lateness: .zero)])
        XCTAssertEqual(tracker.state(node: "w1"), .notReady)
        XCTAssertEqual(tracker.nextDeadline(), at(40))
        XCTAssertNil(tracker.rescheduleAt(node: "w1"), "only Down nodes have a reschedule time")

        XCTAssertEqual(tracker.tick(now: at(39.999)), [])
        let down = tracker.tick(now: at(40.25))
        XCTAssertEqual(down, [LeaseTransition(node: "w1", from: .notReady, to: .down, at: at(40), lateness: .milliseconds(250))])
        XCTAssertEqual(tracker.state(node: "w1"), .down)
        XCTAssertEqual(tracker.tick(now: at(100)), [], "Down is final until a renewal")
    }

    func testDeadlinesCountFromTheLastSuccessfulRenewal() throws {
        let tracker = try makeTracker()
        tracker.register(node: "w1", now: at(0))
        for t in stride(from: 5.0, through: 30.0, by: 5.0) {
            XCTAssertEqual(try tracker.renew(node: "w1", now: at(t)), .ready)
            XCTAssertEqual(tracker.tick(now: at(t + 0.1)), [])
        }
        XCTAssertEqual(tracker.nextDeadline(), at(50))
        XCTAssertEqual(tickEvery(tracker, from: 30.5, to: 49.5), [])
        XCTAssertEqual(tracker.tick(now: at(50)).map(\.at), [at(50)])
        XCTAssertEqual(tracker.tick(now: at(70)).map(\.to), [.down])
        // A renewal instant older than the last one never moves the lease back.
        let other = try makeTracker()
        other.register(node: "w2", now: at(10))
        try other.renew(node: "w2", now: at(3))
        XCTAssertEqual(other.nextDeadline(), at(30))
    }

    func testPausedThirtySecondsFlapsOnceAndIsNeverDownOrRescheduled() throws {
        let tracker = try makeTracker()
        tracker.register(node: "w1", now: at(0))
        var transitions: [LeaseTransition] = []
        var due: [String] = []
        // Renews every 5 s until 10 s, pauses 30 s, renews again from 40 s on; ticks every 0.5 s.
        var t = 0.0
        while t <= 120 {
            if (t.truncatingRemainder(dividingBy: 5) == 0) && (t <= 10 || t >= 40) {
                let before = try tracker.renew(node: "w1", now: at(t))
                if t == 40 { XCTAssertEqual(before, .notReady, "the renewal after the pause ends the NotReady period") }
            }
            transitions += tracker.tick(now: at(t))
            due += tracker.nodesDueForReschedule(now: at(t))
            t += 0.5
        }
        XCTAssertEqual(transitions.map { "\($0.from.rawValue)>\($0.to.rawValue)" }, ["Ready>NotReady", "NotReady>Ready"])
        XCTAssertEqual(transitions.first?.at, at(30), "NotReady 20 s after the renewal at 10 s")
        XCTAssertEqual(transitions.last?.at, at(40), "Ready again at the renewal")
        XCTAssertEqual(due, [], "nothing is moved")
        XCTAssertEqual(tracker.state(node: "w1"), .ready)
    }

    func testPausedSixtySecondsIsDownThenDueForRescheduleOnceThenRecovers() throws {
        let tracker = try makeTracker()
        tracker.register(node: "w1", now: at(0))
        tracker.register(node: "w2", now: at(0))
        var transitions: [LeaseTransition] = []
        var due: [(String, Double)] = []
        var t = 0.0
        while t < 60 {
            try tracker.renew(node: "w2", now: at(t))  // w2 stays healthy throughout
            transitions += tracker.tick(now: at(t))
            due += tracker.nodesDueForReschedule(now: at(t)).map { ($0, t) }
            if t == 45 { XCTAssertEqual(tracker.rescheduleAt(node: "w1"), at(50)) }
            t += 0.25
        }
        XCTAssertEqual(
            transitions,
            [
                LeaseTransition(node: "w1", from: .ready, to: .notReady, at: at(20), lateness: .zero),
                LeaseTransition(node: "w1", from: .notReady, to: .down, at: at(40), lateness: .zero),
            ])
        XCTAssertEqual(due.map(\.0), ["w1"], "reported once")
        XCTAssertEqual(due.first?.1, 50, "at last renewal + downAfter + margin")
        XCTAssertEqual(tracker.nodesDueForReschedule(now: at(60)), [])
        XCTAssertNil(tracker.rescheduleAt(node: "w2"))

        XCTAssertTrue(tracker.remove(node: "w2"))

        // The worker comes back after 60 s: Ready again, reported as a transition.
        XCTAssertEqual(try tracker.renew(node: "w1", now: at(60)), .down)
        XCTAssertEqual(tracker.state(node: "w1"), .ready)
        XCTAssertNil(tracker.rescheduleAt(node: "w1"))
        XCTAssertEqual(tracker.tick(now: at(60.5)), [LeaseTransition(node: "w1", from: .down, to: .ready, at: at(60), lateness: .zero)])
        XCTAssertEqual(tracker.nextDeadline(), at(80))

        // A second outage is reported again.
        XCTAssertEqual(tracker.tick(now: at(200)).map(\.to), [.notReady, .down])
        XCTAssertEqual(tracker.nodesDueForReschedule(now: at(200)), ["w1"])
    }

    func testLateTickReportsBothTransitionsInOrderWithLateness() throws {
        let tracker = try makeTracker()
        tracker.register(node: "silent", now: at(0))
        tracker.register(node: "later", now: at(10))
        let transitions = tracker.tick(now: at(45))
        XCTAssertEqual(
            transitions,
            [
                LeaseTransition(node: "silent", from: .ready, to: .notReady, at: at(20), lateness: .seconds(25)),
                LeaseTransition(node: "later", from: .ready, to: .notReady, at: at(30), lateness: .seconds(15)),
                LeaseTransition(node: "silent", from: .notReady, to: .down, at: at(40), lateness: .seconds(5)),
            ], "deadline order across nodes")
        XCTAssertEqual(tracker.nodesDueForReschedule(now: at(45)), [], "reschedule waits for the margin")
        // A very late call reports everything due, reschedules included.
        XCTAssertEqual(tracker.nodesDueForReschedule(now: at(300)), ["silent", "later"])
        XCTAssertEqual(
            tracker.tick(now: at(300)).map(\.node), ["later"], "the transition applied by nodesDueForReschedule is kept for tick")
    }

    func testRenewalAfterAnUnnoticedDeadlineRecordsTheTruth() throws {
        let tracker = try makeTracker()
        tracker.register(node: "w1", now: at(0))
        // No tick ran; the renewal at 25 s finds the NotReady deadline (20 s) passed.
        XCTAssertEqual(try tracker.renew(node: "w1", now: at(25)), .notReady)
        XCTAssertEqual(
            tracker.tick(now: at(25)),
            [
                LeaseTransition(node: "w1", from: .ready, to: .notReady, at: at(20), lateness: .seconds(5)),
                LeaseTransition(node: "w1", from: .notReady, to: .ready, at: at(25), lateness: .zero),
            ])
        // Exactly at the deadline the renewal wins.
        XCTAssertEqual(try tracker.renew(node: "w1", now: at(45)), .ready)
        XCTAssertEqual(tracker.tick(now: at(45)), [])
    }

    func testNextDeadlineIsTheEarliestAcrossManyNodes() throws {
        let tracker = try makeTracker()
        XCTAssertNil(tracker.nextDeadline())
        // 1,000 nodes registered at pseudo-random offsets in [0, 10) s, then most of them renewed.
        var rng = SplitMix64(seed: 42)
        var last: [String: Double] = [:]
        for i in 0..<1000 {
            let offset = Double(rng.next() % 10_000) / 1000
            tracker.register(node: "n\(i)", now: at(offset))
            last["n\(i)"] = offset
        }
        XCTAssertEqual(tracker.nextDeadline(), at(last.values.min()! + 20))
        for i in 0..<1000 where i % 7 != 0 {
            let t = 10 + Double(rng.next() % 5000) / 1000
            try tracker.renew(node: "n\(i)", now: at(t))
            last["n\(i)"] = max(last["n\(i)"]!, t)
        }
        XCTAssertEqual(tracker.nextDeadline(), at(last.values.min()! + 20), "early heap entries are moved to the real deadline")
        // Removing the earliest node moves the deadline on.
        let earliest = last.min { ($0.value, $0.key) < ($1.value, $1.key) }!
        XCTAssertTrue(tracker.remove(node: earliest.key))
        XCTAssertFalse(tracker.remove(node: earliest.key))
        last[earliest.key] = nil
        XCTAssertEqual(tracker.nextDeadline(), at(last.values.min()! + 20))
        XCTAssertNil(tracker.state(node: earliest.key))
        XCTAssertThrowsError(try tracker.renew(node: earliest.key, now: at(30))) { error in
            XCTAssertTrue("\(error)".contains(earliest.key), "\(error)")
        }
        // Sleeping until each nextDeadline and ticking yields each node's NotReady exactly on time.
        var seen = 0
        while let deadline = tracker.nextDeadline(), deadline <= at(36) {
            for transition in tracker.tick(now: deadline) where transition.to == .notReady {
                XCTAssertEqual(transition.at, at(last[transition.node]! + 20))
                XCTAssertEqual(transition.lateness, .zero)
                seen += 1
            }
        }
        XCTAssertEqual(seen, last.count)
        XCTAssertEqual(tracker.count, 999)
        let snapshot = tracker.snapshot()
        XCTAssertEqual(snapshot.count, 999)
        XCTAssertEqual(snapshot.map(\.node), snapshot.map(\.node).sorted())
        XCTAssertTrue(snapshot.allSatisfy { $0.state == .notReady && $0.nextTransitionAt == $0.lastRenewal + .seconds(40) })
    }

    func testRemovedNodeDropsItsPendingRescheduleAndNameCanReturn() throws {
        let tracker = try makeTracker()
        tracker.register(node: "gone", now: at(0))
        XCTAssertEqual(tracker.tick(now: at(60)).count, 2)
        tracker.remove(node: "gone")
        XCTAssertEqual(tracker.nodesDueForReschedule(now: at(60)), [])
        XCTAssertTrue(tracker.register(node: "gone", now: at(61)))
        XCTAssertFalse(tracker.register(node: "gone", now: at(62)), "re-registering counts as a renewal")
        XCTAssertEqual(tracker.nextDeadline(), at(82))
        XCTAssertEqual(tracker.tick(now: at(81)), [])
    }

    func testConfigValidationNamesTheField() {
        func field(_ config: LeaseConfig) -> String? {
            do { try config.validate(); return nil } catch { return error.field }
        }
        XCTAssertEqual(field(LeaseConfig(notReadyAfter: .seconds(40), downAfter: .seconds(40))), "notReadyAfter")
        XCTAssertEqual(field(LeaseConfig(notReadyAfter: .seconds(50))), "notReadyAfter")
        XCTAssertEqual(field(LeaseConfig(renewEvery: .seconds(20))), "renewEvery")
        XCTAssertEqual(field(LeaseConfig(renewEvery: .zero)), "renewEvery")
        XCTAssertEqual(field(LeaseConfig(rescheduleMargin: .seconds(-1))), "rescheduleMargin")
        XCTAssertNil(field(LeaseConfig(rescheduleMargin: .zero)))
        do {
            _ = try LeaseTracker(config: LeaseConfig(notReadyAfter: .seconds(45)))
            XCTFail("accepted notReadyAfter > downAfter")
        } catch {
            XCTAssertEqual(error.field, "notReadyAfter")
            XCTAssertTrue(error.description.contains("notReadyAfter") && error.description.contains("downAfter"), error.description)
        }
    }
}

/// Small deterministic PRNG (SplitMix64) so the many-node test is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
