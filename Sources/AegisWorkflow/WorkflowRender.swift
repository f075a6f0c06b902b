// WorkflowRender.swift — the DAG with each step's state: a DOT graph (`describe --output dot`) and
// plain lines for the terminal.

import AegisProtocol

/// Renders a workflow run.
public enum WorkflowRender {
    /// A Graphviz DOT digraph: one node per step (label: name, phase, and for a fan-out the count of
    /// items per phase), an edge from each dependency to its dependant, onExit steps in a dashed
    /// cluster. Fill colours by phase. Deterministic: manifest order.
    public static func dot(_ workflow: Workflow, _ state: WorkflowState) -> String {
        let phases = WorkflowPlanner.displayPhases(workflow, state)
        var out =
            "digraph \(quote(workflow.name)) {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n"
        func node(_ s: Step, indent: String) {
            let phase = phases[s.name] ?? .pending
            var label = "\(s.name)\\n\(phase.rawValue)"
            if let counts = itemCounts(s.name, state) { label += "\\n" + counts }
            if case .approval = s.kind { label += "\\n(approval)" }
            out += "\(indent)\(quote(s.name)) [label=\(quote(label, escaped: true)), fillcolor=\"\(color(phase))\"];\n"
        }
        for s in workflow.steps { node(s, indent: "  ") }
        if !workflow.onExit.isEmpty {
            out += "  subgraph \"cluster_onExit\" {\n    label=\"onExit\";\n    style=dashed;\n"
            for s in workflow.onExit { node(s, indent: "    ") }
            out += "  }\n"
        }
        for s in workflow.allSteps {
            for d in s.dependencies { out += "  \(quote(d)) -> \(quote(s.name));\n" }
        }
        return out + "}\n"
    }

    /// One line per step in manifest order, indented by depth in the DAG:
    /// `[✓] plan  succeeded`, `[~] work  running  3/20 succeeded, 4 running`, `[?] review  waitingApproval`.
    /// onExit steps follow under an `onExit:` line. Pure text, no colours.
    public static func text(_ workflow: Workflow, _ state: WorkflowState) -> String {
        let phases = WorkflowPlanner.displayPhases(workflow, state)
        var depth: [String: Int] = [:]
        for s in workflow.allSteps { depth[s.name] = (s.dependencies.compactMap { depth[$0] }.max() ?? -1) + 1 }
        let width = workflow.allSteps.map { $0.name.count + 2 * (depth[$0.name] ?? 0) }.max() ?? 0
        var out = "workflow \(workflow.name)  \(state.phase.rawValue)\n"
        func line(_ s: Step) {
            let phase = phases[s.name] ?? .pending
            let name = String(repeating: "  ", count: depth[s.name] ?? 0) + s.name
            var l = "  [\(mark(phase))] " + name + String(repeating: " ", count: width - name.count) + "  " + phase.rawValue
            if let counts = itemCounts(s.name, state) { l += "  " + counts }
            if let why = reason(s.name, state) { l += "  (" + why + ")" }
            out += l + "\n"
        }
        workflow.steps.forEach(line)
        if !workflow.onExit.isEmpty {
            out += "onExit:\n"
            workflow.onExit.forEach(line)
        }
        return out
    }

    /// For a fan-out: `N/M succeeded` plus the other non-zero phases (`2 running, 1 failed`).
    static func itemCounts(_ step: String, _ state: WorkflowState) -> String? {
        guard let s = state.steps[step], let items = s.items else { return nil }
        var parts = ["\(s.instances.filter { $0.phase == .succeeded }.count)/\(items.count) succeeded"]
        for p in InstancePhase.allCases where p != .succeeded {
            let n = s.instances.filter { $0.phase == p }.count
            if n > 0 { parts.append("\(n) \(p.rawValue)") }
        }
        return parts.joined(separator: ", ")
    }

    /// Why a plain step was skipped or failed, briefly.
    static func reason(_ step: String, _ state: WorkflowState) -> String? {
        guard let s = state.steps[step] else { return nil }
        switch s.settled {
        case .skipped(let r): return describe(r)
        case .failed(let r): return describe(r)
        case .cancelled, nil: break
        }
        guard s.items == nil, let inst = s.instances.first else { return nil }
        if let r = inst.skip { return describe(r) }
        if let r = inst.failure { return describe(r) }
        if inst.phase == .retryWaiting { return "attempt \(inst.attempt) failed, retry \(inst.attempt + 1) scheduled" }
        return inst.attempt > 1 ? "attempt \(inst.attempt)" : nil
    }

    static func describe(_ r: SkipReason) -> String {
        switch r {
        case .conditionFalse: return "condition false"
        case .dependencyFailed(let d): return "dependency \(d) failed"
        case .noResult(let s): return "\(s) has no result"
        case .fanOutFailed: return "another item failed"
        }
    }

    static func describe(_ r: FailureReason) -> String {
        switch r {
        case .attempt(let o):
            switch o {
            case .exited(let c): return "exit code \(c)"
            case .oomKilled: return "out of memory"
            case .timedOut: return "agent timeout"
            case .error(let m): return "error: \(m)"
            case .lost: return "node lost"
            case .stopped: return "stopped"
            }
        case .stepTimedOut: return "step timeout"
        case .workflowTimedOut: return "workflow timeout"
        case .rejected: return "rejected"
        case .approvalTimedOut: return "approval timed out"
        case .outputUnavailable(let s, let f): return "output \(f) of \(s) unavailable"
        case .badFanOut(let m): return m
        case .condition(let m): return "condition: \(m)"
        }
    }

    static func mark(_ p: InstancePhase) -> String {
        switch p {
        case .succeeded: return "✓"
        case .failed: return "✗"
        case .running: return "~"
        case .skipped: return "-"
        case .cancelled: return "x"
        case .waitingApproval: return "?"
        case .retryWaiting, .attemptFailed: return "↻"
        case .ready: return ">"
        case .pending: return " "
        }
    }

    static func color(_ p: InstancePhase) -> String {
        switch p {
        case .succeeded: return "palegreen"
        case .failed: return "lightcoral"
        case .running: return "lightskyblue"
        case .skipped, .cancelled: return "lightgray"
        case .waitingApproval: return "khaki"
        case .retryWaiting, .attemptFailed: return "orange"
        case .ready: return "lightcyan"
        case .pending: return "white"
        }
    }

    /// A DOT ID in double quotes; `escaped` keeps `\n` sequences already in the text.
    static func quote(_ s: String, escaped: Bool = false) -> String {
        var out = "\""
        for c in s {
            if c == "\"" { out += "\\\"" } else if c == "\\" && !escaped { out += "\\\\" } else { out.append(c) }
        }
        return out + "\""
    }
}
