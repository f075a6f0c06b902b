// ManifestParser.swift — a tenant's manifest (YAML, or JSON read as YAML) → validated WorkloadSpec.
// The format is documented on `ManifestParser` in ManifestFormat.swift.

import AegisProtocol
import Yams

extension ManifestParser {
    /// Parses and validates a manifest.
    ///
    /// - Parameters:
    ///   - text: YAML 1.1 (as libyaml reads it) or JSON (a JSON document is read as YAML flow style,
    ///     so its errors get lines and columns too). One document; at most `maxManifestBytes` bytes.
    ///   - file: the manifest's name for error messages (`"agent.yaml"`).
    ///   - inputs: uploaded file contents keyed by relative path. They must be exactly the files
    ///     the manifest names in `file` and `files.inputs` (an entry naming a directory takes every
    ///     upload under it); a named file that is missing, or an upload no field names, is an error.
    ///   - defaultTenant: the caller's tenant; a manifest's `tenant`, if given, must equal it.
    ///   - maxInputBytes: cap on the total size of `inputs` plus an inline `script`, in bytes.
    ///   - maxManifestBytes: cap on `text`, in UTF-8 bytes.
    /// - Returns: the spec with `args` resolved to the full argv (see "How args are built" in the type's documentation),
    ///   `inputs` holding the uploads (normalized paths) plus `main.<ext>` for an inline script.
    /// - Throws: `ManifestError` with `file`, the field `path`, and the line/column of the offending
    ///   node; YAML syntax errors carry libyaml's position and an empty path.
    public static func parse(
        _ text: String, file: String = "manifest", inputs: [String: [UInt8]] = [:],
        defaultTenant: String,
        maxInputBytes: Int = ManifestLimits.defaultMaxInputBytes,
        maxManifestBytes: Int = ManifestLimits.defaultMaxManifestBytes
    ) throws -> WorkloadSpec {
        do {
            guard text.utf8.count <= maxManifestBytes else {
                throw ManifestError(
                    path: "",
                    message:
                        "manifest is \(text.utf8.count) bytes, over the limit of \(maxManifestBytes) bytes; put large scripts or data in files.inputs"
                )
            }
            let root = try compose(text)
            return try build(root, inputs: inputs, defaultTenant: defaultTenant, maxInputBytes: maxInputBytes)
        } catch var e as ManifestError {
            e.file = file
            throw e
        }
    }

    /// Composes the node tree (after `KeyScan`); YAML errors become `ManifestError`s at libyaml's
    /// mark. Public for documents that embed agent specs (AegisWorkflow's workflow manifests).
    public static func compose(_ text: String) throws -> Field {
        try KeyScan.check(text)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw convert(e)
        }
        guard let node else { throw ManifestError(path: "", line: 1, column: 1, message: "manifest is empty") }
        return Field(node, path: "")
    }

    static func convert(_ e: YamlError) -> ManifestError {
        func located(_ problem: String, _ context: YamlError.Context?, _ mark: Mark) -> ManifestError {
            var message = "invalid YAML: \(problem)"
            if let context, !context.text.isEmpty { message += " (\(context.text) at line \(context.mark.line))" }
            return ManifestError(path: "", line: mark.line, column: mark.column, message: message)
        }
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            return located(problem, context, mark)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ManifestError(path: "", line: context.mark.line, column: context.mark.column, message: "duplicate key \(keys)")
        case let .reader(problem, offset, _, _):
            return ManifestError(path: "", message: "invalid text: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return ManifestError(path: "", message: "invalid YAML: \(e)")
        }
    }

    // MARK: - The document

    /// - Parameter embeddedName: the name of an embedded spec (a workflow step's `agent:`), which
    ///   then may not carry `name`, `tenant`, `restart` or `restartBackoff`; nil for a manifest.
    static func build(
        _ root: Field, inputs: [String: [UInt8]], defaultTenant: String, maxInputBytes: Int, embeddedName: String? = nil
    ) throws -> WorkloadSpec {
        guard case .mapping = root.node else {
            throw root.error("a manifest is a mapping of fields (name:, runtime:, …), found \(root.kind)")
        }
        let f = try root.mapping(allowed: embeddedName == nil ? topLevelFields : embeddedFields)

        if let t = f["tenant"] {
            let tenant = try t.scalar("a tenant name")
            guard tenant == defaultTenant else {
                throw t.error(
                    "manifest is for tenant \(Quantity.quoted(tenant)), but the request comes from tenant \(Quantity.quoted(defaultTenant))"
                )
            }
        }
        let name: String
        if let embeddedName {
            name = embeddedName
        } else {
            let nameField = try f.required("name", hint: " (a workload name like summarize)")
            name = try nameField.scalar("a name")
            try nameField.locate { try SpecChecks.checkName(name, path: nameField.path) }
        }

        var command: [String]?
        if let c = f["command"] {
            let argv = try c.strings("a list of strings (the argv, e.g. [python3, agent.py])")
            guard let first = argv.first, !first.isEmpty else { throw c.error("command is empty; give the program and its arguments") }
            command = argv
        }
        let extraArgs = try f["args"]?.strings("a list of strings") ?? []
        var image = try readImage(f)
        var script: String?
        if let s = f["script"] {
            let text = try s.scalar("the script's text")
            guard text.contains(where: { !$0.isWhitespace }) else { throw s.error("script is empty") }
            script = text
        }
        var file: String?
        if let fl = f["file"] {
            let p = try fl.scalar("a file path")
            file = try fl.at { try SpecChecks.relativePath(p, path: fl.path, what: "file") }
        }
        if let fl = f["file"], script != nil { throw fl.error("give either script or file, not both") }

        // Runtime: given, or implied by the file's extension, or "command" for a bare command.
        var runtime: String
        if let r = f["runtime"] {
            runtime = try r.scalar("a runtime name")
            try r.locate { try SpecChecks.checkRuntime(runtime, path: r.path) }
        } else if script != nil {
            throw ManifestError(
                path: root.child("runtime"), line: root.node.mark?.line, column: root.node.mark?.column,
                message: "required with script (python3, node, deno, bun, ruby, java, go, …)")
        } else if let file {
            guard let implied = RuntimeCommands.runtime(forFile: file) else {
                throw ManifestError(
                    path: root.child("runtime"), line: root.node.mark?.line, column: root.node.mark?.column,
                    message: "required: the runtime of \(Quantity.quoted(file)) cannot be told from its extension")
            }
            runtime = implied
        } else if command != nil || image != nil {
            runtime = RuntimeCommands.command
        } else {
            _ = try f.required("runtime", hint: " (give runtime with script or file, or a command to run)")
            runtime = RuntimeCommands.command
        }

        // argv. Runtime "command": command + args. Otherwise the interpreter (or `command` in its
        // place), then main.<ext> or the file, then args.
        var args: [String]
        var scriptInput: (path: String, bytes: [UInt8])?
        if runtime == RuntimeCommands.command {
            for key in ["script", "file"] {
                if let x = f[key] {
                    throw x.error("runtime \"command\" runs command as given; use a runtime such as python3 to run a \(key)")
                }
            }
            if command == nil, image != nil {
                // The image's Entrypoint runs, with args in place of its Cmd when given.
                image?.useEntrypoint = true
            }
            guard let command = command ?? (image != nil ? [] : nil) else {
                throw ManifestError(
                    path: root.child("command"), line: root.node.mark?.line, column: root.node.mark?.column,
                    message: "required with runtime \"command\" (the full argv, e.g. [python3, agent.py])")
            }
            args = command + extraArgs
        } else {
            args = command ?? RuntimeCommands.interpreter(for: runtime)
            if let script {
                let path = "main." + RuntimeCommands.scriptExtension(for: runtime)
                scriptInput = (path, Array(script.utf8))
                args.append(path)
            } else if let file {
                args.append(file)
            } else if command == nil {
                throw ManifestError(
                    path: root.child("runtime"), line: f["runtime"]?.node.mark?.line, column: f["runtime"]?.node.mark?.column,
                    message: "runtime \(runtime) needs something to run: give script, file, or command")
            }
            args += extraArgs
        }

        let env = try readEnv(f["env"])
        var resources = ResourceRequest()
        var gpusField: Field?
        if let rf = f["resources"] { (resources, gpusField) = try readResources(rf) }
        var requires = Requirements()
        var reachField: Field?
        if let rq = f["requires"] { (requires, reachField) = try readRequires(rq) }
        if let gpu = requires.gpu {
            if let resField = gpusField, resources.gpus != gpu.count {
                throw resField.error("\(resources.gpus) differs from requires.gpu.count \(gpu.count); give one of them, or the same number")
            }
            resources.gpus = gpu.count
        }

        var network = NetworkMode.none
        if let n = f["network"] {
            let v = try n.scalar("a network mode")
            guard let mode = NetworkMode(rawValue: v) else {
                throw n.error(
                    "\(Quantity.quoted(v)) is not a network mode (\(NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            network = mode
        }
        var egress: EgressSpec?
        if let e = f["egress"] {
            guard network == .egress else { throw e.error(SpecChecks.egressOnly(network: network, setting: "network:")) }
            egress = try readEgress(e)
        }
        if let rf = reachField, requires.reach != nil, network != .egress {
            throw rf.error(SpecChecks.egressOnly(network: network, setting: "network:"))
        }
        var restart = RestartPolicy.never
        if let r = f["restart"] {
            let v = try r.scalar("a restart policy")
            guard let policy = RestartPolicy(rawValue: v) else {
                throw r.error("\(Quantity.quoted(v)) is not a restart policy (never, on-failure, always)")
            }
            restart = policy
        }
        let restartBackoff = try f["restartBackoff"].map { try readRestartBackoff($0) }
        var timeout: Int?
        if let t = f["timeout"] {
            let v = try t.scalar("a duration")
            timeout = try t.at { try Quantity.durationSeconds(v, field: t.path) }
        }

        let filesField = f["files"]
        let files = try filesField?.mapping(allowed: ["inputs", "output"])
        var outputDir = "output"
        if let o = files?["output"] {
            let v = try o.scalar("a directory path")
            outputDir = try o.at { try SpecChecks.relativePath(v, path: o.path, what: "output directory") }
        }
        let specInputs = try InputAssembly.assemble(
            uploads: inputs, file: file, fileField: f["file"], listed: files?["inputs"], filesField: filesField ?? root,
            script: scriptInput, scriptField: f["script"], outputDir: outputDir, outputField: files?["output"],
            maxBytes: maxInputBytes, root: root)

        try root.locate { try SpecChecks.checkArgvEnv(args: args, env: env, argsPath: root.child("args"), envPath: root.child("env")) }
        return WorkloadSpec(
            tenant: defaultTenant, name: name, runtime: runtime, args: args, env: env,
            resources: resources, requires: requires, network: network, egress: egress, inputs: specInputs,
            outputDir: outputDir, timeoutSeconds: timeout, restart: restart,
            restartBackoff: restartBackoff, image: image)
    }
}
