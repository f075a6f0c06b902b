// RelayTicket.swift — what an edge shows a relay before the relay opens anything for it: the
// cluster's Ed25519 signature over (edge, tenant, ticket id, validity window). The relay holds only
// the public key: it can check a ticket, never make one. The ticket says nothing the edge's own
// mutual TLS does not prove again end to end; it only keeps anonymous clients off the relay.
//
// Encoding (version 1), `<body>.<signature>`, each base64url without padding:
//   body      = version (1 byte, 0x01) · notBefore (Int64 big-endian, Unix ms) · expiresAt (Int64
//               big-endian, Unix ms) · ticket id (16 bytes) · tenant (1 length byte + UTF-8) ·
//               edge (1 length byte + UTF-8), nothing after
//   signature = Ed25519 over "aegis-relay-ticket\0" + body (64 bytes)
import Crypto
import Foundation

/// A relay ticket's claims: which edge of which tenant may hold a relay session, and when.
public struct RelayTicket: Sendable, Equatable {
    /// The encoding version this code writes and reads.
    public static let version: UInt8 = 1
    /// Bytes a tenant or edge name may take (one length byte).
    public static let maxNameBytes = 255
    /// Prefix signed before the body, so that the key signs nothing else by accident.
    static let signingContext = Array("aegis-relay-ticket\0".utf8)

    /// The edge's node name.
    public var edge: String
    /// The tenant that owns the edge.
    public var tenant: String
    /// A random id naming this ticket (for logs and a later revocation list), 16 bytes.
    public var id: [UInt8]
    /// Not valid before this instant, Unix ms.
    public var notBeforeMs: Int64
    /// Not valid from this instant on, Unix ms.
    public var expiresAtMs: Int64

    public init(edge: String, tenant: String, id: [UInt8], notBeforeMs: Int64, expiresAtMs: Int64) {
        self.edge = edge
        self.tenant = tenant
        self.id = id
        self.notBeforeMs = notBeforeMs
        self.expiresAtMs = expiresAtMs
    }

    /// A ticket with a fresh random id, valid from `nowMs` for `validityMs`.
    public static func make(edge: String, tenant: String, nowMs: Int64, validityMs: Int64) -> RelayTicket {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return RelayTicket(edge: edge, tenant: tenant, id: id, notBeforeMs: nowMs, expiresAtMs: nowMs + validityMs)
    }

    /// The ticket id as lowercase hex (32 characters).
    public var idHex: String { id.map { String(format: "%02x", $0) }.joined() }

    /// The part of an encoded ticket a `RelayTicketError.malformed` names.
    public enum Part: String, Sendable, Equatable {
        /// The text: not `<body>.<signature>` in base64url.
        case encoding
        case version
        case notBefore = "not-before"
        case expiresAt = "expires-at"
        case id
        case tenant
        case edge
        /// Bytes after the last field.
        case trailer
        case signature
    }

    /// The signed body (see the file's header for the layout).
    /// - Throws: `RelayTicketError.malformed` naming the field that is empty or too long.
    public func body() throws(RelayTicketError) -> [UInt8] {
        guard id.count == 16 else { throw .malformed(.id, "\(id.count) bytes, expected 16") }
        guard expiresAtMs > notBeforeMs else { throw .malformed(.expiresAt, "not after not-before") }
        var out: [UInt8] = [Self.version]
        Self.append(notBeforeMs, to: &out)
        Self.append(expiresAtMs, to: &out)
        out += id
        for (part, name) in [(Part.tenant, tenant), (.edge, edge)] {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= Self.maxNameBytes else {
                throw .malformed(part, "\(bytes.count) bytes, expected 1…\(Self.maxNameBytes)")
            }
            out.append(UInt8(bytes.count))
            out += bytes
        }
        return out
    }

    /// Reads a body; the inverse of `body()`.
    /// - Throws: `RelayTicketError.unsupportedVersion`, or `.malformed` naming the field.
    public static func parse(body: [UInt8]) throws(RelayTicketError) -> RelayTicket {
        var reader = ByteReader(bytes: body)
        guard let version = reader.take(1)?.first else { throw .malformed(.version, "empty body") }
        guard version == Self.version else { throw .unsupportedVersion(version) }
        guard let notBefore = reader.int64() else { throw .malformed(.notBefore, "truncated") }
        guard let expiresAt = reader.int64() else { throw .malformed(.expiresAt, "truncated") }
        guard let id = reader.take(16) else { throw .malformed(.id, "truncated") }
        var names: [String] = []
        for part in [Part.tenant, .edge] {
            guard let count = reader.take(1)?.first, count > 0 else { throw .malformed(part, "missing or empty") }
            guard let bytes = reader.take(Int(count)) else { throw .malformed(part, "truncated") }
            guard let name = String(validating: bytes, as: UTF8.self) else { throw .malformed(part, "not UTF-8") }
            names.append(name)
        }
        guard reader.remaining == 0 else { throw .malformed(.trailer, "\(reader.remaining) bytes after the edge name") }
        guard expiresAt > notBefore else { throw .malformed(.expiresAt, "not after not-before") }
        return RelayTicket(edge: names[1], tenant: names[0], id: id, notBeforeMs: notBefore, expiresAtMs: expiresAt)
    }

    /// The encoded ticket, `<body>.<signature>` in base64url, signed with the cluster's ticket key.
    /// - Throws: `RelayTicketError.malformed` for claims that can't be encoded; `.signing` when
    ///   the key fails to sign.
    public func encoded(signedWith key: Curve25519.Signing.PrivateKey) throws(RelayTicketError) -> String {
        let body = try body()
        let signature: Data
        do { signature = try key.signature(for: Self.signingContext + body) } catch { throw .signing(String(describing: error)) }
        return Base64URL.encode(body) + "." + Base64URL.encode(Array(signature))
    }

    /// Checks an encoded ticket: its form, the signature with `key`, then the validity window at
    /// `nowMs` (Unix ms) allowing `skewMs` of clock difference on either bound.
    /// - Returns: the claims of a ticket that passed every check.
    /// - Throws: `RelayTicketError`: `.malformed` naming the part, `.unsupportedVersion`,
    ///   `.badSignature`, `.notYetValid`, `.expired` — checked in that order, so that an unsigned
    ///   ticket never learns whether its dates would pass.
    public static func verify(
        _ text: String, key: Curve25519.Signing.PublicKey, nowMs: Int64, skewMs: Int64 = 0
    ) throws(RelayTicketError) -> RelayTicket {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .malformed(.encoding, "expected <body>.<signature>, found \(parts.count) part(s)") }
        guard let body = Base64URL.decode(parts[0]), !body.isEmpty else { throw .malformed(.encoding, "body is not base64url") }
        guard let signature = Base64URL.decode(parts[1]) else { throw .malformed(.signature, "not base64url") }
        guard signature.count == 64 else { throw .malformed(.signature, "\(signature.count) bytes, expected 64") }
        // The version is read before the signature: a ticket of another version may be signed otherwise.
        guard body[0] == Self.version else { throw .unsupportedVersion(body[0]) }
        guard key.isValidSignature(signature, for: Self.signingContext + body) else { throw .badSignature }
        let ticket = try parse(body: body)
        guard nowMs + skewMs >= ticket.notBeforeMs else { throw .notYetValid(notBeforeMs: ticket.notBeforeMs, nowMs: nowMs) }
        guard nowMs - skewMs < ticket.expiresAtMs else { throw .expired(expiresAtMs: ticket.expiresAtMs, nowMs: nowMs) }
        return ticket
    }

    private static func append(_ value: Int64, to out: inout [UInt8]) {
        let bits = UInt64(bitPattern: value)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }
}

/// Why a relay ticket was refused. The relay answers with `reason` and logs `description`.
public enum RelayTicketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a ticket of this format: names the part and what is wrong with it.
    case malformed(RelayTicket.Part, String)
    /// A version this relay does not read.
    case unsupportedVersion(UInt8)
    /// The signature does not verify with the relay's ticket key (forged, tampered, another cluster's).
    case badSignature
    /// Its window has not begun (Unix ms).
    case notYetValid(notBeforeMs: Int64, nowMs: Int64)
    /// Its window has ended (Unix ms).
    case expired(expiresAtMs: Int64, nowMs: Int64)
    /// The cluster's key failed to sign (issuing side only).
    case signing(String)

    /// A short machine-readable reason (the relay's `X-Aegis-Relay-Refusal` header).
    public var reason: String {
        switch self {
        case .malformed(let part, _): "malformed-\(part.rawValue)"
        case .unsupportedVersion: "unsupported-version"
        case .badSignature: "bad-signature"
        case .notYetValid: "not-yet-valid"
        case .expired: "expired"
        case .signing: "signing"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let part, let why): "relay ticket malformed: \(part.rawValue): \(why)"
        case .unsupportedVersion(let v): "relay ticket version \(v) is not supported (this relay reads \(RelayTicket.version))"
        case .badSignature: "relay ticket signature does not verify with the ticket key"
        case .notYetValid(let nb, let now): "relay ticket not valid before \(nb) ms (now \(now) ms)"
        case .expired(let exp, let now): "relay ticket expired at \(exp) ms (now \(now) ms)"
        case .signing(let why): "relay ticket not signed: \(why)"
        }
    }
}

/// base64url without padding (RFC 4648 §5).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// nil for a character outside the base64url alphabet (padding included) or a bad length.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.allSatisfy({ isAlphabet($0) }), text.utf8.count % 4 != 1 else { return nil }
        var standard = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { Array($0) }
    }

    private static func isAlphabet(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }
}

/// Reads a byte array front to back.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count <= remaining else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func int64() -> Int64? {
        guard let raw = take(8) else { return nil }
        return Int64(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }
}
