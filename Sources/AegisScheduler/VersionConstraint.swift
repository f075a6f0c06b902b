// VersionConstraint.swift — runtime version constraints ("python3 >=3.10", "node ^20").
//
// The operators borrow their meaning from the two ecosystems agents come from: comparison and `==`
// follow PEP 440 (missing components count as 0, `==3.11.*` is a prefix match, `~=` is "compatible
// release"); `^`, `~`, `=`, bare versions and `x` wildcards follow npm's semver ranges. Pre-release and
// build suffixes are ignored ("3.13.0rc1" is 3.13.0).

/// A dotted numeric version as runtimes report it ("3.11.2", "v20.11.1", "3.13.0rc1" → 3.13.0).
public struct RuntimeVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
    /// Numeric components, most significant first (at least one).
    public let components: [Int]

    /// nil when `text` does not start with a number (after an optional "v").
    public init?(_ text: String) {
        // ASCII bytes: [v]N(.N)* with anything after a component's digits ending the version.
        var parts: [Int] = []
        var bytes = Substring(text.trimmingWhitespace()).utf8[...]
        if let f = bytes.first, f == UInt8(ascii: "v") || f == UInt8(ascii: "V") { bytes = bytes.dropFirst() }
        while true {
            var n = 0, digits = 0
            while let b = bytes.first, b >= 0x30 && b <= 0x39, digits < 9 {
                n = n * 10 + Int(b - 0x30)
                digits += 1
                bytes = bytes.dropFirst()
            }
            if digits == 0 { break }
            parts.append(n)
            guard bytes.first == UInt8(ascii: "."), let next = bytes.dropFirst().first, next >= 0x30 && next <= 0x39 else { break }
            bytes = bytes.dropFirst()
        }
        if parts.isEmpty { return nil }
        components = parts
    }

    public init(_ components: [Int]) {
        precondition(!components.isEmpty, "a version has at least one component")
        self.components = components
    }

    public var description: String { components.map(String.init).joined(separator: ".") }

    /// -1, 0, 1 comparing with missing components as 0 (3.11 == 3.11.0).
    static func compare(_ a: [Int], _ b: [Int]) -> Int {
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }

    /// The first `prefix.count` components equal `prefix` (missing components count as 0).
    static func hasPrefix(_ v: [Int], _ prefix: [Int]) -> Bool {
        for i in 0..<prefix.count where (i < v.count ? v[i] : 0) != prefix[i] { return false }
        return true
    }

    public static func < (a: RuntimeVersion, b: RuntimeVersion) -> Bool { compare(a.components, b.components) < 0 }
    public static func == (a: RuntimeVersion, b: RuntimeVersion) -> Bool { compare(a.components, b.components) == 0 }
}

/// A version constraint: clauses separated by commas or spaces, all of which must hold.
///
/// | form | matches |
/// | --- | --- |
/// | `>=V` `>V` `<=V` `<V` | numeric comparison, missing components are 0 (`>3` matches 3.11) |
/// | `==V` | equal after zero padding (`==3.11` is 3.11.0 only) |
/// | `==V.*`, `V.*`, `V.x` | prefix (`3.11.*` is any 3.11.x) |
/// | `!=V`, `!=V.*` | not equal / not that prefix |
/// | `=V`, `V` | prefix, as in npm (`3.11` and `=3.11` are any 3.11.x; `3.11.2` is exactly 3.11.2) |
/// | `^V` | same major, at least V (`^20` is 20.x.y) |
/// | `~V` | same major.minor, at least V (`~3.11` is 3.11.x); same major when V has one component |
/// | `~=V` | PEP 440 compatible release: at least V, same components but the last (`~=3.11` is 3.x ≥ 3.11) |
/// | `*`, `x`, empty | anything |
public struct VersionConstraint: Sendable, Equatable, CustomStringConvertible {
    enum Clause: Sendable, Equatable {
        case less(orEqual: Bool, [Int])
        case greater(orEqual: Bool, [Int])
        case equal([Int])
        case notEqual([Int])
        case prefix([Int])
        case notPrefix([Int])
        /// at least `minimum` and the first `keep` components equal to minimum's.
        case atLeastKeeping(minimum: [Int], keep: Int)
    }

    /// The constraint as written.
    public let text: String
    let clauses: [Clause]

    /// Parses `text`. Throws `VersionConstraintError` naming the clause that is not understood.
    public init(_ text: String) throws {
        self.text = text
        var clauses: [Clause] = []
        for token in VersionConstraint.tokens(text) {
            if let clause = try VersionConstraint.clause(token, in: text) { clauses.append(clause) }
        }
        self.clauses = clauses
    }

    public var description: String { text }

    /// True when every clause holds for `version`.
    public func isSatisfied(by version: RuntimeVersion) -> Bool {
        let v = version.components
        for clause in clauses {
            let ok: Bool
            switch clause {
            case .less(let orEqual, let b):
                let c = RuntimeVersion.compare(v, b); ok = c < 0 || (orEqual && c == 0)
            case .greater(let orEqual, let b):
                let c = RuntimeVersion.compare(v, b); ok = c > 0 || (orEqual && c == 0)
            case .equal(let b): ok = RuntimeVersion.compare(v, b) == 0
            case .notEqual(let b): ok = RuntimeVersion.compare(v, b) != 0
            case .prefix(let p): ok = RuntimeVersion.hasPrefix(v, p)
            case .notPrefix(let p): ok = !RuntimeVersion.hasPrefix(v, p)
            case .atLeastKeeping(let minimum, let keep):
                ok = RuntimeVersion.compare(v, minimum) >= 0 && RuntimeVersion.hasPrefix(v, Array(minimum.prefix(keep)))
            }
            if !ok { return false }
        }
        return true
    }

    /// False when `version` is not a version at all ("unknown").
    public func isSatisfied(by version: String) -> Bool {
        guard let v = RuntimeVersion(version) else { return false }
        return isSatisfied(by: v)
    }

    // MARK: parsing

    private static let operators = [">=", "<=", "==", "!=", "~=", ">", "<", "=", "^", "~"]

    /// Splits on commas and whitespace, joining a lone operator with the version after it (">= 3.10").
    private static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var pendingOp: String?
        for raw in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            let word = String(raw)
            if operators.contains(word) {
                pendingOp = (pendingOp ?? "") + word
                continue
            }
            out.append((pendingOp ?? "") + word)
            pendingOp = nil
        }
        if let op = pendingOp { out.append(op) }  // dangling operator: reported by clause()
        return out
    }

    private static func clause(_ token: String, in text: String) throws -> Clause? {
        let op = operators.first(where: { token.hasPrefix($0) }) ?? ""
        let rest = String(token.dropFirst(op.count))
        func fail(_ problem: String) -> VersionConstraintError {
            VersionConstraintError(constraint: text, clause: token, problem: problem)
        }
        if op.isEmpty && (rest == "*" || rest == "x" || rest == "X") { return nil }
        guard !rest.isEmpty else { throw fail("operator \(op) has no version after it") }
        var pieces = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var wildcard = false
        if let last = pieces.last, last == "*" || last == "x" || last == "X" {
            wildcard = true
            pieces.removeLast()
        }
        var nums: [Int] = []
        for p in pieces {
            guard !p.isEmpty, p.count <= 9, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else {
                throw fail("\"\(rest)\" is not a version (expected numbers separated by dots, like 3.11 or 3.11.*)")
            }
            nums.append(n)
        }
        if nums.isEmpty {  // "==*", ">=x": anything
            if op == "!=" { throw fail("\"!=\(rest)\" excludes every version") }
            return nil
        }
        switch op {
        case ">=": return .greater(orEqual: true, nums)
        case ">": return .greater(orEqual: false, nums)
        case "<=": return .less(orEqual: true, nums)
        case "<": return .less(orEqual: false, nums)
        case "==": return wildcard ? .prefix(nums) : .equal(nums)
        case "!=": return wildcard ? .notPrefix(nums) : .notEqual(nums)
        case "", "=": return .prefix(nums)
        case "^": return .atLeastKeeping(minimum: nums, keep: 1)
        case "~": return .atLeastKeeping(minimum: nums, keep: min(2, nums.count))
        case "~=":
            guard nums.count >= 2, !wildcard else {
                throw fail("~= needs at least two components and no wildcard (like ~=3.11)")
            }
            return .atLeastKeeping(minimum: nums, keep: nums.count - 1)
        default:
            throw fail("unknown operator \(op)")
        }
    }
}

/// A version constraint that could not be parsed.
public struct VersionConstraintError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The whole constraint as written.
    public var constraint: String
    /// The clause that failed.
    public var clause: String
    public var problem: String

    public var description: String { "invalid version constraint \"\(constraint)\": \(clause): \(problem)" }
}

extension String {
    /// Without leading and trailing ASCII spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        let u = utf8
        guard let first = u.firstIndex(where: { !isSpace($0) }), let last = u.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        if first == u.startIndex && last == u.index(before: u.endIndex) { return self }
        return String(self[first...last])
    }
}
