// YAMLField.swift — a walk over Yams' composed node tree in which every value knows its field path
// and its line and column, so that each error can name both.

import AegisProtocol
import Yams

/// A node plus the dotted path that led to it. Public for AegisPod's Pod manifests.
public struct Field {
    public let node: Node
    public let path: String

    public init(_ node: Node, path: String) {
        self.node = node
        self.path = path
    }

    public func error(_ message: String) -> ManifestError {
        ManifestError(path: path, line: node.mark?.line, column: node.mark?.column, message: message)
    }

    /// Re-anchors an error thrown by a helper that knew the path but not the position.
    public func locate(_ body: () throws -> Void) throws {
        do { try body() } catch var e as ManifestError {
            if e.line == nil { e.line = node.mark?.line; e.column = node.mark?.column }
            throw e
        } catch let e as QuantityError {
            throw ManifestError(path: e.field, line: node.mark?.line, column: node.mark?.column, message: e.message)
        }
    }

    public func at<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try locate { result = try body() }
        return result!
    }

    public func child(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public var isNull: Bool {
        // A plain `~`, `null` or empty value; the resolved tag of a quoted "null" is str.
        if case .scalar = node { return node.tag.rawValue == Tag.Name.null.rawValue }
        return false
    }

    /// What the node is, for "expected X, found Y" messages.
    public var kind: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let s): return isNull ? "nothing (null)" : "the value \(Quantity.quoted(s.string))"
        }
    }

    /// The text of a scalar (numbers and booleans as written: `2`, `0.5`, `yes`).
    /// - Throws: when the node is null, a list or a mapping.
    public func scalar(_ what: String = "a value") throws -> String {
        guard case .scalar(let s) = node, !isNull else { throw error("expected \(what), found \(kind)") }
        return s.string
    }

    /// A list of scalars; a scalar alone is refused (argv lists must be explicit).
    public func strings(_ what: String = "a list of strings") throws -> [String] {
        guard case .sequence(let seq) = node else { throw error("expected \(what), found \(kind)") }
        return try seq.enumerated().map { i, n in try Field(n, path: "\(path)[\(i)]").scalar("a string") }
    }

    /// The items of a list, each with its indexed path.
    public func items(_ what: String = "a list") throws -> [Field] {
        guard case .sequence(let seq) = node else { throw error("expected \(what), found \(kind)") }
        return seq.enumerated().map { i, n in Field(n, path: "\(path)[\(i)]") }
    }

    /// A mapping whose keys must all be in `allowed` (else "unknown field (did you mean …?)").
    public func mapping(allowed: [String]) throws -> Fields {
        let entries = try pairs()
        for (key, keyNode, _) in entries where !allowed.contains(key) {
            var message = "unknown field"
            if let s = Suggest.closest(to: key, in: allowed) {
                message += " (did you mean \(s)?)"
            } else {
                message += "; allowed here: " + allowed.joined(separator: ", ")
            }
            throw Field(keyNode, path: child(key)).error(message)
        }
        return Fields(owner: self, entries: entries)
    }

    /// A mapping with free-form keys and scalar values (env, labels): key, key node, value field.
    public func pairs() throws -> [(key: String, keyNode: Node, value: Field)] {
        guard case .mapping(let map) = node else { throw error("expected a mapping, found \(kind)") }
        var seen = Set<String>()
        var out: [(key: String, keyNode: Node, value: Field)] = []
        for (k, v) in map {
            let keyField = Field(k, path: path)
            guard case .scalar(let ks) = k, !keyField.isNull else {
                throw keyField.error("keys must be plain names, found \(keyField.kind)")
            }
            guard seen.insert(ks.string).inserted else {
                throw Field(k, path: child(ks.string)).error("duplicate key")
            }
            out.append((ks.string, k, Field(v, path: child(ks.string))))
        }
        return out
    }
}

/// The entries of a checked mapping.
public struct Fields {
    public let owner: Field
    public let entries: [(key: String, keyNode: Node, value: Field)]

    /// The value at `key`, or nil when absent or null (`key:` with nothing after it).
    public subscript(_ key: String) -> Field? {
        guard let v = entries.first(where: { $0.key == key })?.value, !v.isNull else { return nil }
        return v
    }

    public func has(_ key: String) -> Bool { self[key] != nil }

    public func required(_ key: String, hint: String = "") throws -> Field {
        guard let v = self[key] else {
            throw ManifestError(
                path: owner.child(key), line: owner.node.mark?.line, column: owner.node.mark?.column,
                message: "required field is missing" + hint)
        }
        return v
    }
}

/// "Did you mean …?" by Levenshtein distance, plus a few common synonyms.
public enum Suggest {
    static let synonyms: [String: String] = [
        "environment": "env", "cmd": "command", "argv": "args", "arguments": "args", "limits": "resources",
        "cpus": "cpu", "mem": "memory", "gpu": "gpus", "requirements": "requires", "input": "inputs",
        "outputs": "output", "restartPolicy": "restart", "restart_policy": "restart", "timeout_seconds": "timeout",
        "networking": "network", "entrypoint": "command", "language": "runtime",
    ]

    public static func closest(to key: String, in allowed: [String]) -> String? {
        if let s = synonyms[key], allowed.contains(s) { return s }
        let lower = key.lowercased()
        var best: (String, Int)?
        for candidate in allowed {
            let d = distance(Array(lower.unicodeScalars), Array(candidate.lowercased().unicodeScalars))
            if d <= 2, d * 2 < max(candidate.unicodeScalars.count, 2), d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
