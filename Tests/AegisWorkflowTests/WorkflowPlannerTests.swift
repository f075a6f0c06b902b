import AegisProtocol
import AegisWorkflow
import XCTest

final class WorkflowPlannerTests: XCTestCase {
    /// plan → 20 workers (4 at a time, fed plan's list) → reduce; onExit sees Succeeded.
    func testFanOutOfTwentyThenJoin() throws {
        let text = Fixtures.steps(
            agent("plan", "outputs: [tasks.txt]")
                + agent(
                    "work",
                    "dependencies: [plan]\nwithOutput: {step: plan, path: tasks.txt}\nparallelism: 4\ninputs: [{from: {step: plan, path: tasks.txt}, path: in/tasks.txt}]",
                    command: "[echo, \"{{item}}\"]")
                + agent("reduce", "dependencies: [work]")
                + "onExit:\n" + agent("notify", command: "[echo, \"{{workflow.status}}\"]"),
            header: "parallelism: 8\n")
        var h = Harness(try Fixtures.parse(text))
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/plan/-/1"])
        h.finish("plan", outputs: ["tasks.txt": (0..<20).map { "task-\($0)" }.joined(separator: "\n")])
        let plan = h.settle()
        XCTAssertEqual(plan.actions.first, .expand(step: "work", items: (0..<20).map { "task-\($0)" }))
        XCTAssertEqual(starts(plan.actions), (0..<4).map { "wf-1/work/\($0)/1" })
        XCTAssertEqual(spec(plan.actions, "wf-1/work/2/1")?.args, ["echo", "task-2"])
        guard case .start(_, _, let inputs) = plan.actions[1] else { return XCTFail() }
        XCTAssertEqual(
            inputs, [InputCopy(source: h.state.identity(InstanceKey(step: "plan"), attempt: 1), file: "tasks.txt", path: "in/tasks.txt")])
        var started = 4
        while let id = h.running.first, id.key.step == "work" {
            XCTAssertLessThanOrEqual(h.running.count, 4)
            h.finish(id)
            started += starts(h.settle().actions).filter { $0.contains("/work/") }.count
        }
        XCTAssertEqual(started, 20)
        XCTAssertEqual(h.state.phase(of: "work"), .succeeded)
        XCTAssertEqual(h.running.map(\.description), ["wf-1/reduce/-/1"])
        h.finish("reduce")
        let exit = h.settle()
        XCTAssertEqual(exit.actions.first, .runExitHandlers(mainOutcome: .succeeded))
        XCTAssertEqual(spec(exit.actions, "wf-1/notify/-/1")?.args, ["echo", "Succeeded"])
        h.finish("notify")
        XCTAssertEqual(h.settle().actions, [.finish(.succeeded)])
        XCTAssertEqual(h.state.phase, .succeeded)
        XCTAssertTrue(h.settle().actions.isEmpty)
    }

    func testConditionalBranchTakenAndSkipped() throws {
        let text = Fixtures.steps(
            agent("check", "outputs: [verdict]")
                + agent(
                    "good", "dependencies: [check]\nwhen: \"{{steps.check.exitCode}} == 0 && '{{steps.check.outputs.verdict}}' == 'ok'\"")
                + agent("bad", "dependencies: [check]\nwhen: \"{{steps.check.exitCode}} != 0\"")
                + agent("after-bad", "dependencies: [bad]")
                + agent("reads-bad", "dependencies: [bad]\nwhen: \"{{steps.bad.exitCode}} == 0\""))
        var h = Harness(try Fixtures.parse(text))
        h.settle()
        h.finish("check", outputs: ["verdict": "ok"])
        let plan = h.settle()
        XCTAssertEqual(starts(plan.actions), ["wf-1/good/-/1", "wf-1/after-bad/-/1"])
        XCTAssertTrue(plan.actions.contains(.skip(InstanceKey(step: "bad"), .conditionFalse)))
        XCTAssertTrue(plan.actions.contains(.skip(InstanceKey(step: "reads-bad"), .noResult("bad"))))
        h.finish("good")
        h.finish("after-bad")
        XCTAssertEqual(h.settle().actions, [.finish(.succeeded)])
    }

    /// Fails twice (exit 1), waits 1 s then 2 s, succeeds on attempt 3; an OOM kill (not in on:) fails at once.
    func testRetryWithBackoffHonoursOn() throws {
        let text = Fixtures.steps(
            agent("flaky", "retry: {limit: 3, backoff: {duration: 1s, factor: 2, max: 30s}, on: [failure]}")
                + agent("oom", "retry: {limit: 3, on: [failure]}"))
        var h = Harness(try Fixtures.parse(text))
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/flaky/-/1", "wf-1/oom/-/1"])
        h.finish("oom", .oomKilled)
        h.finish("flaky", .exited(1))
        var plan = h.settle()
        XCTAssertEqual(
            plan.actions,
            [
                .scheduleRetry(InstanceKey(step: "flaky"), attempt: 2, at: h.now + 1000),
                .fail(InstanceKey(step: "oom"), .attempt(.oomKilled)),
            ])
        XCTAssertEqual(plan.wakeAt, h.now + 1000)
        h.now += 999
        XCTAssertEqual(h.settle().actions, [])
        h.now += 1
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/flaky/-/2"])
        h.finish("flaky", .exited(3))
        plan = h.settle()
        XCTAssertEqual(plan.actions, [.scheduleRetry(InstanceKey(step: "flaky"), attempt: 3, at: h.now + 2000)])
        h.now += 2000
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/flaky/-/3"])
        XCTAssertFalse(
            h.state.record(.finished(h.state.identity(InstanceKey(step: "flaky"), attempt: 2), .exited(0), outputs: [:]), at: h.now))
        h.finish("flaky")
        XCTAssertEqual(h.state.phase(of: "flaky"), .succeeded)
        XCTAssertEqual(h.settle().actions, [.finish(.failed)])
    }

    func testRetryLimitExhausted() throws {
        var h = Harness(try Fixtures.parse(Fixtures.steps(agent("a", "retry: {limit: 1}"))))
        h.settle()
        h.finish("a", .lost)
        h.settle()
        XCTAssertEqual(h.running.map(\.description), ["wf-1/a/-/2"])
        h.finish("a", .error("image pull failed"))
        XCTAssertEqual(h.settle().actions, [.fail(InstanceKey(step: "a"), .attempt(.error("image pull failed"))), .finish(.failed)])
    }

    /// The step's timeout stops the agent; no retry; dependants are skipped; the workflow fails.
    func testStepTimeout() throws {
        let text = Fixtures.steps(agent("slow", "timeout: 10m\nretry: {limit: 2}") + agent("next", "dependencies: [slow]"))
        var h = Harness(try Fixtures.parse(text))
        h.settle()
        let id = h.running[0]
        h.now += 599_000
        XCTAssertEqual(h.settle().wakeAt, h.now + 1000)
        h.now += 1000
        XCTAssertEqual(h.settle().actions, [.stop(id, .stepTimeout)])
        XCTAssertEqual(h.settle().actions, [])  // the stop is not asked twice
        h.finish(id, .stopped)
        XCTAssertEqual(h.settle().actions, [.skip(InstanceKey(step: "next"), .dependencyFailed("slow")), .finish(.failed)])
        XCTAssertEqual(h.state.instance(InstanceKey(step: "slow"))?.failure, .stepTimedOut)
    }

    func testApprovalGrantedRejectedAndTimedOut() throws {
        let text = Fixtures.steps(
            "  - name: review\n    type: approval\n    timeout: 1h\n" + agent("ship", "dependencies: [review]"))
        let wf = try Fixtures.parse(text)
        var h = Harness(wf)
        XCTAssertEqual(h.settle().actions.first, .awaitApproval(step: "review"))
        XCTAssertEqual(WorkflowPlanner.displayPhases(wf, h.state)["review"], .waitingApproval)
        XCTAssertFalse(h.state.record(.approved(step: "ship"), at: h.now))
        XCTAssertTrue(h.state.record(.approved(step: "review"), at: h.now))
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/ship/-/1"])

        h = Harness(wf)
        h.settle()
        XCTAssertTrue(h.state.record(.rejected(step: "review"), at: h.now))
        XCTAssertEqual(h.settle().actions, [.skip(InstanceKey(step: "ship"), .dependencyFailed("review")), .finish(.failed)])

        h = Harness(wf)
        h.settle()
        h.now += 3_600_000
        XCTAssertEqual(h.settle().actions.first, .fail(InstanceKey(step: "review"), .approvalTimedOut))
    }

    /// Cancel mid-fan-out: running items are stopped, the rest cancelled, onExit still runs.
    func testCancellationCascades() throws {
        let text = Fixtures.steps(
            agent("fan", "withItems: [a, b, c, d]\nparallelism: 2") + agent("after", "dependencies: [fan]")
                + "onExit:\n" + agent("cleanup", command: "[echo, \"{{workflow.status}}\"]"))
        var h = Harness(try Fixtures.parse(text))
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/fan/0/1", "wf-1/fan/1/1"])
        XCTAssertTrue(h.state.record(.cancel, at: h.now))
        XCTAssertFalse(h.state.record(.cancel, at: h.now))
        let plan = h.settle()
        let running = h.running
        XCTAssertEqual(
            plan.actions,
            [
                .stop(running[0], .cancelled), .stop(running[1], .cancelled), .cancel(InstanceKey(step: "fan", item: 2)),
                .cancel(InstanceKey(step: "fan", item: 3)), .cancel(InstanceKey(step: "after")),
            ])
        h.finish(running[0], .stopped)
        h.finish(running[1], .exited(0))  // finished before the kill landed
        let exit = h.settle()
        XCTAssertEqual(exit.actions.first, .runExitHandlers(mainOutcome: .cancelled))
        XCTAssertEqual(spec(exit.actions, "wf-1/cleanup/-/1")?.args, ["echo", "Cancelled"])
        h.finish("cleanup")
        XCTAssertEqual(h.settle().actions, [.finish(.cancelled)])
        XCTAssertEqual(h.state.phase(of: "fan"), .cancelled)
    }

    func testWorkflowTimeoutStopsEverything() throws {
        var h = Harness(try Fixtures.parse(Fixtures.steps(agent("a"), header: "timeout: 1m\n")))
        XCTAssertEqual(h.settle().wakeAt, h.now + 60_000)
        h.now += 60_000
        let id = h.running[0]
        XCTAssertEqual(h.settle().actions, [.stopWorkflow(.workflowTimeout), .stop(id, .workflowTimeout)])
        h.finish(id, .stopped)
        XCTAssertEqual(h.settle().actions, [.finish(.failed)])
        XCTAssertEqual(h.state.instance(InstanceKey(step: "a"))?.failure, .workflowTimedOut)
    }

    /// A failed item stops the fan-out: items not started are skipped; the step fails when the rest end.
    func testFanOutFailsFast() throws {
        var h = Harness(try Fixtures.parse(Fixtures.steps(agent("fan", "withItems: [a, b, c]\nparallelism: 2"))))
        h.settle()
        h.finish("fan", item: 0, .exited(2))
        XCTAssertEqual(
            h.settle().actions,
            [
                .fail(InstanceKey(step: "fan", item: 0), .attempt(.exited(2))), .skip(InstanceKey(step: "fan", item: 2), .fanOutFailed),
            ])
        XCTAssertEqual(h.state.phase(of: "fan"), .running)
        h.finish("fan", item: 1)
        XCTAssertEqual(h.settle().actions, [.finish(.failed)])
    }

    func testWithOutputNotAListFails() throws {
        let text = Fixtures.steps(agent("p", "outputs: [l]") + agent("f", "dependencies: [p]\nwithOutput: {step: p, path: l}"))
        var h = Harness(try Fixtures.parse(text))
        h.settle()
        h.finish("p", outputs: [:])
        XCTAssertEqual(h.settle().actions.first, .fail(InstanceKey(step: "f"), .outputUnavailable(step: "p", file: "l")))
        XCTAssertEqual(h.state.phase(of: "f"), .failed)
    }

    func testIdentityAndWorkflowParallelism() throws {
        XCTAssertEqual(
            PlacementIdentity(workflowID: "wf-9", key: InstanceKey(step: "work", item: 3), attempt: 2).description, "wf-9/work/3/2")
        var h = Harness(try Fixtures.parse(Fixtures.steps(agent("a", "withItems: [1, 2, 3]") + agent("b"), header: "parallelism: 2\n")))
        // The fan-out is expanded in the first round; b, ready then, takes the second slot.
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/b/-/1", "wf-1/a/0/1"])
        h.finish("a", item: 0)
        XCTAssertEqual(starts(h.settle().actions), ["wf-1/a/1/1"])
        XCTAssertEqual(h.running.count, 2)
    }
}
