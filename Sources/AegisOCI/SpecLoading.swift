// Reading config.json from a bundle, decoding with precise errors, and encoding.

import AegisProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import AegisSystem

/// Why a spec (or state) document could not be loaded. `description` always names the file.
public struct SpecLoadError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// A system call failed while reading the file: `step` is "open", "read" or "fstat".
        case unreadable(step: String, errno: Int32)
        /// The file is larger than `SpecLoadError.maxFileSize` bytes.
        case tooLarge(bytes: Int)
        /// Not JSON: 1-based line and column of the first syntax error.
        case malformed(line: Int, column: Int, detail: String)
        /// Valid JSON whose shape does not match the spec: `path` is the JSON path of the field
        /// ("linux.namespaces[2].type"), `detail` what was wrong ("expected string, found number 3").
        case invalidField(path: String, detail: String)
    }

    /// The file (or caller-supplied name) the document came from.
    public var file: String
    public var reason: Reason

    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    /// Documents larger than this are refused (16 MiB; real configs are a few KiB, a full seccomp
    /// profile under 100 KiB).
    public static let maxFileSize = 16 << 20

    public var description: String {
        switch reason {
        case .unreadable(let step, let errno):
            return "cannot read \(file): \(step): \(errnoDescription(errno))"
        case .tooLarge(let bytes):
            return "\(file): file is \(bytes) bytes, larger than the \(Self.maxFileSize)-byte limit"
        case .malformed(let line, let column, let detail):
            return "\(file): malformed JSON at line \(line), column \(column): \(detail)"
        case .invalidField(let path, let detail):
            return "\(file): \(path): \(detail)"
        }
    }
}

extension Spec {
    /// Reads and decodes `<bundle>/config.json` (runtime.md § Create: the bundle's config).
    /// Does not validate; call `validate()` for what AEGIS can honour.
    /// - Throws: `SpecLoadError` naming the file: unreadable (errno), too large, malformed JSON
    ///   (line/column) or a field of the wrong shape (JSON path).
    public static func load(bundle: String) throws -> Spec {
        let file = bundle.hasSuffix("/") ? bundle + "config.json" : bundle + "/config.json"
        return try decode(try readDocument(file), file: file)
    }

    /// Decodes config.json bytes; `file` is used in error messages only.
    /// - Throws: `SpecLoadError` (`.malformed` or `.invalidField`).
    public static func decode(_ bytes: [UInt8], file: String = "config.json") throws -> Spec {
        try decodeDocument(Spec.self, bytes, file: file)
    }

    /// Decodes config.json from `Data`; see `decode(_:file:)`.
    public static func decode(_ data: Data, file: String = "config.json") throws -> Spec {
        try decode([UInt8](data), file: file)
    }

    /// The spec as JSON with the spec's key names, keys sorted; nil optionals are omitted.
    public func jsonBytes(pretty: Bool = false) throws -> [UInt8] {
        try encodeDocument(self, pretty: pretty)
    }
}

/// Parses `bytes` and decodes `T`, turning every failure into a `SpecLoadError` for `file`.
func decodeDocument<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], file: String) throws -> T {
    let tree: JSONValue
    do {
        tree = try JSONValue.parse(bytes)
    } catch let e as JSONSyntaxError {
        throw SpecLoadError(file: file, reason: .malformed(line: e.line, column: e.column, detail: e.message))
    }
    do {
        return try SpecValueDecoder.decode(type, from: tree)
    } catch let e as DecodingError {
        let (path, detail) = describe(e)
        throw SpecLoadError(file: file, reason: .invalidField(path: path, detail: detail))
    }
}

/// JSON path and message for a DecodingError produced by `SpecValueDecoder`.
func describe(_ error: DecodingError) -> (path: String, detail: String) {
    switch error {
    case .keyNotFound(_, let context), .typeMismatch(_, let context),
        .valueNotFound(_, let context), .dataCorrupted(let context):
        return (jsonPath(context.codingPath), context.debugDescription)
    @unknown default:
        return ("(top level)", String(describing: error))
    }
}

func encodeDocument<T: Encodable>(_ value: T, pretty: Bool) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting =
        pretty
        ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        : [.sortedKeys, .withoutEscapingSlashes]
    return [UInt8](try encoder.encode(value))
}

/// Reads a whole regular file with open/fstat/read (no Foundation file APIs).
func readDocument(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw SpecLoadError(file: path, reason: .unreadable(step: "open", errno: errno)) }
    defer { close(fd) }
    var st = stat()
    if fstat(fd, &st) != 0 { throw SpecLoadError(file: path, reason: .unreadable(step: "fstat", errno: errno)) }
    if Int(st.st_size) > SpecLoadError.maxFileSize {
        throw SpecLoadError(file: path, reason: .tooLarge(bytes: Int(st.st_size)))
    }
    var out: [UInt8] = []
    out.reserveCapacity(Int(st.st_size))
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SpecLoadError(file: path, reason: .unreadable(step: "read", errno: errno))
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
        if out.count > SpecLoadError.maxFileSize {
            throw SpecLoadError(file: path, reason: .tooLarge(bytes: out.count))
        }
    }
    return out
}

/// "ENOENT (errno 2: No such file or directory)".
func errnoDescription(_ code: Int32) -> String {
    let error = Errno(code)
    return "\(error.name) (errno \(code): \(error.text))"
}
