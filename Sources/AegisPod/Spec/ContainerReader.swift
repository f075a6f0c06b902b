// ContainerReader.swift — one entry of `initContainers` or `containers`: name, image, argv,
// environment, restart policy and probes; ports, mounts and resources are in ContainerParts.swift,
// the security context in SecurityContextReader.swift.

import AegisImage
import AegisManifest
import AegisProtocol

extension PodManifestParser {
    static func readContainer(_ field: Field, isInit: Bool, context: PodContext) throws -> ContainerSpec {
        let f = try field.object(.container)
        let nameField = try f.required("name", hint: " (a DNS-1123 label)")
        let name = try nameField.string("a container name")
        try PodSyntax.checkLabel(name, at: nameField, what: "container name")
        let image = try readImage(try f.required("image", hint: " (an image reference such as localhost:5000/aegis:dev)"))
        let policy = try f["imagePullPolicy"]?.choice(ImagePullPolicy.self, "an image pull policy") ?? .defaultPolicy(for: image)
        var c = ContainerSpec(name: name, image: image, imagePullPolicy: policy.rawValue)
        c.command = try f["command"].flatMap(readArgv)
        c.args = try f["args"].flatMap(readArgv)
        if let w = f["workingDir"] {
            c.workingDir = try PodSyntax.absolutePath(try w.string("a directory"), at: w, what: "workingDir")
        }
        c.env = try f["env"].map(readEnv) ?? []
        c.restartPolicy = try f["restartPolicy"].map { try readContainerRestartPolicy($0, isInit: isInit) }
        c.ports = try f["ports"].map { try readPorts($0, hostNetwork: context.hostNetwork) } ?? []
        c.volumeMounts = try f["volumeMounts"].map { try readMounts($0, volumes: context.volumeNames) } ?? []
        c.resources = try f["resources"].map(readResources) ?? ContainerResources()
        c.securityContext = try readSecurityContext(f["securityContext"], pod: context.security)
        try readProbes(f, into: &c, runsToCompletion: isInit && !c.isSidecar)
        return c
    }

    /// `image`: a reference `aegis image pull` takes (`ImageReference(parsing:)`), without
    /// surrounding whitespace (Kubernetes' rule).
    static func readImage(_ field: Field) throws -> String {
        let image = try field.nonEmptyString("an image reference")
        guard image.first?.isWhitespace == false, image.last?.isWhitespace == false else {
            throw field.error("\(Quantity.quoted(image)) must not have leading or trailing whitespace")
        }
        do {
            _ = try ImageReference(parsing: image)
        } catch {
            throw field.error(error.message)
        }
        return image
    }

    /// `command` or `args`: a list of strings; an empty list is the field left out (nil), as the
    /// kubelet reads it. NUL bytes are refused (execve(2) cannot pass them).
    static func readArgv(_ field: Field) throws -> [String]? {
        let items = try field.items("a list of strings")
        let argv = try items.map { item in
            let arg = try item.string()
            guard !arg.utf8.contains(0) else { throw item.error("contains a NUL byte") }
            return arg
        }
        return argv.isEmpty ? nil : argv
    }

    /// `env`: `name` (IsEnvVarName) and `value` (default ""); `valueFrom` is refused. A name given
    /// twice keeps its first position and its last value (the kubelet builds a map, last wins).
    static func readEnv(_ field: Field) throws -> [EnvVar] {
        var env: [EnvVar] = []
        var index: [String: Int] = [:]
        for item in try field.items("a list of {name, value}") {
            let f = try item.object(.envVar)
            let nameField = try f.required("name")
            let name = try nameField.string("a variable name")
            guard PodSyntax.isEnvVarName(name) else {
                throw nameField.error(
                    "\(Quantity.quoted(name)) is not a valid environment variable name "
                        + "(letters, digits, '_', '-' and '.', not starting with a digit)")
            }
            var value = ""
            if let v = f["value"] {
                value = try v.string("a string value")
                guard !value.utf8.contains(0) else { throw v.error("contains a NUL byte") }
            }
            if let i = index[name] {
                env[i].value = value
            } else {
                index[name] = env.count
                env.append(EnvVar(name: name, value: value))
            }
        }
        return env
    }

    /// A container's `restartPolicy`: only on init containers, only `Always` (a native sidecar,
    /// KEP-753).
    static func readContainerRestartPolicy(_ field: Field, isInit: Bool) throws -> String {
        guard isInit else {
            throw field.error("only init containers take restartPolicy (Always makes one a sidecar); set spec.restartPolicy for the pod")
        }
        let policy = try field.string("a restart policy")
        guard policy == "Always" else {
            throw field.error("\(Quantity.quoted(policy)) is not allowed: an init container's restartPolicy can only be Always (a sidecar)")
        }
        return policy
    }

    /// `startupProbe`, `readinessProbe`, `livenessProbe`. Kubernetes refuses probes on init
    /// containers that run to completion (only sidecars may have them).
    static func readProbes(_ f: Fields, into c: inout ContainerSpec, runsToCompletion: Bool) throws {
        for kind in ProbeKind.allCases {
            guard let field = f[kind.rawValue] else { continue }
            if runsToCompletion {
                throw field.error("an init container that runs to completion takes no probes (a sidecar, restartPolicy: Always, does)")
            }
            let probe = try readProbe(field, kind: kind, ports: c.ports)
            switch kind {
            case .startup: c.startupProbe = probe
            case .readiness: c.readinessProbe = probe
            case .liveness: c.livenessProbe = probe
            }
        }
    }
}
