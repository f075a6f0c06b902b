// PodSyntax.swift — Kubernetes' syntax rules for names, label values and paths
// (k8s.io/apimachinery/pkg/util/validation and core/v1 validation), as predicates and as checks
// that throw at a field.

import AegisManifest
import AegisProtocol

enum PodSyntax {
    /// RFC 1123 label (IsDNS1123Label): 1-63 of [a-z0-9-], a letter or digit at both ends.
    static func isDNS1123Label(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...63).contains(u.count), let first = u.first, let last = u.last else { return false }
        return isLowerAlnum(first) && isLowerAlnum(last) && u.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// RFC 1123 subdomain (IsDNS1123Subdomain): at most 253 bytes of labels joined by '.'.
    static func isDNS1123Subdomain(_ s: String) -> Bool {
        s.utf8.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNS1123Label(String($0)) }
    }

    /// A port name (IsValidPortName, IANA_SVC_NAME): 1-15 of [a-z0-9-], at least one letter, no
    /// '-' at either end and no "--".
    static func isPortName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...15).contains(u.count), u.first != UInt8(ascii: "-"), u.last != UInt8(ascii: "-") else { return false }
        return u.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") } && u.contains(where: isLowerLetter) && !s.contains("--")
    }

    /// An environment variable name (IsEnvVarName): `[-._a-zA-Z][-._a-zA-Z0-9]*`.
    static func isEnvVarName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, !isDigit(first) else { return false }
        return u.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }
    }

    /// A label or annotation key (IsQualifiedName): `[prefix/]name`, prefix a DNS-1123 subdomain,
    /// name 1-63 of [A-Za-z0-9-_.] with a letter or digit at both ends.
    static func isQualifiedName(_ s: String) -> Bool {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 && !isDNS1123Subdomain(parts[0]) { return false }
        let name = parts[parts.count - 1]
        return !name.isEmpty && isLabelValue(name)
    }

    /// A label value (IsValidLabelValue): empty, or at most 63 of [A-Za-z0-9-_.] with a letter or
    /// digit at both ends.
    static func isLabelValue(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, let last = u.last else { return true }
        let alnum = { (b: UInt8) in isLetter(b) || isDigit(b) }
        return u.count <= 63 && alnum(first) && alnum(last)
            && u.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// An HTTP header name (RFC 9110 token), as Kubernetes checks `httpHeaders[].name`.
    static func isHTTPHeaderName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { isLetter($0) || isDigit($0) || "!#$%&'*+-.^_`|~".utf8.contains($0) }
    }

    /// Checks a DNS-1123 label at `field` (`what`: "a container name").
    static func checkLabel(_ name: String, at field: Field, what: String) throws {
        guard isDNS1123Label(name) else {
            throw field.error(
                "\(Quantity.quoted(name)) is not a valid \(what): use 1-63 lowercase letters, digits and '-', "
                    + "starting and ending with a letter or digit (RFC 1123 label)")
        }
    }

    /// An absolute path without `..` components or NUL, cleaned: "//a/./b/" → "/a/b".
    static func absolutePath(_ raw: String, at field: Field, what: String) throws -> String {
        guard raw.hasPrefix("/") else { throw field.error("\(what) \(Quantity.quoted(raw)) must be an absolute path") }
        let parts = try components(raw, at: field, what: what)
        return "/" + parts.joined(separator: "/")
    }

    /// A relative path without `..` components or NUL (`subPath`), cleaned: "a/./b/" → "a/b".
    static func relativePath(_ raw: String, at field: Field, what: String) throws -> String {
        guard !raw.hasPrefix("/") else { throw field.error("\(what) \(Quantity.quoted(raw)) must be a relative path") }
        let parts = try components(raw, at: field, what: what)
        guard !parts.isEmpty else { throw field.error("\(what) \(Quantity.quoted(raw)) names no path") }
        return parts.joined(separator: "/")
    }

    private static func components(_ raw: String, at field: Field, what: String) throws -> [Substring] {
        guard !raw.utf8.contains(0), raw.utf8.count <= 4095 else {
            throw field.error("\(what) \(Quantity.quoted(raw)) contains a NUL byte or is longer than 4095 bytes")
        }
        let parts = raw.split(separator: "/").filter { $0 != "." }
        guard !parts.contains("..") else { throw field.error("\(what) \(Quantity.quoted(raw)) must not contain \"..\"") }
        return parts
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { isLowerLetter(b) || isDigit(b) }
    static func isLowerLetter(_ b: UInt8) -> Bool { b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    static func isLetter(_ b: UInt8) -> Bool { isLowerLetter(b | 0x20) }
}
