// A strict RFC 8259 JSON parser producing `JSONValue`, with 1-based line/column positions for
// syntax errors. (Foundation's JSONDecoder reports only "The given data was not valid JSON." with
// no position, and loses the field path of out-of-range numbers; config.json is small, so AEGIS
// parses it itself and decodes the tree with `SpecValueDecoder`.)

/// A JSON syntax error: `line` and `column` are 1-based; `column` counts Unicode scalars.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
    public var line: Int
    public var column: Int
    /// Byte offset of the error in the document.
    public var offset: Int
    public var message: String

    public init(line: Int, column: Int, offset: Int, message: String) {
        self.line = line
        self.column = column
        self.offset = offset
        self.message = message
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

struct JSONParser {
    /// Nesting deeper than this is rejected (guards the recursive descent's stack).
    static let maxDepth = 512

    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        skipWhitespace()
        if i >= bytes.count { throw error("empty document, expected a JSON value") }
        let value = try parseValue()
        skipWhitespace()
        if i < bytes.count { throw error("unexpected \(describe(bytes[i])) after the end of the document") }
        return value
    }

    // MARK: - Values

    private mutating func parseValue() throws -> JSONValue {
        guard i < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describe(bytes[i])), expected a value")
        }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        i += 1  // {
        var object: [String: JSONValue] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) { i += 1; depth -= 1; return .object(object) }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw error(expecting: "a member name in double quotes") }
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw error(expecting: "':' after member name \"\(key)\"") }
            i += 1
            skipWhitespace()
            object[key] = try parseValue()  // a repeated name keeps the last value, as Go's decoder does
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { i += 1; continue }
            if peek(UInt8(ascii: "}")) { i += 1; break }
            throw error(expecting: "',' or '}' in object")
        }
        depth -= 1
        return .object(object)
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        i += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) { i += 1; depth -= 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { i += 1; continue }
            if peek(UInt8(ascii: "]")) { i += 1; break }
            throw error(expecting: "',' or ']' in array")
        }
        depth -= 1
        return .array(items)
    }

    private mutating func parseString() throws -> String {
        let start = i
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else {
                i = start
                throw error("unterminated string")
            }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw error("control character \(describe(c)) in string (must be escaped)") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw error("unterminated escape sequence") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired UTF-16 surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired UTF-16 surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("unpaired UTF-16 surrogate in \\u escape")
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar)!).utf8))
            default:
                i -= 1
                throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))' in string")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            i = start
            throw error("string is not valid UTF-8")
        }
        return s
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count else { throw error("truncated \\u escape (expected 4 hex digits)") }
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape (expected 4 hex digits)")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 § 6); returns the literal text.
    private mutating func parseNumber() throws -> String {
        let start = i
        if peek(UInt8(ascii: "-")) { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw error(expecting: "a digit in number") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw error("leading zero in number") }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if peek(UInt8(ascii: ".")) {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw error(expecting: "a digit after '.' in number") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            i += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw error(expecting: "a digit in exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func literal(_ word: StaticString) throws {
        let text = word.withUTF8Buffer { Array($0) }
        for (k, c) in text.enumerated() {
            guard i + k < bytes.count, bytes[i + k] == c else {
                i += k
                throw error(
                    i < bytes.count
                        ? "unexpected \(describe(bytes[i])) in literal '\(word)'"
                        : "unexpected end of input in literal '\(word)'")
            }
        }
        i += text.count
    }

    // MARK: - Helpers

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting deeper than \(Self.maxDepth) levels") }
    }

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private func peek(_ c: UInt8) -> Bool { i < bytes.count && bytes[i] == c }
    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private func describe(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        if c == 0x20 { return "space" }
        return "byte 0x" + String(c, radix: 16, uppercase: true)
    }

    private func error(expecting what: String) -> JSONSyntaxError {
        if i >= bytes.count { return error("unexpected end of input, expected \(what)") }
        return error("unexpected \(describe(bytes[i])), expected \(what)")
    }

    /// An error at the current offset, with its line and column computed from the bytes before it.
    private func error(_ message: String) -> JSONSyntaxError {
        let offset = min(i, bytes.count)
        var line = 1
        var column = 1
        for b in bytes[0..<offset] {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }  // count scalars, not UTF-8 continuation bytes
        }
        return JSONSyntaxError(line: line, column: column, offset: offset, message: message)
    }
}
