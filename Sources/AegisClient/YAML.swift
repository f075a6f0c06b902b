// YAML.swift — `--output yaml`: any Encodable → JSON (JSONEncoder) → a JSON value tree → YAML
// nodes emitted by Yams (libyaml). Keys are sorted (JSONEncoder's key order is not stable); strings
// a YAML 1.1 or 1.2 reader could take for something else are double-quoted.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import Yams

extension JSONValue {
    /// The value tree of `value` as JSONEncoder would write it.
    /// - Throws: the encoder's or the parser's error (not expected for the API's types).
    public static func of(_ value: some Encodable) throws -> JSONValue {
        try parse(Array(try JSONEncoder().encode(value)))
    }
}

/// Pretty JSON with sorted keys and a trailing newline (`--output json`).
/// - Throws: JSONEncoder's error.
public func jsonText(_ value: some Encodable) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try enc.encode(value), as: UTF8.self) + "\n"
}

/// YAML text of `value` (`--output yaml`), ending in a newline.
/// - Throws: JSONEncoder's error, or Yams' emitter error (not expected for the API's types).
public func yamlText(_ value: some Encodable) throws -> String {
    try emitYAML(try JSONValue.of(value))
}

/// Block-style YAML of a JSON value tree (Yams, libyaml's emitter), ending in a newline. Mapping
/// keys are sorted, lines are never folded, empty containers are `[]`/`{}`.
/// - Throws: Yams' emitter error.
public func emitYAML(_ value: JSONValue) throws -> String {
    try Yams.serialize(node: yamlNode(value), width: -1, allowUnicode: true)
}

/// The YAML node of a JSON value: scalars tagged with their JSON type, strings double-quoted
/// whenever a YAML 1.1 or 1.2 reader could take them for something else.
func yamlNode(_ value: JSONValue) -> Node {
    switch value {
    case .null: return Node("null", Tag(.null))
    case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
    case .number(let text):
        if let i = Int64(text) { return Node(String(i), Tag(.int)) }
        if let u = UInt64(text) { return Node(String(u), Tag(.int)) }
        return Node(yamlFloat(Double(text) ?? 0), Tag(.float))
    case .string(let s): return Node(s, Tag(.str), needsQuotes(s) ? .doubleQuoted : .any)
    case .array(let items): return Node(items.map(yamlNode), Tag(.seq), items.isEmpty ? .flow : .block)
    case .object(let fields):
        let pairs = fields.keys.sorted().map { key in (yamlNode(.string(key)), yamlNode(fields[key]!)) }
        return Node(pairs, Tag(.map), fields.isEmpty ? .flow : .block)
    }
}

private func yamlFloat(_ d: Double) -> String {
    if d.isNaN { return ".nan" }
    if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
    return String(d)
}

/// A string a reader would resolve to another type (Yams' YAML 1.1 resolver: booleans such as
/// yes/no/on/off, null, ~, numbers, timestamps, `<<`, `=`), or that starts like a number (a
/// version, a PCI address) or has space at either end: written double-quoted. Anything else is left
/// to libyaml, which quotes what plain style can't carry (`: `, `#`, indicators, control characters).
private func needsQuotes(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return true }
    if Resolver.default.resolveTag(of: Node(s)) != .str { return true }
    if ["y", "n"].contains(s.lowercased()) { return true }
    if first.properties.numericType != nil || "+-.".unicodeScalars.contains(first) { return true }
    return first == " " || last == " "
}
