// CLIRunOptions.swift — `aegis run [options] -- program args…` → validated WorkloadSpec, with the
// same rules as manifests (errors name the flag instead of a field).

import AegisProtocol

/// The options of `aegis run --runtime python3 --memory 256M --cpus 0.5 --gpus 1 --env K=V --name N
/// --restart on-failure --timeout 5m --network egress --allow ENTRY --reach LABEL -- script.py args…`.
public struct CLIRunOptions: Sendable, Equatable {
    /// `--runtime`: a runtime name; nil = run `command` as given (runtime "command").
    public var runtime: String?
    /// `--cpus`: cores (`"0.5"` = 500 millicores) or millicores (`"500m"`).
    public var cpus: String?
    /// `--memory`: a memory quantity (`"256M"` = 256×10^6 bytes, `"256Mi"` = 256×2^20).
    public var memory: String?
    /// `--gpus`: whole GPUs.
    public var gpus: Int?
    /// `--env`: `KEY=VALUE` entries; a later entry for the same key wins.
    public var env: [String]
    /// `--name`: workload name; nil = derived from the program's file name (`agent.py` → `agent-py`).
    public var name: String?
    /// `--restart`: never, on-failure, always.
    public var restart: String?
    /// `--timeout`: a duration (`"300"`, `"5m"`, `"1h30m"`).
    public var timeout: String?
    /// `--network`: none, loopback, host, egress; nil = none.
    public var network: String?
    /// `--allow`: egress allowlist entries `DEST[:PORT[-PORT]][/tcp|/udp]` (network egress only).
    public var allow: [String]
    /// `--reach`: reachability labels the node must advertise (network egress only).
    public var reach: [String]
    /// Everything after `--`: the program (an uploaded file when `runtime` is given) and its
    /// arguments; may be empty with `image` (its Entrypoint and Cmd run).
    public var command: [String]
    /// `--image`: run from this OCI image (`ImageSpec.reference`).
    public var image: String?
    /// `--image-pull-policy`: IfNotPresent, Always, Never; nil = Kubernetes' default for the tag.
    public var imagePullPolicy: String?
    /// `--rootfs`: read-only (default) or overlay (`ImageRootfsMode`).
    public var rootfs: String?

    public init(
        runtime: String? = nil, cpus: String? = nil, memory: String? = nil, gpus: Int? = nil, env: [String] = [],
        name: String? = nil, restart: String? = nil, timeout: String? = nil, network: String? = nil,
        allow: [String] = [], reach: [String] = [], command: [String], image: String? = nil,
        imagePullPolicy: String? = nil, rootfs: String? = nil
    ) {
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.rootfs = rootfs
        self.runtime = runtime
        self.cpus = cpus
        self.memory = memory
        self.gpus = gpus
        self.env = env
        self.name = name
        self.restart = restart
        self.timeout = timeout
        self.network = network
        self.allow = allow
        self.reach = reach
        self.command = command
    }

    /// Builds the spec from command-line options. See `spec(inputs:defaultTenant:maxInputBytes:)`.
    public static func fromCommandLine(
        runtime: String?, cpus: String?, memory: String?, gpus: Int?, env: [String],
        name: String?, restart: String?, timeout: String?, command: [String],
        inputs: [String: [UInt8]], defaultTenant: String
    ) throws -> WorkloadSpec {
        try CLIRunOptions(
            runtime: runtime, cpus: cpus, memory: memory, gpus: gpus, env: env, name: name,
            restart: restart, timeout: timeout, command: command
        )
        .spec(inputs: inputs, defaultTenant: defaultTenant)
    }

    /// The spec these options describe.
    ///
    /// argv: with no `runtime`, `command` as given (runtime "command"); with a runtime, see
    /// `runtimeArgv(runtime:command:files:)`. All `inputs` are kept (the CLI uploads only what the
    /// command needs).
    /// Network is `network` (default `none`); `allow` becomes `egress.allow` and `reach`
    /// `requires.reach`, both only with network egress. The output directory is `output`.
    /// - Throws: `ManifestError` whose `path` is the flag (`--memory`, `--env`, `--network`,
    ///   `--allow`, `--reach`, `--`), `file` nil.
    public func spec(
        inputs: [String: [UInt8]], defaultTenant: String,
        maxInputBytes: Int = ManifestLimits.defaultMaxInputBytes
    ) throws -> WorkloadSpec {
        let imageSpec = try readImage()
        // With an image and nothing after --, the image's Entrypoint and Cmd run.
        guard let program = command.first ?? imageSpec.map({ Self.imageName($0.reference) }), !program.isEmpty else {
            throw ManifestError(
                path: "--", message: "nothing to run: give the program after -- (e.g. aegis run --runtime python3 -- agent.py)")
        }
        let files = try SpecChecks.normalizedInputs(inputs, path: "inputs")
        try SpecChecks.checkTotalSize(files, max: maxInputBytes, path: "inputs")

        var runtimeName = RuntimeCommands.command
        var args = command
        if let runtime {
            try SpecChecks.checkRuntime(runtime, path: "--runtime")
            runtimeName = runtime
            if runtime != RuntimeCommands.command && !command.isEmpty {
                args = try Self.runtimeArgv(runtime: runtime, command: command, files: files)
            }
        }

        // `--runtime python3 -- -c …`: named after the runtime, not the option.
        let workloadName = name ?? Self.derivedName(program.hasPrefix("-") ? runtime ?? program : program)
        try SpecChecks.checkName(workloadName, path: "--name")

        var resources = ResourceRequest()
        if let cpus { resources.cpuMillis = try ManifestError.quantity { try Quantity.cpuMillis(cpus, field: "--cpus") } }
        if let memory {
            let bytes = try ManifestError.quantity { try Quantity.memoryBytes(memory, field: "--memory") }
            try SpecChecks.checkMemoryMinimum(bytes, text: memory, path: "--memory")
            resources.memoryBytes = bytes
        }
        if let gpus {
            guard (0...Bounds.maxAgentGPUs).contains(gpus) else {
                throw ManifestError(path: "--gpus", message: "\(gpus) is out of range 0…\(Bounds.maxAgentGPUs)")
            }
            resources.gpus = gpus
        }

        var environment: [String: String] = [:]
        for entry in env {
            guard let eq = entry.firstIndex(of: "=") else {
                throw ManifestError(path: "--env", message: "\(Quantity.quoted(entry)) is not KEY=VALUE")
            }
            let key = String(entry[..<eq])
            try SpecChecks.checkEnvName(key, path: "--env")
            environment[key] = String(entry[entry.index(after: eq)...])
        }

        var policy = RestartPolicy.never
        if let restart {
            guard let p = RestartPolicy(rawValue: restart) else {
                throw ManifestError(
                    path: "--restart", message: "\(Quantity.quoted(restart)) is not a restart policy (never, on-failure, always)")
            }
            policy = p
        }
        let timeoutSeconds = try timeout.map { t in try ManifestError.quantity { try Quantity.durationSeconds(t, field: "--timeout") } }
        try SpecChecks.checkArgvEnv(args: args, env: environment, argsPath: "--", envPath: "--env")

        var mode = NetworkMode.none
        if let network {
            guard let m = NetworkMode(rawValue: network) else {
                throw ManifestError(
                    path: "--network",
                    message:
                        "unknown network mode \(Quantity.quoted(network)) (\(NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            mode = m
        }
        var egress: EgressSpec?
        if !allow.isEmpty {
            guard mode == .egress else {
                throw ManifestError(path: "--allow", message: SpecChecks.egressOnly(network: mode, setting: "--network"))
            }
            guard allow.count <= ManifestLimits.maxEgressAllowEntries else {
                throw ManifestError(
                    path: "--allow", message: "\(allow.count) entries, over the limit of \(ManifestLimits.maxEgressAllowEntries)")
            }
            for entry in allow { try SpecChecks.allowEntry(entry, path: "--allow") }
            egress = EgressSpec(allow: allow)
        }
        var requires = Requirements()
        if !reach.isEmpty {
            guard mode == .egress else {
                throw ManifestError(path: "--reach", message: SpecChecks.egressOnly(network: mode, setting: "--network"))
            }
            guard reach.count <= ManifestLimits.maxReachLabels else {
                throw ManifestError(
                    path: "--reach", message: "\(reach.count) reach labels, over the limit of \(ManifestLimits.maxReachLabels)")
            }
            var labels: [String] = []
            for label in reach {
                try SpecChecks.reachLabel(label, path: "--reach")
                if !labels.contains(label) { labels.append(label) }
            }
            requires.reach = labels
        }

        return WorkloadSpec(
            tenant: defaultTenant, name: workloadName, runtime: runtimeName, args: args, env: environment,
            resources: resources, requires: requires, network: mode, egress: egress, inputs: files,
            timeoutSeconds: timeoutSeconds, restart: policy, image: imageSpec)
    }

    /// `--image`, `--image-pull-policy`, `--rootfs`; nil without `--image` (the other two are then errors).
    func readImage() throws -> ImageSpec? {
        guard let image else {
            if imagePullPolicy != nil { throw ManifestError(path: "--image-pull-policy", message: "needs --image") }
            if rootfs != nil { throw ManifestError(path: "--rootfs", message: "needs --image") }
            return nil
        }
        try ManifestParser.checkImageReference(image, path: "--image")
        let policy = try imagePullPolicy.map {
            try ManifestParser.choice($0, ImagePullPolicy.self, "a pull policy", path: "--image-pull-policy")
        }
        let mode = try rootfs.map { try ManifestParser.choice($0, ImageRootfsMode.self, "a rootfs mode", path: "--rootfs") } ?? .readOnly
        return ImageSpec(reference: image, pullPolicy: policy, rootfs: mode, useEntrypoint: command.isEmpty)
    }

    /// The repository's last component of an image reference (`python` of `docker.io/library/python:3.12`).
    static func imageName(_ reference: String) -> String {
        let path = reference.split(separator: "@").first.map(String.init) ?? reference
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return last.split(separator: ":").first.map(String.init) ?? last
    }

    /// The argv of `--runtime R -- command…` (R not "command"):
    /// - `command[0]` an uploaded file (after normalizing `./`): the interpreter runs it,
    ///   `--runtime python3 -- agent.py x` → `["python3", "agent.py", "x"]`;
    /// - `command[0]` an option (`-c CODE`, `-m module`, `-u`, …): everything goes to the interpreter,
    ///   `--runtime python3 -- -c 'print(1)'` → `["python3", "-c", "print(1)"]`;
    /// - `command[0]` a path (it has a "/") or a name with a known script extension (`*.py`, `*.js`,
    ///   …) that was not uploaded: an error saying how to include it (the CLI uploads only files in
    ///   the current directory or below it);
    /// - any other word (the interpreter itself, `--runtime python3 -- python3 -c …`, or another
    ///   program): `command` runs as given and the runtime steers placement.
    /// - Throws: `ManifestError` at `--` for a script that was not uploaded.
    static func runtimeArgv(runtime: String, command: [String], files: [String: [UInt8]]) throws -> [String] {
        guard let program = command.first else { return command }
        let interpreter = RuntimeCommands.interpreter(for: runtime)
        if let local = try? SpecChecks.relativePath(program, path: "--"), files[local] != nil {
            return interpreter + [local] + command.dropFirst()
        }
        if program.hasPrefix("-") { return interpreter + command }
        let base = program.split(separator: "/").last.map(String.init) ?? program
        let looksLikeScript = RuntimeCommands.runtime(forFile: program) != nil
        guard (program.contains("/") || looksLikeScript) && base != runtime && base != interpreter[0] else { return command }
        let outside = program.hasPrefix("/") || program.hasPrefix("~") || program.split(separator: "/").contains("..")
        let why =
            outside
            ? "it is outside the current directory, and only files in the current directory or below it are uploaded"
            : "no such file in the current directory"
        throw ManifestError(
            path: "--",
            message: "\(Quantity.quoted(program)) was not uploaded: \(why); "
                + "run aegis from a directory that contains the script (or copy it there) and give its relative path, "
                + "or write a manifest next to it (aegis run -f agent.yaml)")
    }

    /// A workload name from the program's last path component: lowercased, runs of other characters
    /// turned into one `-`, trimmed to 63 characters (`"./My Agent.py"` → `"my-agent-py"`); `"run"`
    /// when nothing usable is left.
    public static func derivedName(_ program: String) -> String {
        let base = program.split(separator: "/").last.map(String.init) ?? program
        var out = ""
        for c in base.lowercased().unicodeScalars {
            if (c >= "a" && c <= "z") || (c >= "0" && c <= "9") {
                out.unicodeScalars.append(c)
            } else if !out.isEmpty && !out.hasSuffix("-") {
                out += "-"
            }
        }
        while out.hasSuffix("-") { out.removeLast() }
        if out.count > 63 { out = String(out.prefix(63)); while out.hasSuffix("-") { out.removeLast() } }
        return out.isEmpty ? "run" : out
    }
}

extension RunFlags {
    /// The spec the API's `run` submission describes, by the `CLIRunOptions` rules (network, allow and
    /// reach included).
    /// - Throws: `ManifestError` whose `path` is the flag (`--network`, `--allow`, `--reach`,
    ///   `--memory`, …).
    public func spec(
        inputs: [String: [UInt8]], defaultTenant: String,
        maxInputBytes: Int = ManifestLimits.defaultMaxInputBytes
    ) throws -> WorkloadSpec {
        try CLIRunOptions(
            runtime: runtime, cpus: cpus, memory: memory, gpus: gpus, env: env, name: name,
            restart: restart, timeout: timeout, network: network, allow: allow ?? [], reach: reach ?? [],
            command: command, image: image, imagePullPolicy: imagePullPolicy, rootfs: rootfs
        )
        .spec(inputs: inputs, defaultTenant: defaultTenant, maxInputBytes: maxInputBytes)
    }
}
