// ContainerParts.swift — a container's `ports`, `volumeMounts` and `resources`.

import AegisManifest
import AegisProtocol

extension PodManifestParser {
    /// `ports[]`: `containerPort` 1-65535, `protocol` TCP (default), UDP or SCTP, `name` a port
    /// name unique in the container, `hostPort` only with `spec.hostNetwork: true` and then equal to
    /// `containerPort` (Kubernetes' rule); with hostNetwork an absent `hostPort` defaults to
    /// `containerPort` (Kubernetes' defaulting). `hostPort: 0` is the field left out.
    static func readPorts(_ field: Field, hostNetwork: Bool) throws -> [ContainerPort] {
        var names: [String: String] = [:]
        var ports: [ContainerPort] = []
        for item in try field.items("a list of ports") {
            let f = try item.object(.containerPort)
            let number = try f.required("containerPort").int("a port number", in: 1...65535)
            var port = ContainerPort(containerPort: number)
            if let p = f["protocol"] { port.protocol = try p.oneOf(["TCP", "UDP", "SCTP"], "a protocol") }
            if let n = f["name"] {
                let name = try n.string("a port name")
                guard PodSyntax.isPortName(name) else {
                    throw n.error(
                        "\(Quantity.quoted(name)) is not a valid port name: 1-15 lowercase letters, digits and '-', "
                            + "at least one letter, no '-' at either end or twice in a row")
                }
                if let first = names[name] { throw n.error("port name \(Quantity.quoted(name)) is already used by \(first)") }
                names[name] = item.path
                port.name = name
            }
            port.hostPort = try readHostPort(f["hostPort"], containerPort: number, hostNetwork: hostNetwork)
            ports.append(port)
        }
        return ports
    }

    static func readHostPort(_ field: Field?, containerPort: Int, hostNetwork: Bool) throws -> Int? {
        let hostPort = try field?.int("a port number", in: 0...65535) ?? 0
        guard let field, hostPort != 0 else { return hostNetwork ? containerPort : nil }
        guard hostNetwork else {
            throw field.error(
                "hostPort needs spec.hostNetwork: true (aegis pod run forwards no ports; with hostNetwork the container "
                    + "listens on the host's port itself)")
        }
        guard hostPort == containerPort else {
            throw field.error("with hostNetwork, hostPort must equal containerPort (\(containerPort)), as Kubernetes requires")
        }
        return hostPort
    }

    /// `volumeMounts[]`: `name` one of `spec.volumes`, `mountPath` absolute without `..` (cleaned,
    /// and at most one mount per path in a container), `readOnly` (default false), `subPath`
    /// relative without `..` ("" is the field left out).
    static func readMounts(_ field: Field, volumes: Set<String>) throws -> [VolumeMount] {
        var paths: [String: String] = [:]
        var mounts: [VolumeMount] = []
        for item in try field.items("a list of volume mounts") {
            let f = try item.object(.volumeMount)
            let nameField = try f.required("name", hint: " (the name of one of spec.volumes)")
            let name = try nameField.string("a volume name")
            guard volumes.contains(name) else {
                throw nameField.error("no volume named \(Quantity.quoted(name)) in spec.volumes")
            }
            let pathField = try f.required("mountPath", hint: " (an absolute path in the container)")
            let path = try PodSyntax.absolutePath(try pathField.string("an absolute path"), at: pathField, what: "mountPath")
            if let first = paths[path] {
                throw pathField.error("\(Quantity.quoted(path)) is already a mount point of this container (\(first))")
            }
            paths[path] = item.path
            var mount = VolumeMount(name: name, mountPath: path, readOnly: try f["readOnly"]?.bool() ?? false)
            if let s = f["subPath"] {
                let raw = try s.string("a relative path")
                mount.subPath = raw.isEmpty ? nil : try PodSyntax.relativePath(raw, at: s, what: "subPath")
                // Resolving it safely beneath a volume other containers write (CVE-2017-1002101)
                // needs the mount made from a descriptor: not done yet.
                if mount.subPath != nil { throw s.error("subPath is not supported by aegis pod run yet") }
            }
            mounts.append(mount)
        }
        return mounts
    }

    /// `resources`: `limits` and `requests` of `cpu` (`Quantity.cpuMillis`) and `memory`
    /// (`Quantity.memoryBytes`, a limit at least 1 MiB) only. A request above its limit is an error;
    /// a request left out defaults to the limit (both Kubernetes' rules).
    static func readResources(_ field: Field) throws -> ContainerResources {
        let f = try field.object(.resources)
        let limits = try f["limits"].map { try readResourceList($0, limits: true) } ?? [:]
        let requests = try f["requests"].map { try readResourceList($0, limits: false) } ?? [:]
        for name in ["cpu", "memory"] {
            guard let request = requests[name], let limit = limits[name], request.value > limit.value else { continue }
            throw request.field.error(
                "request \(Quantity.quoted(try request.field.scalar())) is more than the limit "
                    + "\(Quantity.quoted(try limit.field.scalar())) (\(limit.field.path))")
        }
        return ContainerResources(
            limitCPUMillis: limits["cpu"]?.value, limitMemoryBytes: limits["memory"]?.value,
            requestCPUMillis: requests["cpu"]?.value ?? limits["cpu"]?.value,
            requestMemoryBytes: requests["memory"]?.value ?? limits["memory"]?.value)
    }

    /// One `limits` or `requests` mapping: "cpu" in millicores, "memory" in bytes.
    static func readResourceList(_ field: Field, limits: Bool) throws -> [String: Located<Int64>] {
        var out: [String: Located<Int64>] = [:]
        for (key, keyNode, value) in try field.pairs() {
            switch key {
            case "cpu":
                let text = try value.scalar("a CPU quantity")
                out[key] = Located(value: try value.at { try Quantity.cpuMillis(text, field: value.path) }, field: value)
            case "memory":
                let text = try value.scalar("a memory quantity")
                let bytes = try value.at { try Quantity.memoryBytes(text, field: value.path) }
                if limits && bytes < ManifestLimits.minMemoryBytes {
                    let hint = text.allSatisfy(Quantity.isDigit) ? " (did you mean \(text)Mi?)" : ""
                    throw value.error("\(bytes) bytes is below the minimum memory limit of 1 MiB\(hint)")
                }
                out[key] = Located(value: bytes, field: value)
            default:
                throw Field(keyNode, path: value.path).error("not supported by aegis pod run (resources are cpu and memory)")
            }
        }
        return out
    }
}
