// WorkflowRetryTests.swift — `WorkflowState.retry` (aegis workflow retry) on the pure planner:
// succeeded instances stay, the rest run again as their next attempt with `retry.limit` counted
// afresh; a fan-out keeps its succeeded items; the workflow timeout runs from the retry; and
// `Workflow.dagOrder`.
import AegisProtocol
import AegisWorkflow
import XCTest

final class WorkflowRetryTests: XCTestCase {
    /// a succeeds, b fails for good (limit 1), c is skipped; the retry runs b as attempt 3 (its
    /// limit counted again: a failure of attempt 3 is retried once more) then c; a never again.
    func testRetryRunsWhatDidNotSucceedAsNewAttempts() throws {
        let text = Fixtures.steps(
            agent("a") + agent("b", "dependencies: [a]\nretry: {limit: 1}") + agent("c", "dependencies: [b]"))
        var h = Harness(try Fixtures.parse(text))
        h.settle()
        h.finish("a")
        h.settle()
        h.finish("b", .exited(1))
        h.settle()
        h.finish("b", .exited(1))
        XCTAssertEqual(h.settle().actions.last, .finish(.failed))
        XCTAssertEqual(h.state.phase(of: "c"), .skipped)

        XCTAssertTrue(h.state.isRetryable)
        let reset = h.state.retry(h.wf, at: h.now + 5)
        XCTAssertEqual(reset, [InstanceKey(step: "b"), InstanceKey(step: "c")])
        XCTAssertEqual(h.state.phase, .running)
        XCTAssertEqual(h.state.retries, 1)
        XCTAssertNil(h.state.finishedAt)
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/b/-/3"])
        h.finish("b", .exited(1))
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/b/-/4"], "retry.limit is counted from the workflow's retry")
        h.finish("b")
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/c/-/1"])
        h.finish("c")
        XCTAssertEqual(h.settle().actions, [.finish(.succeeded)])
        XCTAssertEqual(starts(h.log).filter { $0.contains("/a/") }, ["wf-1/a/-/1"])
        XCTAssertTrue(h.state.retry(h.wf, at: h.now).isEmpty, "a succeeded workflow is not retried")
    }

    /// A failed fan-out keeps its succeeded items; the failed and the skipped ones run again.
    func testRetryOfAFanOutKeepsItsSucceededItems() throws {
        let text = Fixtures.steps(agent("work", "withItems: [x, y, z]\nparallelism: 1"))
        var h = Harness(try Fixtures.parse(text))
        h.settle()
        h.finish("work", item: 0)
        h.settle()
        h.finish("work", item: 1, .exited(2))
        XCTAssertEqual(h.settle().actions.last, .finish(.failed))
        XCTAssertEqual(h.state.steps["work"]?.instances.map(\.phase), [.succeeded, .failed, .skipped])
        h.state.retry(h.wf, at: h.now)
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/work/1/2"])
        h.finish("work", item: 1)
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/work/2/1"])
        h.finish("work", item: 2)
        XCTAssertEqual(h.settle().actions, [.finish(.succeeded)])
    }

    /// A cancelled workflow can be retried; its timeout then runs from the retry.
    func testCancelledWorkflowRetriedWithItsTimeoutFromTheRetry() throws {
        var h = Harness(try Fixtures.parse(Fixtures.steps(agent("a"), header: "timeout: 10s\n")))
        h.settle()
        XCTAssertTrue(h.state.record(.cancel, at: h.now))
        h.settle()
        h.finish("a", .stopped)
        XCTAssertEqual(h.settle().actions.last, .finish(.cancelled))
        h.now += 60_000
        h.state.retry(h.wf, at: h.now)
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/a/-/2"])
        h.now += 9_999
        XCTAssertEqual(h.settle().actions, [])
        h.now += 1
        XCTAssertEqual(h.settle().actions, [.stopWorkflow(.workflowTimeout), .stop(h.running[0], .workflowTimeout)])
    }

    func testDagOrderPutsDependenciesFirst() throws {
        let text = Fixtures.steps(agent("late", "dependencies: [early]") + agent("early") + agent("solo"))
        XCTAssertEqual(try Fixtures.parse(text).dagOrder.map(\.name), ["early", "late", "solo"])
    }
}
