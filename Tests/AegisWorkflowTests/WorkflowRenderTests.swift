import AegisWorkflow
import XCTest

final class WorkflowRenderTests: XCTestCase {
    func testDotAndTextShowEachStepsPhase() throws {
        let text = Fixtures.steps(
            agent("plan") + agent("work", "dependencies: [plan]\nwithItems: [a, b, c]")
                + "  - name: review\n    type: approval\n    dependencies: [work]\n"
                + "onExit:\n" + agent("notify"))
        let wf = try Fixtures.parse(text)
        var h = Harness(wf)
        h.settle()
        h.finish("plan")
        h.settle()
        h.finish("work", item: 0)
        h.finish("work", item: 1, .exited(1))
        h.settle()

        let dot = WorkflowRender.dot(wf, h.state)
        XCTAssertTrue(dot.hasPrefix("digraph \"t\" {\n"))
        XCTAssertTrue(dot.contains("\"plan\" [label=\"plan\\nsucceeded\", fillcolor=\"palegreen\"];"), dot)
        XCTAssertTrue(dot.contains("\"work\" [label=\"work\\nrunning\\n1/3 succeeded, 1 running, 1 failed\""), dot)
        XCTAssertTrue(dot.contains("\"review\" [label=\"review\\npending\\n(approval)\", fillcolor=\"white\"];"), dot)
        XCTAssertTrue(dot.contains("subgraph \"cluster_onExit\""))
        XCTAssertTrue(dot.contains("  \"plan\" -> \"work\";\n  \"work\" -> \"review\";\n"))
        XCTAssertTrue(dot.hasSuffix("}\n"))

        XCTAssertEqual(
            WorkflowRender.text(wf, h.state),
            """
            workflow t  running
              [✓] plan        succeeded
              [~]   work      running  1/3 succeeded, 1 running, 1 failed
              [ ]     review  pending
            onExit:
              [ ] notify      pending

            """)
        XCTAssertEqual(WorkflowRender.dot(wf, h.state), dot)  // deterministic
    }

    func testTextGivesReasonsAndReadySteps() throws {
        let text = Fixtures.steps(agent("a", "retry: {limit: 1, backoff: {duration: 5s}}") + agent("b", "when: \"1 == 2\""))
        var h = Harness(try Fixtures.parse(text))
        XCTAssertEqual(WorkflowPlanner.displayPhases(h.wf, h.state)["a"], .ready)
        h.settle()
        h.finish("a", .exited(3))
        h.settle()
        XCTAssertEqual(
            WorkflowRender.text(h.wf, h.state),
            """
            workflow t  running
              [↻] a  retryWaiting  (attempt 1 failed, retry 2 scheduled)
              [-] b  skipped  (condition false)

            """)
    }
}
