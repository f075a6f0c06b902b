// JSONPath.swift — coding paths rendered as JSON paths in the OCI spec decoder's errors.
import AegisProtocol

/// Renders a coding path as a JSON path: `linux.namespaces[2].type`, `annotations["org.x.y"]`.
/// An empty path renders as `(top level)`.
func jsonPath(_ codingPath: [any CodingKey]) -> String {
    var out = ""
    for key in codingPath {
        if let index = key as? IndexCodingKey {
            out += "[\(index.index)]"
        } else if let n = key.intValue, key.stringValue == "Index \(n)" {
            out += "[\(n)]"  // array index key from another decoder
        } else {
            out += jsonPathMember(key.stringValue, first: out.isEmpty)
        }
    }
    return out.isEmpty ? "(top level)" : out
}

/// One member step of a JSON path: `.name` for identifier-like names, `["some.key"]` otherwise.
func jsonPathMember(_ name: String, first: Bool) -> String {
    let identifierLike =
        !name.isEmpty
        && name.utf8.enumerated().allSatisfy { i, c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F || (i > 0 && c >= 0x30 && c <= 0x39)
        }
    if identifierLike { return first ? name : "." + name }
    var escaped = ""
    for ch in name.unicodeScalars {
        switch ch {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        default: escaped.unicodeScalars.append(ch)
        }
    }
    return "[\"\(escaped)\"]"
}
