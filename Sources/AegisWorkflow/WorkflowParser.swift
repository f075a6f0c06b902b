// WorkflowParser.swift — a workflow manifest (YAML, or JSON read as YAML) → validated `Workflow`.
// The format is described in docs/workflows.md; errors are `ManifestError`s naming the field path
// and line, as agent manifests' are.

import AegisManifest
import AegisProtocol
import Yams

/// Reads workflow manifests.
public enum WorkflowParser {
    static let topLevelFields = ["apiVersion", "kind", "tenant", "name", "parameters", "timeout", "parallelism", "steps", "onExit"]
    public static let apiVersion = "aegis/v1"
    public static let kind = "Workflow"

    /// Parses and validates a workflow manifest.
    ///
    /// - Parameters:
    ///   - text: YAML or JSON, one document, at most `maxManifestBytes` UTF-8 bytes.
    ///   - file: the manifest's name for error messages.
    ///   - overrides: `-p NAME=VALUE` values by name (see `parameterOverrides`); each must name a
    ///     declared parameter, and every parameter declared without a value (`name:` or `name: null`)
    ///     must be given one.
    ///   - uploads: each agent step's uploaded files (its `file` and `files.inputs`), by step name;
    ///     checked as an agent manifest's uploads are.
    ///   - defaultTenant: the caller's tenant; `tenant`, if given, must equal it.
    /// - Throws: the first `ManifestError` found: YAML syntax, unknown or malformed fields, agent
    ///   specs, then the graph (duplicate names, unknown dependencies, cycles), then references
    ///   (`from`, `withOutput`, templates, `when`).
    public static func parse(
        _ text: String, file: String = "workflow", overrides: [String: String] = [:],
        uploads: [String: [String: [UInt8]]] = [:], defaultTenant: String,
        maxManifestBytes: Int = ManifestLimits.defaultMaxManifestBytes
    ) throws -> Workflow {
        do {
            guard text.utf8.count <= maxManifestBytes else {
                throw ManifestError(path: "", message: "workflow is \(text.utf8.count) bytes, over the limit of \(maxManifestBytes) bytes")
            }
            let root = try ManifestParser.compose(text)
            return try build(root, overrides: overrides, uploads: uploads, defaultTenant: defaultTenant)
        } catch var e as ManifestError {
            e.file = file
            throw e
        }
    }

    /// `-p NAME=VALUE` flags → values by name (the first `=` splits; a later flag for the same name
    /// wins). - Throws: `ManifestError` at `-p` for a flag without `=` or with a bad name.
    public static func parameterOverrides(_ flags: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for flag in flags {
            guard let eq = flag.firstIndex(of: "=") else {
                throw ManifestError(path: "-p", message: "\(Quantity.quoted(flag)) is not NAME=VALUE")
            }
            let name = String(flag[..<eq])
            guard WorkflowNames.isParameterName(name) else {
                throw ManifestError(path: "-p", message: "\(Quantity.quoted(name)) is not a parameter name")
            }
            out[name] = String(flag[flag.index(after: eq)...])
        }
        return out
    }

    static func build(
        _ root: Field, overrides: [String: String], uploads: [String: [String: [UInt8]]], defaultTenant: String
    ) throws -> Workflow {
        guard case .mapping = root.node else {
            throw root.error("a workflow is a mapping of fields (apiVersion:, kind:, name:, steps:, …), found \(root.kind)")
        }
        let f = try root.mapping(allowed: topLevelFields)
        try checkHeader(f, defaultTenant: defaultTenant)
        let nameField = try f.required("name", hint: " (a workflow name like research)")
        let name = try nameField.scalar("a name")
        guard WorkflowNames.isStepName(name) else { throw nameField.error(nameRule(name)) }
        let parameters = try readParameters(f["parameters"], overrides: overrides, root: root)
        let timeout = try f["timeout"].map { try duration($0) }
        let parallelism = try f["parallelism"].map { try integer($0, in: WorkflowLimits.parallelismRange, what: "a number of agents") }

        let context = StepReader(parameters: parameters, uploads: uploads, tenant: defaultTenant)
        let stepsField = try f.required("steps", hint: " (a list of steps, each with a name and an agent)")
        var parsed = try context.readSteps(stepsField, exitHandlers: false)
        guard !parsed.isEmpty else { throw stepsField.error("a workflow needs at least one step") }
        if let exitField = f["onExit"] { parsed += try context.readSteps(exitField, exitHandlers: true) }
        if parsed.count > WorkflowLimits.maxSteps {
            throw stepsField.error("\(parsed.count) steps, over the limit of \(WorkflowLimits.maxSteps)")
        }
        if let stray = uploads.keys.sorted().first(where: { n in !parsed.contains { $0.step.name == n && $0.isAgent } }) {
            throw stepsField.error("files were uploaded for \(Quantity.quoted(stray)), which is not an agent step")
        }
        try WorkflowChecks(parsed, stepsField: stepsField, parameters: parameters).run()
        let steps = parsed.map(\.step)
        return Workflow(
            name: name, parameters: parameters, timeoutSeconds: timeout, parallelism: parallelism,
            steps: steps.filter { !$0.isExitHandler }, onExit: steps.filter(\.isExitHandler))
    }

    static func checkHeader(_ f: Fields, defaultTenant: String) throws {
        let api = try f.required("apiVersion", hint: " (apiVersion: \(apiVersion))")
        guard try api.scalar("an API version") == apiVersion else { throw api.error("the API version is \(apiVersion)") }
        let kindField = try f.required("kind", hint: " (kind: \(kind))")
        let k = try kindField.scalar("a kind")
        guard k == kind else {
            throw kindField.error("\(Quantity.quoted(k)) is not \(kind) (agent manifests are read by aegis run -f)")
        }
        if let t = f["tenant"] {
            let tenant = try t.scalar("a tenant name")
            guard tenant == defaultTenant else {
                throw t.error(
                    "workflow is for tenant \(Quantity.quoted(tenant)), but the request comes from tenant \(Quantity.quoted(defaultTenant))"
                )
            }
        }
    }

    /// `parameters: {name: default, …}`; a null default must be overridden.
    static func readParameters(_ field: Field?, overrides: [String: String], root: Field) throws -> [Workflow.Parameter] {
        var out: [Workflow.Parameter] = []
        for (key, keyNode, value) in try field?.pairs() ?? [] {
            guard WorkflowNames.isParameterName(key) else {
                throw Field(keyNode, path: value.path).error(
                    "\(Quantity.quoted(key)) is not a parameter name (letters, digits, _ and -, starting with a letter or _)")
            }
            if let given = overrides[key] {
                out.append(.init(name: key, value: given))
            } else if value.isNull {
                throw value.error("parameter \(key) has no default; give it with -p \(key)=VALUE")
            } else {
                out.append(.init(name: key, value: try value.scalar("a string (write lists as a JSON string)")))
            }
        }
        if let unknown = overrides.keys.sorted().first(where: { k in !out.contains { $0.name == k } }) {
            let known = out.isEmpty ? "this workflow has no parameters" : "this workflow has " + out.map(\.name).joined(separator: ", ")
            throw ManifestError(path: "-p", message: "unknown parameter \(Quantity.quoted(unknown)) (\(known))")
        }
        return out
    }

    static func nameRule(_ name: String) -> String {
        "\(Quantity.quoted(name)) is not a name (1-63 of a-z, 0-9 and -, starting with a letter or digit)"
    }

    static func duration(_ field: Field) throws -> Int {
        let v = try field.scalar("a duration")
        return try field.at { try Quantity.durationSeconds(v, field: field.path) }
    }

    static func integer(_ field: Field, in range: ClosedRange<Int>, what: String) throws -> Int {
        let v = try field.scalar(what)
        guard !v.isEmpty, v.allSatisfy(Quantity.isDigit) || (v.first == "-" && v.dropFirst().allSatisfy(Quantity.isDigit)) else {
            throw field.error("\(Quantity.quoted(v)) is not \(what)")
        }
        guard let n = Int(v), range.contains(n) else {
            throw field.error("\(Quantity.quoted(v)) is out of range \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }
}
