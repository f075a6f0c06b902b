// ProbeReader.swift — `startupProbe`, `readinessProbe`, `livenessProbe`: one handler (`exec`,
// `httpGet` or `tcpSocket`) and the timing fields with Kubernetes' defaults.

import AegisManifest
import AegisProtocol

/// Which probe of a container, named by its field.
enum ProbeKind: String, CaseIterable {
    case startup = "startupProbe"
    case readiness = "readinessProbe"
    case liveness = "livenessProbe"
}

extension PodManifestParser {
    /// The handlers aegis pod run has (`grpc` is refused as not supported).
    static let probeHandlers = ["exec", "httpGet", "tcpSocket"]

    /// A probe. Timings in seconds: `initialDelaySeconds` ≥ 0 (default 0), `periodSeconds` ≥ 1
    /// (10), `timeoutSeconds` ≥ 1 (1); counts `successThreshold` ≥ 1 (1; must be 1 for liveness
    /// and startup probes, Kubernetes' rule), `failureThreshold` ≥ 1 (3). Kubernetes reads 0 in
    /// the ≥ 1 fields as "default"; here it is an error. `ports` resolves named probe ports.
    static func readProbe(_ field: Field, kind: ProbeKind, ports: [ContainerPort]) throws -> Probe {
        let f = try field.object(.probe)
        let handlers = f.entries.filter { probeHandlers.contains($0.key) && !$0.value.isNull }
        guard let first = handlers.first else {
            throw field.error("a probe needs one handler: exec, httpGet or tcpSocket")
        }
        if handlers.count > 1 {
            throw handlers[1].value.error("a probe has exactly one handler; this one already has \(first.key)")
        }
        var probe = Probe(handler: try readHandler(first.key, first.value, ports: ports))
        probe.initialDelaySeconds = try f["initialDelaySeconds"]?.int("initialDelaySeconds", in: 0...maxSeconds) ?? 0
        probe.periodSeconds = try f["periodSeconds"]?.int("periodSeconds", in: 1...maxSeconds) ?? 10
        probe.timeoutSeconds = try f["timeoutSeconds"]?.int("timeoutSeconds", in: 1...maxSeconds) ?? 1
        probe.failureThreshold = try f["failureThreshold"]?.int("failureThreshold", in: 1...maxSeconds) ?? 3
        if let s = f["successThreshold"] {
            probe.successThreshold = try s.int("successThreshold", in: 1...maxSeconds)
            if kind != .readiness && probe.successThreshold != 1 {
                throw s.error("must be 1 for a \(kind.rawValue) (Kubernetes' rule; only readiness probes take more)")
            }
        }
        return probe
    }

    static func readHandler(_ key: String, _ field: Field, ports: [ContainerPort]) throws -> Probe.Handler {
        switch key {
        case "exec":
            let f = try field.object(.execAction)
            let commandField = try f.required("command", hint: " (the argv to run in the container)")
            guard let command = try readArgv(commandField) else { throw commandField.error("command is empty") }
            return .exec(command: command)
        case "httpGet":
            return try readHTTPGet(field, ports: ports)
        default:
            let f = try field.object(.tcpSocketAction)
            let port = try probePort(try f.required("port"), ports: ports)
            return .tcpSocket(port: port, host: try f["host"]?.nonEmptyString("a host name or address"))
        }
    }

    /// `httpGet`: `port` required; `path` absolute (default and "" → "/"); `scheme` HTTP (default)
    /// or HTTPS; `host` (default: the pod's address); `httpHeaders` of `name` (an HTTP token) and
    /// `value`.
    static func readHTTPGet(_ field: Field, ports: [ContainerPort]) throws -> Probe.Handler {
        let f = try field.object(.httpGetAction)
        let port = try probePort(
            try f.required("port", hint: " (a port number or the name of one of this container's ports)"), ports: ports)
        let path = try f["path"].map(readProbePath) ?? "/"
        let scheme = try f["scheme"]?.oneOf(["HTTP", "HTTPS"], "a URL scheme") ?? "HTTP"
        let host = try f["host"]?.nonEmptyString("a host name or address")
        var headers: [EnvVar] = []
        for item in try f["httpHeaders"]?.items("a list of {name, value}") ?? [] {
            let h = try item.object(.httpHeader)
            let nameField = try h.required("name")
            let name = try nameField.string("a header name")
            guard PodSyntax.isHTTPHeaderName(name) else { throw nameField.error("\(Quantity.quoted(name)) is not an HTTP header name") }
            let value = try h.required("value").string("a header value")
            headers.append(EnvVar(name: name, value: value))
        }
        return .httpGet(path: path, port: port, host: host, scheme: scheme, headers: headers)
    }

    /// `httpGet.path`: absolute, no spaces or control characters; "" is "/".
    static func readProbePath(_ field: Field) throws -> String {
        let text = try field.string("a URL path")
        if text.isEmpty { return "/" }
        guard text.hasPrefix("/"), !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw field.error("\(Quantity.quoted(text)) is not an absolute URL path (starting with /, no spaces)")
        }
        return text
    }

    /// A probe's `port`: a number 1-65535, or the `name` of one of the container's `ports`
    /// (resolved to its `containerPort`, as the kubelet does).
    static func probePort(_ field: Field, ports: [ContainerPort]) throws -> Int {
        if field.isInteger { return try field.int("a port number", in: 1...65535) }
        let name = try field.string("a port number or the name of one of this container's ports")
        guard PodSyntax.isPortName(name) else {
            throw field.error(
                "\(Quantity.quoted(name)) is neither a port number nor a port name (write a number without quotes, or name one of this container's ports)"
            )
        }
        guard let port = ports.first(where: { $0.name == name }) else {
            let known = ports.compactMap(\.name)
            throw field.error(
                "no port named \(Quantity.quoted(name)) in this container's ports"
                    + (known.isEmpty ? " (it names none)" : " (\(known.joined(separator: ", ")))"))
        }
        return port.containerPort
    }
}
