// ManifestError.swift — one error from reading a manifest or `aegis run` flags: which field, where in
// the file, and what is wrong.

import AegisProtocol

/// An invalid manifest (or `aegis run` option).
///
/// - `path`: the field, dotted from the document root with list indices in brackets
///   (`"resources.memory"`, `"requires.runtimes[1].version"`, `"files.inputs[0]"`); for `aegis run`
///   options the flag (`"--memory"`); empty for YAML/JSON syntax errors that belong to no field.
/// - `line`, `column`: 1-based position of the offending node (value, or key for unknown fields), as
///   libyaml's marks report it through Yams (`column` counts Unicode scalars); nil when the error has
///   no position in the text (e.g. a missing uploaded file, or a command-line option).
/// - `file`: the manifest's name as the caller gave it (`"agent.yaml"`); nil for command-line options.
///
/// `description` reads `agent.yaml:12:3: resources.memory: "12x" is not a memory quantity (…)`, the
/// `file:line:column:` prefix of compilers so that editors can jump to it.
public struct ManifestError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String?
    public var path: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(file: String? = nil, path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var prefix = ""
        if let file { prefix += file }
        if let line {
            prefix += prefix.isEmpty ? "line \(line)" : ":\(line)"
            if let column { prefix += ":\(column)" }
        }
        var out = prefix.isEmpty ? "" : prefix + ": "
        if !path.isEmpty { out += path + ": " }
        return out + message
    }
}

extension ManifestError {
    /// A quantity that did not parse, at its field (`Field.at` adds the position in the file).
    public init(_ error: QuantityError) {
        self.init(path: error.field, message: error.message)
    }

    /// Runs a quantity parse; its `QuantityError` becomes a `ManifestError` at the same field.
    static func quantity<T>(_ parse: () throws -> T) throws -> T {
        do { return try parse() } catch let e as QuantityError { throw ManifestError(e) }
    }
}
