// ManifestSections.swift — the nested manifest sections: env, resources, requires, egress.

import AegisProtocol

extension ManifestParser {
    static func readEnv(_ field: Field?) throws -> [String: String] {
        guard let field else { return [:] }
        var env: [String: String] = [:]
        for (key, keyNode, value) in try field.pairs() {
            try Field(keyNode, path: value.path).locate { try SpecChecks.checkEnvName(key, path: value.path) }
            env[key] = value.isNull ? "" : try value.scalar("a string value (write nested data as a JSON string)")
        }
        return env
    }

    /// resources: {cpu, memory, pids, gpus, disk, tmp}; also returns the gpus field for the
    /// requires.gpu check.
    static func readResources(_ field: Field) throws -> (ResourceRequest, gpusField: Field?) {
        let f = try field.mapping(allowed: ["cpu", "memory", "pids", "gpus", "disk", "tmp"])
        var r = ResourceRequest()
        if let c = f["cpu"] {
            let v = try c.scalar("a CPU quantity")
            r.cpuMillis = try c.at { try Quantity.cpuMillis(v, field: c.path) }
        }
        if let m = f["memory"] {
            let v = try m.scalar("a memory quantity")
            let bytes = try m.at { try Quantity.memoryBytes(v, field: m.path) }
            try m.locate { try SpecChecks.checkMemoryMinimum(bytes, text: v, path: m.path) }
            r.memoryBytes = bytes
        }
        if let p = f["pids"] {
            // PID_MAX_LIMIT (include/linux/threads.h) on 64-bit: 4194304; pids.max cannot usefully exceed it.
            r.pids = Int64(try integer(p, in: 1...Int(Bounds.maxPids), what: "a process count"))
        }
        if let g = f["gpus"] {
            r.gpus = try integer(g, in: 0...Bounds.maxAgentGPUs, what: "a whole number of GPUs")
        }
        if let d = f["disk"] {
            r.diskBytes = try size(d, in: Bounds.diskRange, rangeText: "16Mi to 8Ti")
        }
        if let t = f["tmp"] {
            let bytes = try size(t, in: Bounds.tmpRange, rangeText: "1Mi to 64Gi")
            if let memory = r.memoryBytes, bytes > memory {
                throw t.error("\(Quantity.quoted(try t.scalar("a size"))) is more than resources.memory: /tmp is memory (tmpfs)")
            }
            r.tmpBytes = bytes
        }
        return (r, f["gpus"])
    }

    /// A byte quantity (`2Gi`, `500M`) within `range`.
    static func size(_ field: Field, in range: ClosedRange<Int64>, rangeText: String) throws -> Int64 {
        let v = try field.scalar("a size")
        let bytes = try field.at { try Quantity.memoryBytes(v, field: field.path) }
        guard range.contains(bytes) else { throw field.error("\(Quantity.quoted(v)) is out of range \(rangeText)") }
        return bytes
    }

    static func integer(_ field: Field, in range: ClosedRange<Int>, what: String) throws -> Int {
        let v = try field.scalar(what)
        let digits = v.first == "-" ? v.dropFirst() : v[...]
        guard !digits.isEmpty, digits.allSatisfy(Quantity.isDigit) else {
            throw field.error("\(Quantity.quoted(v)) is not \(what)")
        }
        guard let n = Int(v), range.contains(n) else {
            throw field.error("\(Quantity.quoted(v)) is out of range \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }

    /// requires: {runtimes, gpu, labels, reach}; also returns the reach field for the network check.
    static func readRequires(_ field: Field) throws -> (Requirements, reachField: Field?) {
        let f = try field.mapping(allowed: ["runtimes", "gpu", "labels", "reach"])
        var req = Requirements()
        if let rs = f["runtimes"] {
            for item in try rs.items("a list of runtimes (e.g. [\"python3>=3.10\"] or [{name: python3, version: \">=3.10\"}])") {
                let r: RuntimeRequirement
                if case .mapping = item.node {
                    let m = try item.mapping(allowed: ["name", "version"])
                    let nf = try m.required("name")
                    let name = try nf.scalar("a runtime name")
                    guard RuntimeCommands.isValidName(name) else { throw nf.error("\(Quantity.quoted(name)) is not a runtime name") }
                    var version: String?
                    if let vf = m["version"] {
                        let v = try vf.scalar("a version constraint")
                        try vf.locate { try VersionConstraint.check(v, path: vf.path) }
                        version = v
                    }
                    r = RuntimeRequirement(name: name, version: version)
                } else {
                    let text = try item.scalar("a runtime (\"python3>=3.10\") or {name:, version:}")
                    r = try item.at { try VersionConstraint.shortForm(text, path: item.path) }
                }
                if req.runtimes.contains(where: { $0.name == r.name }) { throw item.error("runtime \(r.name) is listed twice") }
                req.runtimes.append(r)
            }
        }
        if let g = f["gpu"] {
            let m = try g.mapping(allowed: ["vendor", "model", "count"])
            var gpu = GPURequirement()
            if let v = m["vendor"] {
                let s = try v.scalar("a vendor name").lowercased()
                guard !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw v.error("\(Quantity.quoted(s)) is not a GPU vendor (nvidia, amd, intel, …)")
                }
                gpu.vendor = s
            }
            if let md = m["model"] {
                let s = try md.scalar("a model name")
                guard !s.isEmpty, s.count <= 128 else { throw md.error("model must be 1-128 characters") }
                gpu.model = s
            }
            if let c = m["count"] { gpu.count = try integer(c, in: 1...Bounds.maxAgentGPUs, what: "a whole number of GPUs") }
            req.gpu = gpu
        }
        if let l = f["labels"] {
            for (key, keyNode, value) in try l.pairs() {
                let ok =
                    (1...253).contains(key.utf8.count)
                    && key.utf8.allSatisfy { RuntimeCommands.isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || "._/-".utf8.contains($0) }
                guard ok else {
                    throw Field(keyNode, path: value.path).error(
                        "\(Quantity.quoted(key)) is not a label name (letters, digits, '.', '_', '/', '-')")
                }
                let v = try value.scalar("a label value")
                guard v.utf8.count <= 256 else { throw value.error("label value is longer than 256 bytes") }
                req.labels[key] = v
            }
        }
        if let rf = f["reach"] {
            let items = try rf.items("a list of reach labels (e.g. [internet, corp-vpn])")
            guard items.count <= ManifestLimits.maxReachLabels else {
                throw rf.error("\(items.count) reach labels, over the limit of \(ManifestLimits.maxReachLabels)")
            }
            var labels: [String] = []
            for item in items {
                let label = try item.scalar("a reach label")
                try item.locate { try SpecChecks.reachLabel(label, path: item.path) }
                if labels.contains(label) { throw item.error("reach label \(label) is listed twice") }
                labels.append(label)
            }
            req.reach = labels.isEmpty ? nil : labels
        }
        return (req, f["reach"])
    }

    /// egress: {allow: [entry, …]}; each entry checked by `EgressAllowEntry(parsing:)`.
    static func readEgress(_ field: Field) throws -> EgressSpec {
        let f = try field.mapping(allowed: ["allow"])
        var spec = EgressSpec()
        if let af = f["allow"] {
            let items = try af.items("a list of allow entries (e.g. [\"10.20.0.0/16:443/tcp\", \"api.example.com:443\"])")
            guard items.count <= ManifestLimits.maxEgressAllowEntries else {
                throw af.error("\(items.count) entries, over the limit of \(ManifestLimits.maxEgressAllowEntries)")
            }
            for item in items {
                let text = try item.scalar("an allow entry (DEST[:PORT[-PORT]][/tcp|/udp])")
                try item.locate { try SpecChecks.allowEntry(text, path: item.path) }
                spec.allow.append(text)
            }
        }
        return spec
    }
}

/// Runtime version constraints: one or more comma-separated clauses, each an optional operator
/// (`>=`, `<=`, `>`, `<`, `=`, `==`, `!=`, `^` caret = same major, `~` tilde = same minor) and a
/// dotted version whose parts are numbers, the last ones possibly `*` or `x` (`3.11.*`).
enum VersionConstraint {
    static func check(_ text: String, path: String) throws {
        let clauses = text.split(separator: ",", omittingEmptySubsequences: false)
        for raw in clauses {
            var c = Quantity.trimmed(String(raw))
            for op in [">=", "<=", "==", "!=", ">", "<", "=", "^", "~"] where c.hasPrefix(op) {
                c = c.dropFirst(op.count)
                break
            }
            c = Quantity.trimmed(String(c))
            let parts = c.split(separator: ".", omittingEmptySubsequences: false)
            var sawWildcard = false
            let ok =
                !c.isEmpty && parts.count <= 4
                && parts.allSatisfy { p in
                    if p == "*" || p == "x" { sawWildcard = true; return true }
                    return !sawWildcard && !p.isEmpty && p.count <= 9 && p.allSatisfy(Quantity.isDigit)
                }
            guard ok else {
                throw ManifestError(
                    path: path, message: "\(Quantity.quoted(text)) is not a version constraint (e.g. >=3.10, ^20, 3.11.*, >=3.9,<4)")
            }
        }
    }

    /// "python3>=3.10" → (python3, ">=3.10"); "node ^20" and "node@20" too; "ruby" → (ruby, nil).
    static func shortForm(_ text: String, path: String) throws -> RuntimeRequirement {
        let t = Quantity.trimmed(text)
        let u = Array(t.unicodeScalars)
        var end = 0
        func isNameChar(_ s: Unicode.Scalar) -> Bool {
            (s.isASCII && (RuntimeCommands.isLetter(UInt8(s.value)) || (s >= "0" && s <= "9"))) || s == "_" || s == "+" || s == "-"
        }
        while end < u.count, isNameChar(u[end]) || (u[end] == "." && end + 1 < u.count && u[end + 1].properties.isAlphabetic) {
            end += 1
        }
        let name = String(String.UnicodeScalarView(u[..<end]))
        var rest = Quantity.trimmed(String(String.UnicodeScalarView(u[end...])))
        if rest.hasPrefix("@") { rest = rest.dropFirst() }
        guard RuntimeCommands.isValidName(name) else {
            throw ManifestError(path: path, message: "\(Quantity.quoted(text)) does not start with a runtime name (e.g. python3>=3.10)")
        }
        if rest.isEmpty { return RuntimeRequirement(name: name) }
        let version = String(rest)
        try check(version, path: path)
        return RuntimeRequirement(name: name, version: version)
    }
}
