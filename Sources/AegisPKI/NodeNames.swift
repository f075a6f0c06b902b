#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem
import Crypto
import SwiftASN1
import X509

/// Node-name and host validation shared by signing and verification.
public enum NodeName {
    /// Checks that `name` is an RFC 1123 DNS subdomain as Kubernetes uses for node names
    /// (RFC 1123 §2.1, RFC 1035 §2.3.1): 1–253 characters, dot-separated labels of 1–63 characters
    /// from `[a-z0-9-]` that start and end with a letter or digit, and — as RFC 1123 §2.1 notes no
    /// host name has a numeric top label — a last label that is not all digits (so "10.0.0.5" is
    /// not taken for a name). It becomes the certificate's
    /// subject CN and a DNS SubjectAlternativeName, so it must be a valid DNS name.
    ///
    /// - Throws: `PKIError` `.invalidNodeName` naming the rule that failed.
    public static func validate(_ name: String) throws {
        func fail(_ reason: String) -> PKIError {
            PKIError(code: .invalidNodeName, description: "invalid node name \"\(name)\": \(reason)")
        }
        if let reason = dnsNameProblem(name) { throw fail(reason) }
    }

    /// Why `name` is not a lowercase RFC 1123 DNS name, or nil when it is one.
    static func dnsNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "empty" }
        if bytes.count > 253 { return "\(bytes.count) characters, at most 253 allowed" }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            if label.isEmpty { return "empty label (leading, trailing or doubled '.')" }
            if label.count > 63 { return "label of \(label.count) characters, at most 63 allowed" }
            for byte in label {
                let ok =
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                if !ok {
                    return "character '\(String(decoding: [byte], as: UTF8.self))' not allowed (only a-z, 0-9, '-', '.')"
                }
            }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") {
                return "label \"\(String(decoding: label, as: UTF8.self))\" starts or ends with '-'"
            }
        }
        if let top = bytes.split(separator: UInt8(ascii: ".")).last,
            top.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        {
            return "last label \"\(String(decoding: top, as: UTF8.self))\" is all digits, which a host name never is "
                + "(RFC 1123 §2.1); a malformed IP address?"
        }
        return nil
    }

    /// The 4 (IPv4) or 16 (IPv6) network-order bytes of an IP literal, or nil if `text` is not one.
    /// Uses inet_pton(3): dotted-quad IPv4, RFC 4291 §2.2 text forms for IPv6 (no zone index).
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// SubjectAlternativeName entries for `hosts`: IP literals become iPAddress entries, everything
    /// else must be a DNS name (lowercased first; DNS names are case-insensitive, RFC 4343).
    /// Duplicates are dropped, order kept.
    ///
    /// - Throws: `PKIError` `.invalidHost` naming the host.
    static func subjectAlternativeNames(hosts: [String], ipOnly: Bool = false) throws -> [GeneralName] {
        var names: [GeneralName] = []
        for host in hosts {
            let entry: GeneralName
            if let bytes = ipAddressBytes(host) {
                entry = .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
            } else if ipOnly {
                throw PKIError(code: .invalidHost, description: "invalid IP address \"\(host)\": not an IPv4 or IPv6 literal")
            } else {
                let lower = host.lowercased()
                if let reason = dnsNameProblem(lower) {
                    throw PKIError(
                        code: .invalidHost,
                        description: "invalid host \"\(host)\": not an IP literal, and as a DNS name: \(reason)")
                }
                entry = .dnsName(lower)
            }
            if !names.contains(entry) { names.append(entry) }
        }
        return names
    }

    /// Text form of an iPAddress SAN entry (inet_ntop), or nil for a malformed length.
    static func ipAddressText(_ bytes: ArraySlice<UInt8>) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var output = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = Array(bytes).withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &output, socklen_t(output.count)) != nil
        }
        guard ok else { return nil }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Byte/hash/DER helpers over swift-certificates types.
enum X509Support {
    /// Lowercase hex SHA-256 of `bytes` (64 characters).
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.lowercase(SHA256.hash(data: bytes))
    }

    /// DER encoding of any swift-asn1 serialisable value.
    static func der<T: DERSerializable>(_ value: T, what: String) throws -> [UInt8] {
        try PKIError.wrapping("DER-encoding \(what)") {
            var serializer = DER.Serializer()
            try serializer.serialize(value)
            return serializer.serializedBytes
        }
    }

    /// Lowercase hex SHA-256 of a public key's DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7); the
    /// same value as `openssl pkey -pubin -outform DER | sha256sum`.
    static func publicKeyFingerprint(_ key: Certificate.PublicKey) throws -> String {
        sha256Hex(try der(key, what: "SubjectPublicKeyInfo"))
    }

    /// The first attribute of `type` in `name` as text (CN, OU, ...), or nil.
    static func attribute(_ type: ASN1ObjectIdentifier, in name: DistinguishedName) -> String? {
        for rdn in name {
            for attribute in rdn where attribute.type == type {
                return String(attribute.value)
            }
        }
        return nil
    }

    /// Whether `key` is an ECDSA P-256 public key.
    static func isP256(_ key: Certificate.PublicKey) -> Bool {
        P256.Signing.PublicKey(key) != nil
    }

    /// `date` rounded down to whole seconds: X.509 validity times carry no fractions (RFC 5280
    /// §4.1.2.5), so dates are truncated before encoding to keep in-memory and parsed values equal.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// Throws `.invalidValidity` unless `seconds` is positive and finite.
    static func checkValidity(_ seconds: TimeInterval, what: String) throws {
        guard seconds.isFinite, seconds >= 1 else {
            throw PKIError(
                code: .invalidValidity,
                description: "invalid \(what) validity \(seconds) s: must be a finite number of seconds ≥ 1")
        }
    }
}
