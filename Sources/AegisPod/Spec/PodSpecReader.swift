// PodSpecReader.swift — `spec`: the pod-wide fields, then the containers, then the checks that
// span containers (unique names, unique ports).

import AegisManifest
import AegisProtocol

/// A value read from the manifest together with the field it came from (for later checks that
/// must name it).
struct Located<Value> {
    let value: Value
    let field: Field
}

/// What reading a container needs from the rest of the pod.
struct PodContext {
    /// `spec.hostNetwork`.
    let hostNetwork: Bool
    /// The names `spec.volumes` defines.
    let volumeNames: Set<String>
    /// `spec.securityContext`'s settings that each container inherits unless it sets its own.
    let security: PodSecurityDefaults
}

extension PodManifestParser {
    /// The largest number of seconds a Kubernetes int32 seconds field holds.
    static let maxSeconds = Int(Int32.max)

    static func readSpec(_ field: Field) throws -> PodSpec {
        let f = try field.object(.podSpec)
        let hostNetwork = try f["hostNetwork"]?.bool() ?? false
        var hostname: String?
        if let h = f["hostname"] {
            let name = try h.string("a host name")
            try PodSyntax.checkLabel(name, at: h, what: "hostname")
            hostname = name
        }
        let restartPolicy = try f["restartPolicy"]?.choice(PodRestartPolicy.self, "a restart policy") ?? .always
        let grace = try f["terminationGracePeriodSeconds"]?.int("terminationGracePeriodSeconds", in: 0...maxSeconds) ?? 30
        let security = try f["securityContext"].map(readPodSecurity) ?? PodSecurityDefaults()
        let volumes = try f["volumes"].map(readVolumes) ?? []
        let context = PodContext(hostNetwork: hostNetwork, volumeNames: Set(volumes.map(\.name)), security: security)

        let initFields = try f["initContainers"]?.items("a list of containers") ?? []
        let mainField = try f.required("containers", hint: " (a list of at least one container)")
        let mainFields = try mainField.items("a list of containers")
        guard !mainFields.isEmpty else { throw mainField.error("a pod needs at least one container") }
        let initContainers = try initFields.map { try readContainer($0, isInit: true, context: context) }
        let containers = try mainFields.map { try readContainer($0, isInit: false, context: context) }
        try checkUniqueNames(fields: initFields + mainFields, containers: initContainers + containers)
        try checkUniquePorts(fields: initFields + mainFields, containers: initContainers + containers)
        return PodSpec(
            hostNetwork: hostNetwork, hostname: hostname, initContainers: initContainers, containers: containers,
            volumes: volumes, restartPolicy: restartPolicy, terminationGracePeriodSeconds: grace)
    }

    /// Container names are unique across `initContainers` and `containers` (Kubernetes).
    static func checkUniqueNames(fields: [Field], containers: [ContainerSpec]) throws {
        var seen: [String: String] = [:]
        for (field, container) in zip(fields, containers) {
            if let first = seen[container.name] {
                throw try entry(field, "name").error("container name \(Quantity.quoted(container.name)) is already used by \(first)")
            }
            seen[container.name] = field.path
        }
    }

    /// A `containerPort`/`protocol` pair is declared once in the pod (all containers share the
    /// network namespace). Stricter than Kubernetes, which only warns.
    static func checkUniquePorts(fields: [Field], containers: [ContainerSpec]) throws {
        var seen: [String: String] = [:]
        for (field, container) in zip(fields, containers) where !container.ports.isEmpty {
            let portFields = try entry(field, "ports").items()
            for (portField, port) in zip(portFields, container.ports) {
                let key = "\(port.containerPort)/\(port.protocol)"
                if let first = seen[key] {
                    throw try entry(portField, "containerPort").error(
                        "port \(key) is already declared by \(first) (the containers share one network namespace)")
                }
                seen[key] = portField.path
            }
        }
    }

    /// The value at `key` of a mapping already read (for errors found after reading it).
    static func entry(_ field: Field, _ key: String) throws -> Field {
        guard let value = try field.pairs().first(where: { $0.key == key })?.value else {
            throw field.error("required field is missing: \(key)")
        }
        return value
    }
}
