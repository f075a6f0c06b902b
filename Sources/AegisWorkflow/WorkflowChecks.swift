// WorkflowChecks.swift — the checks across steps: names, the dependency graph, and every reference
// to another step's results (from, withOutput, templates, when) or to a parameter.

import AegisManifest
import AegisProtocol

struct WorkflowChecks {
    let steps: [ParsedStep]
    let stepsField: Field
    let parameters: [Workflow.Parameter]
    let index: [String: Int]

    init(_ steps: [ParsedStep], stepsField: Field, parameters: [Workflow.Parameter]) {
        self.steps = steps
        self.stepsField = stepsField
        self.parameters = parameters
        var index: [String: Int] = [:]
        for (i, s) in steps.enumerated() where index[s.step.name] == nil { index[s.step.name] = i }
        self.index = index
    }

    func run() throws {
        try checkNames()
        try checkDependencies()
        try checkCycles()
        let ancestors = self.ancestors()
        for (i, s) in steps.enumerated() { try checkReferences(s, readable: ancestors[i]) }
    }

    func checkNames() throws {
        for (i, s) in steps.enumerated() where index[s.step.name] != i {
            let first = steps[index[s.step.name]!]
            throw s.nameField.error("duplicate step name \(s.step.name) (also \(first.nameField.path))")
        }
    }

    func checkDependencies() throws {
        let names = steps.map(\.step.name)
        for s in steps {
            var seen = Set<String>()
            for (name, field) in zip(s.step.dependencies, s.dependencyFields) {
                guard let j = index[name] else {
                    let hint = Suggest.closest(to: name, in: names).map { " (did you mean \($0)?)" } ?? ""
                    throw field.error("unknown step \(Quantity.quoted(name))\(hint)")
                }
                if name == s.step.name { throw field.error("a step cannot depend on itself") }
                if !seen.insert(name).inserted { throw field.error("\(name) is listed twice") }
                let other = steps[j].step
                if other.isExitHandler != s.step.isExitHandler {
                    throw field.error(
                        s.step.isExitHandler
                            ? "\(name) is not an onExit step; onExit steps run after every step and depend only on each other"
                            : "\(name) is an onExit step, which runs after every step")
                }
            }
        }
    }

    /// Depth-first search in manifest order; the first cycle found is named in full.
    func checkCycles() throws {
        var state = [UInt8](repeating: 0, count: steps.count)  // 0 new, 1 on the path, 2 done
        var path: [Int] = []
        func visit(_ i: Int) throws {
            state[i] = 1
            path.append(i)
            for (k, dep) in steps[i].step.dependencies.enumerated() {
                let j = index[dep]!
                if state[j] == 1 {
                    let cycle = path[path.firstIndex(of: j)!...].map { steps[$0].step.name } + [steps[j].step.name]
                    throw ManifestError(
                        path: stepsField.path, line: steps[i].dependencyFields[k].node.mark?.line,
                        column: steps[i].dependencyFields[k].node.mark?.column,
                        message: "dependency cycle " + cycle.reversed().joined(separator: " → "))
                }
                if state[j] == 0 { try visit(j) }
            }
            path.removeLast()
            state[i] = 2
        }
        for i in steps.indices where state[i] == 0 { try visit(i) }
    }

    /// For each step, the steps whose results it may read: its direct and indirect dependencies,
    /// and for onExit steps every main step too.
    func ancestors() -> [Set<String>] {
        var memo: [Set<String>?] = Array(repeating: nil, count: steps.count)
        func of(_ i: Int) -> Set<String> {
            if let m = memo[i] { return m }
            var out = Set<String>()
            for dep in steps[i].step.dependencies {
                out.insert(dep)
                out.formUnion(of(index[dep]!))
            }
            memo[i] = out
            return out
        }
        let main = Set(steps.filter { !$0.step.isExitHandler }.map(\.step.name))
        return steps.indices.map { of($0).union(steps[$0].step.isExitHandler ? main : []) }
    }

    func checkReferences(_ s: ParsedStep, readable: Set<String>) throws {
        if case .output(let ref) = s.step.fanOut, let f = s.fanOutField {
            try checkOutput(ref, at: f, readable: readable, what: "withOutput")
        }
        for (input, f) in zip(s.step.inputs, s.inputFields) {
            try checkOutput(input.from, at: f, readable: readable, what: "from")
        }
        for (field, template) in s.templateSites {
            for ref in template.refs { try checkTemplate(ref, of: s, at: field, readable: readable) }
        }
        if let when = s.step.when, let f = s.whenField {
            for ref in when.refs { try checkTemplate(ref, of: s, at: f, readable: readable) }
        }
    }

    func checkOutput(_ ref: OutputRef, at field: Field, readable: Set<String>, what: String) throws {
        let producer = try readableStep(ref.step, at: field, readable: readable, what: what)
        guard producer.outputs.contains(ref.path) else {
            throw field.error("\(ref.path) is not among the outputs of \(ref.step) (add it to its outputs:)")
        }
    }

    func checkTemplate(_ ref: TemplateRef, of s: ParsedStep, at field: Field, readable: Set<String>) throws {
        switch ref {
        case .parameter(let name):
            guard parameters.contains(where: { $0.name == name }) else {
                let known =
                    parameters.isEmpty ? "the workflow has no parameters" : "parameters: " + parameters.map(\.name).joined(separator: ", ")
                throw field.error("\(ref) names an unknown parameter (\(known))")
            }
        case .item:
            guard s.step.fanOut != nil else { throw field.error("\(ref) is only set in a fan-out (withItems or withOutput)") }
        case .workflowStatus:
            guard s.step.isExitHandler else { throw field.error("\(ref) is only set in onExit steps") }
        case .exitCode(let step):
            _ = try readableStep(step, at: field, readable: readable, what: "\(ref)")
        case .output(let step, let file):
            let producer = try readableStep(step, at: field, readable: readable, what: "\(ref)")
            guard producer.outputs.contains(file) else {
                throw field.error("\(ref): \(file) is not among the outputs of \(step) (add it to its outputs:)")
            }
        }
    }

    /// The step `name` when `what` may read its results: known, an (indirect) dependency, one
    /// agent instance (not a fan-out, not an approval).
    func readableStep(_ name: String, at field: Field, readable: Set<String>, what: String) throws -> Step {
        guard let j = index[name] else {
            let hint = Suggest.closest(to: name, in: steps.map(\.step.name)).map { " (did you mean \($0)?)" } ?? ""
            throw field.error("\(what) names an unknown step \(Quantity.quoted(name))\(hint)")
        }
        guard readable.contains(name) else {
            throw field.error("\(what) reads \(name), which is not a dependency (direct or indirect); add it to dependencies")
        }
        let producer = steps[j].step
        guard case .agent = producer.kind else { throw field.error("\(what) reads \(name), an approval, which has no results") }
        guard producer.fanOut == nil else {
            throw field.error("\(what) reads \(name), a fan-out, whose results are per item; read them in a step of its own")
        }
        return producer
    }
}
