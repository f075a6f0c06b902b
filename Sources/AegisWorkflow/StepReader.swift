// StepReader.swift — one step of a workflow manifest: its own fields, checked in isolation (the
// graph and the references between steps are WorkflowChecks').

import AegisManifest
import AegisProtocol
import Yams

/// A step with the manifest nodes its errors point at.
struct ParsedStep {
    var step: Step
    let field: Field
    let nameField: Field
    var dependencyFields: [Field] = []
    var fanOutField: Field?
    var inputFields: [Field] = []
    var whenField: Field?
    /// Each templated scalar of the agent spec, with its parsed template.
    var templateSites: [(field: Field, template: Template)] = []

    var isAgent: Bool { if case .agent = step.kind { return true } else { return false } }
}

struct StepReader {
    let parameters: [Workflow.Parameter]
    let uploads: [String: [String: [UInt8]]]
    let tenant: String

    static let agentFields = [
        "name", "type", "agent", "dependencies", "withItems", "withOutput", "parallelism", "inputs", "outputs", "when", "retry", "timeout",
    ]
    static let approvalFields = ["name", "type", "dependencies", "when", "timeout"]
    /// Fields of an agent spec whose strings may hold templates (env: its values).
    static let templatedAgentFields = ["command", "args", "env", "script"]

    func readSteps(_ field: Field, exitHandlers: Bool) throws -> [ParsedStep] {
        try field.items("a list of steps").map { try readStep($0, exitHandler: exitHandlers) }
    }

    func readStep(_ field: Field, exitHandler: Bool) throws -> ParsedStep {
        guard case .mapping = field.node else { throw field.error("a step is a mapping (name:, agent:, …), found \(field.kind)") }
        let typeField = try field.pairs().first { $0.key == "type" }?.value
        let type = try typeField.map { try $0.scalar("a step type") } ?? "agent"
        guard type == "agent" || type == "approval" else {
            throw typeField!.error("\(Quantity.quoted(type)) is not a step type (agent, approval)")
        }
        let f = try field.mapping(allowed: type == "approval" ? Self.approvalFields : Self.agentFields)
        let nameField = try f.required("name", hint: " (a step name like plan)")
        let name = try nameField.scalar("a name")
        guard WorkflowNames.isStepName(name) else { throw nameField.error(WorkflowParser.nameRule(name)) }

        var parsed = ParsedStep(step: Step(name: name, kind: .approval, isExitHandler: exitHandler), field: field, nameField: nameField)
        if type == "agent" {
            let agentField = try f.required("agent", hint: " (the agent spec: runtime, script or file, resources, …)")
            let spec = try ManifestParser.parseEmbedded(agentField, name: name, inputs: uploads[name] ?? [:], defaultTenant: tenant)
            if spec.network == .host {
                // Refused at load, not when the step starts: steps run as the workflow's tenant.
                throw (try agentField.pairs().first { $0.key == "network" }?.value ?? agentField).error(
                    "network: host is not allowed in a workflow step (steps run as the tenant; host networking is admin-only)")
            }
            let hasScript = try agentField.pairs().contains { $0.key == "script" }
            parsed.step.kind = .agent(spec, scriptPath: hasScript ? "main." + RuntimeCommands.scriptExtension(for: spec.runtime) : nil)
            parsed.templateSites = try templateSites(in: agentField, top: true)
        }
        if let d = f["dependencies"] {
            parsed.dependencyFields = try d.items("a list of step names")
            parsed.step.dependencies = try parsed.dependencyFields.map { try $0.scalar("a step name") }
        }
        try readFanOut(f, into: &parsed)
        parsed.step.parallelism = try f["parallelism"].map {
            try WorkflowParser.integer($0, in: WorkflowLimits.parallelismRange, what: "a number of instances")
        }
        if let p = f["parallelism"], parsed.step.fanOut == nil {
            throw p.error("parallelism bounds a fan-out; give withItems or withOutput")
        }
        try readInputs(f["inputs"], into: &parsed)
        if let o = f["outputs"] {
            for item in try o.items("a list of output file paths") {
                let path = try relativePath(item, what: "output file")
                if parsed.step.outputs.contains(path) { throw item.error("\(path) is listed twice") }
                parsed.step.outputs.append(path)
            }
        }
        if let w = f["when"] {
            parsed.whenField = w
            let text = try w.scalar("a condition such as \"{{steps.plan.exitCode}} == 0\"")
            do { parsed.step.when = try Condition(text) } catch { throw w.error(error.message) }
        }
        parsed.step.retry = try f["retry"].map { try readRetry($0) }
        parsed.step.timeoutSeconds = try f["timeout"].map { try WorkflowParser.duration($0) }
        return parsed
    }

    /// `withItems: [a, b]` or `withItems: "{{parameters.X}}"` (a JSON list), or `withOutput: {step, path}`.
    func readFanOut(_ f: Fields, into parsed: inout ParsedStep) throws {
        if let w = f["withItems"], let o = f["withOutput"] { _ = w; throw o.error("give withItems or withOutput, not both") }
        if let w = f["withItems"] {
            parsed.fanOutField = w
            if case .sequence = w.node {
                parsed.step.fanOut = .items(try w.items().map { try $0.scalar("an item (a string or number)") })
            } else {
                let text = try w.scalar("a list of items, or {{parameters.NAME}} holding a JSON list")
                let template: Template
                do { template = try Template.parse(text) } catch { throw w.error(error.message) }
                guard template.parts.count == 1, case .ref(.parameter(let p)) = template.parts[0] else {
                    throw w.error("a fan-out needs a list, found \(w.kind) (write [a, b] or {{parameters.NAME}} holding a JSON list)")
                }
                guard let value = parameters.first(where: { $0.name == p })?.value else { throw w.error("unknown parameter \(p)") }
                guard let items = FanOutItems.jsonList(value) else {
                    throw w.error(
                        "a fan-out needs a list: parameter \(p) is \(Quantity.quoted(value)), not a JSON list such as [\"a\", \"b\"]")
                }
                parsed.step.fanOut = .items(items)
            }
            if case .items(let items) = parsed.step.fanOut!, items.count > WorkflowLimits.maxFanOutItems {
                throw w.error("\(items.count) items, over the limit of \(WorkflowLimits.maxFanOutItems)")
            }
        }
        if let o = f["withOutput"] {
            parsed.fanOutField = o
            parsed.step.fanOut = .output(try outputRef(o))
        }
    }

    func readInputs(_ field: Field?, into parsed: inout ParsedStep) throws {
        guard let field else { return }
        for item in try field.items("a list of inputs ({from: {step, path}, path})") {
            let m = try item.mapping(allowed: ["from", "path"])
            let from = try outputRef(try m.required("from", hint: " ({step: NAME, path: FILE})"))
            let pathField = try m.required("path", hint: " (where the file goes in the working directory)")
            let path = try relativePath(pathField, what: "input")
            if parsed.step.inputs.contains(where: { $0.path == path }) { throw pathField.error("\(path) is the path of another input") }
            if case .agent(let spec, _) = parsed.step.kind {
                if spec.inputs[path] != nil { throw pathField.error("\(path) is also an uploaded file or the script") }
                if path == spec.outputDir || path.hasPrefix(spec.outputDir + "/") {
                    throw pathField.error("\(path) is in the output directory \(spec.outputDir)")
                }
            }
            parsed.inputFields.append(item)
            parsed.step.inputs.append(InputFrom(from: from, path: path))
        }
    }

    func outputRef(_ field: Field) throws -> OutputRef {
        let m = try field.mapping(allowed: ["step", "path"])
        let step = try m.required("step", hint: " (the step whose output it is)").scalar("a step name")
        let path = try relativePath(try m.required("path", hint: " (a file of that step's outputs)"), what: "output file")
        return OutputRef(step: step, path: path)
    }

    func relativePath(_ field: Field, what: String) throws -> String {
        let raw = try field.scalar("a relative path")
        let parts = raw.split(separator: "/", omittingEmptySubsequences: false)
        guard !raw.isEmpty, !raw.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }), !raw.utf8.contains(0)
        else {
            throw field.error("\(Quantity.quoted(raw)) is not a relative \(what) path (no leading /, no . or .. components)")
        }
        return raw
    }

    /// `retry: {limit, backoff: {duration, factor, max}, on: [failure, error, oom, lost]}`.
    func readRetry(_ field: Field) throws -> RetryPolicy {
        let f = try field.mapping(allowed: ["limit", "backoff", "on"])
        let limit = try WorkflowParser.integer(
            try f.required("limit", hint: " (retries after the first attempt)"), in: WorkflowLimits.retryLimitRange,
            what: "a number of retries")
        var policy = RetryPolicy(limit: limit)
        if let b = f["backoff"] {
            let m = try b.mapping(allowed: ["duration", "factor", "max"])
            let duration = try WorkflowParser.duration(try m.required("duration", hint: " (the first wait, e.g. 1s)"))
            var factor = 2.0
            if let ff = m["factor"] {
                let text = try ff.scalar("a number")
                guard let x = ConditionParser.numberValue(text), (1...10).contains(x) else {
                    throw ff.error("\(Quantity.quoted(text)) is not a factor from 1 to 10")
                }
                factor = x
            }
            let maxSeconds = try m["max"].map { try WorkflowParser.duration($0) }
            if let maxSeconds, maxSeconds < duration { throw m["max"]!.error("max is below duration \(duration) s") }
            policy.backoff = .init(durationSeconds: duration, factor: factor, maxSeconds: maxSeconds)
        }
        if let o = f["on"] {
            var kinds = Set<RetryOn>()
            for item in try o.items("a list of failure kinds") {
                let text = try item.scalar("a failure kind")
                guard let kind = RetryOn(rawValue: text) else {
                    throw item.error(
                        "\(Quantity.quoted(text)) is not a failure kind (\(RetryOn.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                kinds.insert(kind)
            }
            guard !kinds.isEmpty else { throw o.error("name at least one failure kind, or leave out on:") }
            policy.on = kinds
        }
        return policy
    }

    /// Every scalar of the agent spec holding `{{`, parsed; templates outside command, args, env
    /// and script are refused (those fields are read when the workflow is loaded).
    func templateSites(in field: Field, top: Bool) throws -> [(field: Field, template: Template)] {
        switch field.node {
        case .scalar:
            guard let text = try? field.scalar(), Template.mayContainReferences(text) else { return [] }
            do { return [(field, try Template.parse(text))] } catch { throw field.error(error.message) }
        case .sequence:
            return try field.items().flatMap { try templateSites(in: $0, top: false) }
        case .mapping:
            var out: [(field: Field, template: Template)] = []
            for (key, _, value) in try field.pairs() {
                let sites = try templateSites(in: value, top: false)
                if top, let first = sites.first, !Self.templatedAgentFields.contains(key) {
                    throw first.field.error("templates are allowed only in command, args, env values and script")
                }
                out += sites
            }
            return out
        case .alias:
            return []
        }
    }
}
