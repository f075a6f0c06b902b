// Resolve.swift — templates and conditions against a run's results: a pure function from the
// workflow, its state and an instance to the values of `{{…}}`, and to a start-ready spec.

import AegisProtocol

/// Why a template could not be resolved.
public enum ResolveError: Error, Equatable, Sendable {
    /// The step has no result to read: skipped, cancelled, or ended without an exit code (an
    /// out-of-memory kill, a lost node) — the reading instance is skipped.
    case noResult(step: String)
    /// The step ended but the output was not read (missing, or over `WorkflowLimits.maxReadOutputBytes`).
    case outputUnavailable(step: String, file: String)
}

/// The values templates read, for one instance.
public struct TemplateScope: Sendable {
    public let workflow: Workflow
    public let state: WorkflowState
    /// The fan-out item of the instance, if any.
    public let item: String?

    public init(workflow: Workflow, state: WorkflowState, item: String? = nil) {
        self.workflow = workflow
        self.state = state
        self.item = item
    }

    /// The value of `ref`. Parameters, `item` and the workflow status always resolve for a
    /// workflow that passed `WorkflowParser` (an unknown one resolves to the empty string);
    /// step results resolve from the step's only instance.
    public func value(_ ref: TemplateRef) throws(ResolveError) -> String {
        switch ref {
        case .parameter(let name): return workflow.parameter(name) ?? ""
        case .item: return item ?? ""
        case .workflowStatus:
            switch state.mainOutcome ?? state.phase {
            case .succeeded: return "Succeeded"
            case .failed: return "Failed"
            case .cancelled: return "Cancelled"
            case .running: return "Running"
            }
        case .exitCode(let step):
            guard let code = state.instance(InstanceKey(step: step))?.lastOutcome?.exitCode, state.phase(of: step).isTerminal else {
                throw .noResult(step: step)
            }
            return String(code)
        case .output(let step, let file):
            guard let inst = state.instance(InstanceKey(step: step)), inst.phase == .succeeded || inst.phase == .failed,
                inst.lastOutcome != nil
            else { throw .noResult(step: step) }
            guard let text = inst.outputs[file] else { throw .outputUnavailable(step: step, file: file) }
            return text
        }
    }

    /// The step's spec with every template of `args`, `env` values and the inline script resolved.
    public func resolve(_ spec: WorkloadSpec, scriptPath: String?) throws(ResolveError) -> WorkloadSpec {
        var out = spec
        out.args = try spec.args.map { a throws(ResolveError) in try render(a) }
        for (k, v) in spec.env { out.env[k] = try render(v) }
        if let scriptPath, let bytes = spec.inputs[scriptPath] {
            let text = String(decoding: bytes, as: UTF8.self)
            if Template.mayContainReferences(text) { out.inputs[scriptPath] = Array(try render(text).utf8) }
        }
        return out
    }

    /// `text` with its templates resolved (text that does not parse is kept: the parser refused
    /// such workflows).
    public func render(_ text: String) throws(ResolveError) -> String {
        guard Template.mayContainReferences(text), let t = try? Template.parse(text) else { return text }
        return try t.render { r throws(ResolveError) in try value(r) }
    }
}
