// A generic JSON value read by the one strict JSON parser (JSONParser.swift): the intermediate tree
// of the OCI spec decoder (AegisOCI's `SpecValueDecoder`), spec sub-objects AEGIS never honours
// (so their presence can be detected and named), submission bodies (SubmitRequest+JSON.swift) and
// the CLI's YAML output.

/// Any JSON value.
///
/// Numbers keep their source text (`"18446744073709551615"`, `"1.5e3"`), so integers of any width
/// decode exactly; `intValue`/`doubleValue` interpret it.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    /// The number exactly as written in the document (RFC 8259 § 6 grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON document (RFC 8259; a leading UTF-8 BOM is skipped).
    /// - Throws: `JSONSyntaxError` with the 1-based line and column of the first error.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = JSONParser(bytes)
        return try parser.parseDocument()
    }

    /// The number as a signed 64-bit integer, if it is an integer literal in range.
    public var intValue: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    /// The number as a double (may round), or nil if not a number.
    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// False for `null`, `{}`, `[]` and `""`: the value asks for nothing. Used by validation to treat
    /// an empty placeholder (`"blockIO": {}`) as absent.
    public var isMeaningful: Bool {
        switch self {
        case .null: return false
        case .object(let o): return !o.isEmpty
        case .array(let a): return !a.isEmpty
        case .string(let s): return !s.isEmpty
        case .bool, .number: return true
        }
    }

    /// Short description of the value's kind for error messages: `number 3`, `string`, `object`.
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "boolean \(b)"
        case .number(let n): return "number \(n.count > 40 ? n.prefix(40) + "…" : n)"  // an error never echoes a whole document
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        // Fast path: a decoder over a parsed tree hands it over unchanged (exact number text).
        if let tree = decoder as? any JSONValueDecoder {
            self = tree.value
            return
        }
        // Any other decoder (e.g. Foundation's JSONDecoder): probe the kinds in turn.
        if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !unkeyed.isAtEnd { items.append(try unkeyed.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let keyed = try? decoder.container(keyedBy: AnyCodingKey.self) {
            var object: [String: JSONValue] = [:]
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(object)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? single.decode(Int64.self) {
            self = .number(String(i))
        } else if let u = try? single.decode(UInt64.self) {
            self = .number(String(u))
        } else if let d = try? single.decode(Double.self) {
            self = .number(String(d))
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer(); try c.encode(b)
        case .number(let text):
            var c = encoder.singleValueContainer()
            if let i = Int64(text) {
                try c.encode(i)
            } else if let u = UInt64(text) {
                try c.encode(u)
            } else {
                try c.encode(Double(text) ?? 0)
            }
        case .string(let s):
            var c = encoder.singleValueContainer(); try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let object):
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            for key in object.keys.sorted() { try c.encode(object[key]!, forKey: AnyCodingKey(key)) }
        }
    }
}

/// A decoder that reads a `JSONValue` tree: `JSONValue.init(from:)` takes its value as it is.
public protocol JSONValueDecoder: Decoder {
    var value: JSONValue { get }
}

/// A coding key for object members whose names are data (dictionary keys, generic objects).
public struct AnyCodingKey: CodingKey, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ string: String) { stringValue = string }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { stringValue = String(intValue) }
}

/// A coding key for an array element; rendered as `[n]` in JSON paths.
public struct IndexCodingKey: CodingKey, Sendable {
    public var index: Int
    public var stringValue: String { "Index \(index)" }
    public var intValue: Int? { index }
    public init(_ index: Int) { self.index = index }
    public init?(stringValue: String) { return nil }
    public init?(intValue: Int) { index = intValue }
}
