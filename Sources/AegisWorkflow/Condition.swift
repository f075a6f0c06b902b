// Condition.swift — `when:` expressions: parsed when the workflow is loaded (syntax errors then),
// evaluated against earlier steps' results when the step's dependencies are done.
//
//   expr    := and ("||" and)*
//   and     := unary ("&&" unary)*
//   unary   := "!" unary | compare
//   compare := operand (("==" | "!=" | "<" | ">" | "<=" | ">=") operand)?
//   operand := "(" expr ")" | STRING | NUMBER | true | false | TEMPLATE
//
// STRING is '…' or "…" (backslash escapes \' \" \\) and may hold templates; NUMBER is an optional
// minus, digits, an optional fraction; TEMPLATE is `{{…}}` as in `Template`.

/// A parsed `when:` condition, with the text it came from.
public struct Condition: Equatable, Sendable {
    public indirect enum Expr: Equatable, Sendable {
        case literal(Value)
        case template(Template)
        case not(Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case compare(Expr, Comparison, Expr)
    }

    public enum Comparison: String, Equatable, Sendable, CaseIterable {
        case equal = "==", notEqual = "!=", lessOrEqual = "<=", greaterOrEqual = ">=", less = "<", greater = ">"
    }

    /// A value: templates yield strings; a string that reads as a number compares as one.
    public enum Value: Equatable, Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
    }

    public let text: String
    public let expr: Expr

    /// Parses `text`. - Throws: `TemplateSyntaxError` naming what was expected and where (1-based character).
    public init(_ text: String) throws(TemplateSyntaxError) {
        var parser = ConditionParser(text)
        self.text = text
        self.expr = try parser.parseAll()
    }

    /// Every template reference in the condition.
    public var refs: [TemplateRef] { Self.refs(of: expr) }

    static func refs(of e: Expr) -> [TemplateRef] {
        switch e {
        case .literal: return []
        case .template(let t): return t.refs
        case .not(let x): return refs(of: x)
        case .and(let a, let b), .or(let a, let b), .compare(let a, _, let b): return refs(of: a) + refs(of: b)
        }
    }

    /// Evaluates the condition. Comparisons are numeric when both sides read as numbers, else
    /// string comparisons (byte order); `&&` and `||` short-circuit; a string is true or false only
    /// when it is exactly `true` or `false`.
    /// - Throws: `ConditionError` for a value that is not a boolean where one is needed, or what
    ///   `lookup` throws.
    public func evaluate<E: Error>(_ lookup: (TemplateRef) throws(E) -> String) throws -> Bool {
        try Self.truth(try Self.value(expr, lookup))
    }

    static func value<E: Error>(_ e: Expr, _ lookup: (TemplateRef) throws(E) -> String) throws -> Value {
        switch e {
        case .literal(let v): return v
        case .template(let t): return .string(try t.render(lookup))
        case .not(let x): return .bool(!(try truth(try value(x, lookup))))
        case .and(let a, let b): return .bool(try truth(try value(a, lookup)) ? try truth(try value(b, lookup)) : false)
        case .or(let a, let b): return .bool(try truth(try value(a, lookup)) ? true : try truth(try value(b, lookup)))
        case .compare(let a, let op, let b): return .bool(compare(try value(a, lookup), op, try value(b, lookup)))
        }
    }

    static func truth(_ v: Value) throws -> Bool {
        switch v {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        case .string(let s): throw ConditionError(message: "\(quoted(s)) is not true or false")
        case .number(let n): throw ConditionError(message: "the number \(n) is not true or false")
        }
    }

    static func compare(_ a: Value, _ op: Comparison, _ b: Value) -> Bool {
        if let x = number(a), let y = number(b) {
            switch op {
            case .equal: return x == y
            case .notEqual: return x != y
            case .less: return x < y
            case .greater: return x > y
            case .lessOrEqual: return x <= y
            case .greaterOrEqual: return x >= y
            }
        }
        let x = Array(text(a).utf8), y = Array(text(b).utf8)
        switch op {
        case .equal: return x == y
        case .notEqual: return x != y
        case .less: return x.lexicographicallyPrecedes(y)
        case .greater: return y.lexicographicallyPrecedes(x)
        case .lessOrEqual: return !y.lexicographicallyPrecedes(x)
        case .greaterOrEqual: return !x.lexicographicallyPrecedes(y)
        }
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case .number(let n): return n
        case .string(let s): return ConditionParser.numberValue(s.trimmingCharacters(in: " \t\n"))
        case .bool: return nil
        }
    }

    static func text(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): return b ? "true" : "false"
        }
    }

    static func quoted(_ s: String) -> String { "\"" + (s.count > 40 ? String(s.prefix(40)) + "…" : s) + "\"" }
}

/// A condition that cannot be decided (a value that is not a boolean).
public struct ConditionError: Error, Equatable, Sendable {
    public var message: String
}

/// Recursive descent over the characters of a condition. The tree it builds is bounded (length,
/// operators, parentheses): parsing, evaluation, reference walks and the tree's release all
/// recurse over it, and a stored workflow is parsed and evaluated again on every resume.
struct ConditionParser {
    /// Characters of one condition.
    static let maxLength = 4096
    /// `&&`, `||`, `!` and comparisons in one condition.
    static let maxOperators = 100
    /// Parentheses inside each other.
    static let maxNesting = 16

    let chars: [Character]
    var pos = 0
    var operators = 0
    var nesting = 0

    init(_ text: String) { chars = Array(text) }

    mutating func parseAll() throws(TemplateSyntaxError) -> Condition.Expr {
        guard chars.count <= Self.maxLength else {
            throw TemplateSyntaxError(message: "the condition is \(chars.count) characters, more than \(Self.maxLength)")
        }
        skipSpace()
        guard pos < chars.count else { throw TemplateSyntaxError(message: "the condition is empty") }
        let e = try parseOr()
        skipSpace()
        if peek("=") { throw fail("\"=\" is not an operator (compare with ==)") }
        guard pos == chars.count else { throw fail("expected an operator (&&, ||, ==, …) or the end") }
        return e
    }

    mutating func parseOr() throws(TemplateSyntaxError) -> Condition.Expr {
        var left = try parseAnd()
        while eat("||") {
            try countOperator()
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(TemplateSyntaxError) -> Condition.Expr {
        var left = try parseUnary()
        while eat("&&") {
            try countOperator()
            left = .and(left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws(TemplateSyntaxError) -> Condition.Expr {
        skipSpace()
        if peek("!") && !peek("!=") {
            try countOperator()
            pos += 1
            return .not(try parseUnary())
        }
        let left = try parseOperand()
        for op in Condition.Comparison.allCases where eat(op.rawValue) {
            try countOperator()
            return .compare(left, op, try parseOperand())
        }
        return left
    }

    mutating func countOperator() throws(TemplateSyntaxError) {
        operators += 1
        guard operators <= Self.maxOperators else { throw fail("more than \(Self.maxOperators) operators in one condition") }
    }

    mutating func parseOperand() throws(TemplateSyntaxError) -> Condition.Expr {
        skipSpace()
        guard pos < chars.count else { throw fail("expected a value") }
        let c = chars[pos]
        if c == "(" {
            nesting += 1
            guard nesting <= Self.maxNesting else { throw fail("parentheses nested deeper than \(Self.maxNesting)") }
            pos += 1
            let e = try parseOr()
            guard eat(")") else { throw fail("expected \")\"") }
            nesting -= 1
            return e
        }
        if c == "\"" || c == "'" { return .template(try stringLiteral(quote: c)) }
        if peek("{{") {
            guard let end = find("}}") else { throw fail("\"{{\" is not closed by \"}}\"") }
            let raw = String(chars[pos..<end + 2])
            pos = end + 2
            return .template(try Template.parse(raw))
        }
        var word = ""
        while pos < chars.count, chars[pos].isLetter || chars[pos].isNumber || "-._".contains(chars[pos]) {
            word.append(chars[pos])
            pos += 1
        }
        if word == "true" || word == "false" { return .literal(.bool(word == "true")) }
        if let n = Self.numberValue(word) { return .literal(.number(n)) }
        if word.isEmpty { throw fail("expected a value (a 'string', a number, true, false, {{…}} or \"(\")") }
        throw TemplateSyntaxError(message: "\(word) is not a value; quote strings ('\(word)') and write references as {{…}}")
    }

    mutating func stringLiteral(quote: Character) throws(TemplateSyntaxError) -> Template {
        let start = pos
        pos += 1
        var text = ""
        while pos < chars.count, chars[pos] != quote {
            if chars[pos] == "\\", pos + 1 < chars.count { pos += 1 }
            text.append(chars[pos])
            pos += 1
        }
        guard pos < chars.count else {
            pos = start
            throw fail("the string is not closed by \(quote)")
        }
        pos += 1
        return try Template.parse(text)
    }

    /// `-`? digits (`.` digits)?; nil otherwise.
    static func numberValue(_ s: String) -> Double? {
        var body = Substring(s)
        if body.first == "-" { body = body.dropFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= "0" && $0 <= "9" } }) else {
            return nil
        }
        return Double(s)
    }

    mutating func skipSpace() { while pos < chars.count, chars[pos].isWhitespace { pos += 1 } }

    func peek(_ s: String) -> Bool {
        let a = Array(s)
        return pos + a.count <= chars.count && Array(chars[pos..<pos + a.count]) == a
    }

    mutating func eat(_ s: String) -> Bool {
        skipSpace()
        guard peek(s) else { return false }
        pos += s.count
        return true
    }

    func find(_ s: String) -> Int? {
        let a = Array(s)
        var i = pos
        while i + a.count <= chars.count {
            if Array(chars[i..<i + a.count]) == a { return i }
            i += 1
        }
        return nil
    }

    func fail(_ what: String) -> TemplateSyntaxError {
        TemplateSyntaxError(message: "\(what) at character \(pos + 1)")
    }
}
