// Template.swift — `{{…}}` references in workflow step fields: the grammar, and substitution given
// a lookup of values.

/// What a `{{…}}` names.
///
/// | written | case | value |
/// |---|---|---|
/// | `{{parameters.NAME}}` | `.parameter(NAME)` | the workflow parameter (default, or its `-p` override) |
/// | `{{steps.NAME.exitCode}}` | `.exitCode(step:)` | the step's last attempt's exit code, decimal |
/// | `{{steps.NAME.outputs.FILE}}` | `.output(step:file:)` | the text of a small output file (`WorkflowLimits.maxReadOutputBytes`) |
/// | `{{item}}` | `.item` | the fan-out item of this instance |
/// | `{{workflow.status}}` | `.workflowStatus` | `Succeeded`, `Failed` or `Cancelled` (onExit steps only) |
public enum TemplateRef: Hashable, Sendable, CustomStringConvertible {
    case parameter(String)
    case exitCode(step: String)
    case output(step: String, file: String)
    case item
    case workflowStatus

    /// The step whose result the reference reads, if any.
    public var step: String? {
        switch self {
        case .exitCode(let s), .output(let s, _): return s
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .parameter(let n): return "{{parameters.\(n)}}"
        case .exitCode(let s): return "{{steps.\(s).exitCode}}"
        case .output(let s, let f): return "{{steps.\(s).outputs.\(f)}}"
        case .item: return "{{item}}"
        case .workflowStatus: return "{{workflow.status}}"
        }
    }
}

/// A template's syntax error (no position: the caller knows the field).
public struct TemplateSyntaxError: Error, Equatable, Sendable {
    public var message: String
}

/// A string with `{{…}}` references. Every `{{` opens a reference (there is no escape); spaces
/// inside the braces are ignored (`{{ item }}`).
public struct Template: Equatable, Sendable {
    public enum Part: Equatable, Sendable {
        case text(String)
        case ref(TemplateRef)
    }

    public let parts: [Part]

    /// True when `text` has something that would be read as a reference.
    public static func mayContainReferences(_ text: String) -> Bool { text.contains("{{") }

    /// Parses `text`; a string without `{{` is one text part.
    public static func parse(_ text: String) throws(TemplateSyntaxError) -> Template {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                throw TemplateSyntaxError(message: "\"{{\" is not closed by \"}}\"")
            }
            parts.append(.ref(try reference(String(after[..<close.lowerBound]))))
            rest = after[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return Template(parts: parts)
    }

    /// The references, in order of appearance.
    public var refs: [TemplateRef] {
        parts.compactMap { if case .ref(let r) = $0 { return r } else { return nil } }
    }

    /// The text with each reference replaced by `lookup`'s value.
    public func render<E: Error>(_ lookup: (TemplateRef) throws(E) -> String) throws(E) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .ref(let r): out += try lookup(r)
            }
        }
        return out
    }

    static func reference(_ raw: String) throws(TemplateSyntaxError) -> TemplateRef {
        let body = raw.trimmingCharacters(in: " \t")
        let hint = "parameters.NAME, steps.NAME.exitCode, steps.NAME.outputs.FILE, item or workflow.status"
        let bad = TemplateSyntaxError(message: "\"{{\(raw)}}\" is not a reference (use \(hint))")
        if body == "item" { return .item }
        if body == "workflow.status" { return .workflowStatus }
        let pieces = body.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        switch pieces.first {
        case "parameters":
            guard pieces.count == 2, WorkflowNames.isParameterName(pieces[1]) else { throw bad }
            return .parameter(pieces[1])
        case "steps":
            guard pieces.count >= 3, WorkflowNames.isStepName(pieces[1]) else { throw bad }
            if pieces.count == 3, pieces[2] == "exitCode" { return .exitCode(step: pieces[1]) }
            if pieces.count == 4, pieces[2] == "outputs", !pieces[3].isEmpty, !pieces[3].contains(" ") {
                return .output(step: pieces[1], file: pieces[3])
            }
            throw TemplateSyntaxError(message: "\"{{\(raw)}}\": a step offers exitCode and outputs.FILE")
        default:
            throw bad
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

/// Name rules of workflows, steps and parameters.
public enum WorkflowNames {
    /// Step and workflow names: 1-63 of `[a-z0-9-]`, starting with a letter or digit (a workload name).
    public static func isStepName(_ s: String) -> Bool {
        guard let first = s.utf8.first, (1...63).contains(s.utf8.count), isLowerAlnum(first) else { return false }
        return s.utf8.allSatisfy { isLowerAlnum($0) || $0 == 0x2D }
    }

    /// Parameter names: 1-63 of `[A-Za-z0-9_-]`, starting with a letter or `_`.
    public static func isParameterName(_ s: String) -> Bool {
        guard let first = s.utf8.first, (1...63).contains(s.utf8.count), isLetter(first) || first == 0x5F else { return false }
        return s.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
    static func isLetter(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) }
}
