// SubmitRequest+JSON.swift — a submission body read with the strict JSON parser (JSONParser.swift)
// and mapped field by field: the value JSONDecoder gives for every document both accept (unknown
// members ignored, null as absent for optional fields), errors as `DecodingError` with the
// field's coding path. In the controller's profile (submit-bench, release) JSONDecoder took 4.8 %
// of the CPU per submission, mostly generic container machinery; this takes 2.5 %.

extension SubmitRequest {
    /// Reads a submission body (UTF-8 JSON).
    /// - Throws: `DecodingError` naming the field (`run.command[1]`: expected a string, found a
    ///   number), or `.dataCorrupted` with the line and column when the body is not JSON.
    public init(json bytes: [UInt8]) throws(DecodingError) {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch {
            throw .dataCorrupted(.init(codingPath: [], debugDescription: "not JSON: \(error)", underlyingError: error))
        }
        let body = try JSONFields(document, path: [])
        manifest = try body.string("manifest")
        manifestFile = try body.string("manifestFile")
        if let flags = try body.object("run") { run = try RunFlags(fields: flags) } else { run = nil }
        inputs = try body.stringMap("inputs") ?? [:]
    }
}

extension RunFlags {
    init(fields f: JSONFields) throws(DecodingError) {
        self.init(command: [])
        runtime = try f.string("runtime")
        cpus = try f.string("cpus")
        memory = try f.string("memory")
        gpus = try f.int("gpus")
        env = try f.strings("env") ?? []
        name = try f.string("name")
        restart = try f.string("restart")
        timeout = try f.string("timeout")
        network = try f.string("network")
        allow = try f.strings("allow")
        reach = try f.strings("reach")
        guard let command = try f.strings("command") else {
            throw .keyNotFound(AnyCodingKey("command"), .init(codingPath: f.path, debugDescription: "no member \"command\""))
        }
        self.command = command
        image = try f.string("image")
        imagePullPolicy = try f.string("imagePullPolicy")
        rootfs = try f.string("rootfs")
    }
}

/// The members of one JSON object at `path`, read as typed optional fields.
struct JSONFields {
    let members: [String: JSONValue]
    let path: [any CodingKey]

    init(_ value: JSONValue, path: [any CodingKey]) throws(DecodingError) {
        guard case let .object(members) = value else { throw Self.mismatch("an object", value, path) }
        self.members = members
        self.path = path
    }

    /// The member, nil when absent or null.
    private func member(_ name: String) -> JSONValue? {
        guard let v = members[name], v != .null else { return nil }
        return v
    }

    func string(_ name: String) throws(DecodingError) -> String? {
        guard let v = member(name) else { return nil }
        guard case let .string(s) = v else { throw Self.mismatch("a string", v, path + [AnyCodingKey(name)]) }
        return s
    }

    func int(_ name: String) throws(DecodingError) -> Int? {
        guard let v = member(name) else { return nil }
        guard case let .number(text) = v else { throw Self.mismatch("an integer", v, path + [AnyCodingKey(name)]) }
        guard let n = Int(text) else {
            throw .dataCorrupted(
                .init(
                    codingPath: path + [AnyCodingKey(name)],
                    debugDescription: "number \(JSONValue.number(text).kindDescription.dropFirst(7)) is not an integer of 64 bits"))
        }
        return n
    }

    func strings(_ name: String) throws(DecodingError) -> [String]? {
        guard let v = member(name) else { return nil }
        guard case let .array(items) = v else { throw Self.mismatch("an array of strings", v, path + [AnyCodingKey(name)]) }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else {
                throw Self.mismatch("a string", item, path + [AnyCodingKey(name), IndexCodingKey(i)])
            }
            out.append(s)
        }
        return out
    }

    func stringMap(_ name: String) throws(DecodingError) -> [String: String]? {
        guard let v = member(name) else { return nil }
        guard case let .object(entries) = v else { throw Self.mismatch("an object of strings", v, path + [AnyCodingKey(name)]) }
        var out: [String: String] = [:]
        out.reserveCapacity(entries.count)
        for (key, item) in entries {
            guard case let .string(s) = item else { throw Self.mismatch("a string", item, path + [AnyCodingKey(name), AnyCodingKey(key)]) }
            out[key] = s
        }
        return out
    }

    func object(_ name: String) throws(DecodingError) -> JSONFields? {
        guard let v = member(name) else { return nil }
        return try JSONFields(v, path: path + [AnyCodingKey(name)])
    }

    static func mismatch(_ expected: String, _ found: JSONValue, _ path: [any CodingKey]) -> DecodingError {
        .typeMismatch(JSONValue.self, .init(codingPath: path, debugDescription: "expected \(expected), found \(found.kindDescription)"))
    }
}
