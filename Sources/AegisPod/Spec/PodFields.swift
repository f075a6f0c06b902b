// PodFields.swift — typed reads of Pod YAML values on top of AegisManifest's `Field` (which knows
// each value's path, line and column), and the strict mapping check that tells a field aegis pod run
// does not honour from one Kubernetes does not have either.
//
// Types are read as Kubernetes reads them (sigs.k8s.io/yaml: YAML 1.1 → JSON → Go structs): a
// string field takes only a string (`8080` for a string is an error, quote it), an integer field
// only a plain decimal integer, a boolean field only a YAML boolean. A null value (`key:` or
// `key: null`) is the field left out, as in Kubernetes.

import AegisManifest
import AegisProtocol
import Yams

/// One Kubernetes object type: the fields `aegis pod run` reads and the other fields core/v1 has
/// (Kubernetes 1.33 to 1.37). A key in neither list is "unknown field".
struct PodObject {
    /// Kubernetes' type name, for messages ("Container").
    let name: String
    let supported: [String]
    let kubernetesOnly: [String]
    /// Extra words after "not supported by aegis pod run" for some fields.
    var hints: [String: String] = [:]
}

extension Field {
    /// The entries of a mapping of type `object`. Every key must be one `aegis pod run` reads: a
    /// key Kubernetes has is "not supported by aegis pod run", another is "unknown field".
    func object(_ object: PodObject) throws -> Fields {
        guard case .mapping = node else { throw error("expected a mapping (a Kubernetes \(object.name)), found \(kind)") }
        for (key, keyNode, _) in try pairs() where !object.supported.contains(key) {
            let at = Field(keyNode, path: child(key))
            if object.kubernetesOnly.contains(key) {
                throw at.error("not supported by aegis pod run" + (object.hints[key].map { " (\($0))" } ?? ""))
            }
            if let s = Suggest.closest(to: key, in: object.supported + object.kubernetesOnly) {
                throw at.error("unknown field (did you mean \(s)?)")
            }
            throw at.error(
                "unknown field: a Kubernetes \(object.name) has no such field; aegis pod run reads "
                    + object.supported.joined(separator: ", "))
        }
        return try mapping(allowed: object.supported)
    }

    /// The resolved YAML tag name of a scalar ("tag:yaml.org,2002:int"), nil for collections.
    private var scalarTag: String? {
        guard case .scalar = node else { return nil }
        return node.tag.rawValue
    }

    /// "expected X, found Y"; for a string field given a number, boolean or date, how to fix it.
    private func typeError(_ what: String, wantsString: Bool = false) -> ManifestError {
        var message = "expected \(what), found \(kind)"
        if wantsString, case .scalar = node, !isNull {
            message += " (quote it: Kubernetes reads this field as a string)"
        }
        return error(message)
    }

    /// A string: a quoted scalar, or a plain one that YAML does not read as a number, boolean,
    /// null or timestamp.
    func string(_ what: String = "a string") throws -> String {
        guard case .scalar(let s) = node, scalarTag == Tag.Name.str.rawValue else {
            throw typeError(what, wantsString: true)
        }
        return s.string
    }

    /// A non-empty string.
    func nonEmptyString(_ what: String) throws -> String {
        let value = try string(what)
        guard !value.isEmpty else { throw error("must not be empty (\(what))") }
        return value
    }

    /// A plain decimal integer within `range` (no quotes, no leading zeros, no `0x`, `1_000` or
    /// sexagesimal forms, which YAML 1.1 would read differently from what one sees).
    func int(_ what: String, in range: ClosedRange<Int>) throws -> Int {
        guard case .scalar(let s) = node, scalarTag == Tag.Name.int.rawValue else {
            var e = typeError(what)
            if case .scalar(let s) = node, Int(s.string) != nil { e.message += " (write the number without quotes)" }
            throw e
        }
        let digits = s.string.hasPrefix("-") || s.string.hasPrefix("+") ? s.string.dropFirst() : Substring(s.string)
        guard let value = Int(s.string), digits.allSatisfy(\.isASCII), digits == "0" || !digits.hasPrefix("0") else {
            throw error("\(Quantity.quoted(s.string)) is not a plain decimal integer (\(what))")
        }
        guard range.contains(value) else {
            throw error("\(value) is out of range: \(what) is \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// True when the value is a plain integer scalar (for fields that take a number or a name).
    var isInteger: Bool { scalarTag == Tag.Name.int.rawValue }

    /// A YAML boolean (`true`/`false`; YAML 1.1 also reads yes/no/on/off, as Kubernetes does).
    func bool() throws -> Bool {
        guard case .scalar(let s) = node, scalarTag == Tag.Name.bool.rawValue else { throw typeError("true or false") }
        return ["true", "yes", "on"].contains(s.string.lowercased())
    }

    /// A list of strings (each item a string, see `string`).
    func stringList(_ what: String = "a list of strings") throws -> [String] {
        try items(what).map { try $0.string() }
    }

    /// A mapping of strings to strings (labels, annotations); a null value is "".
    func stringMap() throws -> [(key: String, keyField: Field, value: String, valueField: Field)] {
        try pairs().map { key, keyNode, value in
            (key, Field(keyNode, path: value.path), value.isNull ? "" : try value.string(), value)
        }
    }

    /// `text` as the case of `T` with that raw value, else an error listing the cases.
    func choice<T: RawRepresentable & CaseIterable>(_: T.Type, _ what: String) throws -> T where T.RawValue == String {
        let text = try string(what)
        guard let value = T(rawValue: text) else {
            throw error("\(Quantity.quoted(text)) is not \(what) (\(T.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return value
    }

    /// One of `allowed`, else an error listing them.
    func oneOf(_ allowed: [String], _ what: String) throws -> String {
        let text = try string(what)
        guard allowed.contains(text) else {
            let list = allowed.map { $0.isEmpty ? "\"\"" : $0 }.joined(separator: ", ")
            throw error("\(Quantity.quoted(text)) is not \(what) (\(list))")
        }
        return text
    }
}
