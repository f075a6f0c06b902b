// YAML.swift — `--output yaml` without a YAML library: any Encodable → JSON (JSONEncoder) → a
// JSON value tree → block-style YAML. Keys are sorted (JSONEncoder's key order is not stable).
// Strings that a YAML 1.1 or 1.2 reader could take for something else (numbers, booleans such as
// yes/no/on/off, null, ~, timestamps, anything with ':' or '#', leading indicators, non-ASCII,
// control characters) are double-quoted with JSON-compatible escapes (YAML 1.2 section 7.3.1).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A decoded JSON document.
public indirect enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// The value tree of `value` as JSONEncoder would write it.
    /// - Throws: the encoder's or decoder's error (not expected for the API's types).
    public static func of(_ value: some Encodable) throws -> JSONValue {
        let data = try JSONEncoder().encode(value)
        return try JSONDecoder().decode(JSONValue.self, from: data)
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
/// - Throws: JSONEncoder's error.
public func yamlText(_ value: some Encodable) throws -> String {
    emitYAML(try JSONValue.of(value))
}

/// Block-style YAML of a JSON value tree, ending in a newline. Mappings are `key: value`, sequences
/// `- item` (nested containers indented by two), empty containers `[]`/`{}`.
public func emitYAML(_ value: JSONValue) -> String {
    var lines: [String] = []
    emit(value, indent: 0, into: &lines)
    return lines.joined(separator: "\n") + "\n"
}

private func isBlock(_ v: JSONValue) -> Bool {
    switch v {
    case .array(let a): return !a.isEmpty
    case .object(let o): return !o.isEmpty
    default: return false
    }
}

private func emit(_ value: JSONValue, indent: Int, into lines: inout [String]) {
    let pad = String(repeating: " ", count: indent)
    switch value {
    case .object(let o) where !o.isEmpty:
        for key in o.keys.sorted() {
            let v = o[key]!
            if isBlock(v) {
                lines.append(pad + yamlScalar(key) + ":")
                emit(v, indent: indent + 2, into: &lines)
            } else {
                lines.append(pad + yamlScalar(key) + ": " + inlineYAML(v))
            }
        }
    case .array(let a) where !a.isEmpty:
        for item in a {
            if isBlock(item) {
                var sub: [String] = []
                emit(item, indent: indent + 2, into: &sub)
                // First line of the nested block goes on the dash line: "- key: v" / "- - x".
                sub[0] = pad + "- " + sub[0].dropFirst(indent + 2)
                lines.append(contentsOf: sub)
            } else {
                lines.append(pad + "- " + inlineYAML(item))
            }
        }
    default:
        lines.append(pad + inlineYAML(value))
    }
}

private func inlineYAML(_ v: JSONValue) -> String {
    switch v {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .int(let i): return String(i)
    case .double(let d):
        if d.isNaN { return ".nan" }
        if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return String(d)
    case .string(let s): return yamlScalar(s)
    case .array: return "[]"
    case .object: return "{}"
    }
}

/// A string as a YAML scalar: plain when unambiguous in YAML 1.1 and 1.2, else double-quoted.
public func yamlScalar(_ s: String) -> String {
    needsQuotes(s) ? doubleQuoted(s) : s
}

private let reservedWords: Set<String> = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf", ".nan", "<<", "=",
]

private func needsQuotes(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return true }
    if reservedWords.contains(s.lowercased()) { return true }
    // Anything that starts like a number (or a date, or a sexagesimal) is quoted.
    if first.properties.numericType != nil || "+-.@,".unicodeScalars.contains(first) { return true }
    if first == " " || last == " " { return true }
    for u in s.unicodeScalars {
        let ok = (u.value >= 0x41 && u.value <= 0x5A) || (u.value >= 0x61 && u.value <= 0x7A)
            || (u.value >= 0x30 && u.value <= 0x39) || " _-./=+()@,".unicodeScalars.contains(u)
        if !ok { return true }
    }
    return false
}

private func doubleQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 || u.value == 0x7F || (u.value >= 0x80 && u.value <= 0x9F) || u.value == 0xFEFF
                || u.value == 0x2028 || u.value == 0x2029 {
                let hex = String(u.value, radix: 16, uppercase: true)
                out += u.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                                       : "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
