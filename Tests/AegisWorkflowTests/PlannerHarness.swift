import AegisProtocol
import AegisWorkflow
import XCTest

/// Drives a workflow the way the engine will: settle, perform, report, settle again.
struct Harness {
    let wf: Workflow
    var state: WorkflowState
    var now: Milliseconds = 1_000_000
    var log: [WorkflowAction] = []

    init(_ wf: Workflow) {
        self.wf = wf
        state = WorkflowState(workflow: wf, id: "wf-1", startedAt: 1_000_000)
    }

    @discardableResult
    mutating func settle() -> WorkflowPlanner.Plan {
        let plan = WorkflowPlanner.settle(wf, &state, now: now)
        log += plan.actions
        return plan
    }

    var running: [PlacementIdentity] {
        wf.allSteps.flatMap { step -> [PlacementIdentity] in
            let s = state.steps[step.name]!
            return s.instances.enumerated().compactMap { i, inst in
                inst.phase == .running
                    ? state.identity(InstanceKey(step: step.name, item: s.items == nil ? nil : i), attempt: inst.attempt) : nil
            }
        }
    }

    mutating func finish(_ id: PlacementIdentity, _ outcome: AttemptOutcome = .exited(0), outputs: [String: String] = [:]) {
        XCTAssertTrue(state.record(.finished(id, outcome, outputs: outputs), at: now), "\(id) was not running")
    }

    mutating func finish(_ step: String, item: Int? = nil, _ outcome: AttemptOutcome = .exited(0), outputs: [String: String] = [:]) {
        let key = InstanceKey(step: step, item: item)
        finish(state.identity(key, attempt: state.instance(key)!.attempt), outcome, outputs: outputs)
    }
}

func starts(_ actions: [WorkflowAction]) -> [String] {
    actions.compactMap { if case .start(let id, _, _) = $0 { return id.description } else { return nil } }
}

func spec(_ actions: [WorkflowAction], _ id: String) -> WorkloadSpec? {
    for case .start(let i, let spec, _) in actions where i.description == id { return spec }
    return nil
}

func agent(_ name: String, _ extra: String = "", command: String = "[echo, hi]") -> String {
    "  - name: \(name)\n    agent: {runtime: command, command: \(command)}\n" + extra.split(separator: "\n").map { "    \($0)\n" }.joined()
}
