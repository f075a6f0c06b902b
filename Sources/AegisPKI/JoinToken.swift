#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisSystem
import Crypto
import X509

/// The credential a worker uses to join: `AEG1<ca-sha256>::<id>.<secret>`.
///
/// - `AEG1`: format version prefix.
/// - `<ca-sha256>`: 64 lowercase hex characters, SHA-256 of the cluster CA certificate DER
///   (`ClusterCA.fingerprint`). The worker pins the CA with it before trusting anything the
///   controller says (`verifyCA(certificateDER:)`).
/// - `<id>`: 6 characters `[a-z0-9]`, public; names the token in the controller's store and logs.
/// - `<secret>`: 16 characters `[a-z0-9]` (36^16 ≈ 2^82.7), proves the worker was given the token.
///   The controller stores only `secretHash`.
///
/// The id/secret shape and CA pinning follow the idea of kubeadm's bootstrap tokens and
/// `--discovery-token-ca-cert-hash`; here the pin travels inside the token.
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    /// Format prefix.
    public static let prefix = "AEG1"
    /// Length of `id` in characters.
    public static let idLength = 6
    /// Length of `secret` in characters.
    public static let secretLength = 16

    /// Hex SHA-256 of the CA certificate DER (64 lowercase hex characters).
    public let caFingerprint: String
    /// Public token id, 6 characters `[a-z0-9]`.
    public let id: String
    /// Token secret, 16 characters `[a-z0-9]`. Never log it; use `redacted`.
    public let secret: String

    /// Builds a token from parts, validating each.
    /// - Throws: `PKIError` `.tokenFingerprint`, `.tokenID`, `.tokenSecret`.
    public init(caFingerprint: String, id: String, secret: String) throws {
        try Self.checkFingerprint(Array(caFingerprint.utf8))
        try Self.checkPart(id, length: Self.idLength, code: .tokenID, name: "id", echo: true)
        try Self.checkPart(secret, length: Self.secretLength, code: .tokenSecret, name: "secret", echo: false)
        self.caFingerprint = caFingerprint
        self.id = id
        self.secret = secret
    }

    /// Parses `AEG1<64 hex>::<id>.<secret>`. Leading and trailing whitespace (e.g. the newline of a
    /// token file) is ignored.
    ///
    /// - Throws: `PKIError` naming the first malformed part: `.tokenPrefix` (missing `AEG1`),
    ///   `.tokenFingerprint` (not 64 characters, or a character that is not lowercase hex, with its
    ///   offset), `.tokenSeparator` (no `::` after the fingerprint, or no `.` between id and secret),
    ///   `.tokenID`, `.tokenSecret` (wrong length or character; the secret is never echoed).
    public init(parsing text: String) throws {
        var bytes = Array(text.utf8)
        while let last = bytes.last, Self.isSpace(last) { bytes.removeLast() }
        while let first = bytes.first, Self.isSpace(first) { bytes.removeFirst() }
        let prefix = Array(Self.prefix.utf8)
        guard bytes.starts(with: prefix) else {
            let shown = String(decoding: bytes.prefix(prefix.count), as: UTF8.self)
            throw PKIError(
                code: .tokenPrefix,
                description: "join token must start with \"\(Self.prefix)\", found \"\(shown)\"")
        }
        let rest = bytes.dropFirst(prefix.count)
        let colon = UInt8(ascii: ":")
        var fingerprint = Array(rest.prefix { $0 != colon })
        if fingerprint.count > 64, (try? Self.checkFingerprint(Array(fingerprint.prefix(64)))) != nil,
            fingerprint.dropFirst(64).contains(where: { !Self.isLowerHex($0) })
        {
            // 64 good hex characters followed by id/secret text: the "::" is what is missing.
            fingerprint = Array(fingerprint.prefix(64))
        } else {
            try Self.checkFingerprint(fingerprint)
        }
        let afterFingerprint = rest.dropFirst(fingerprint.count)
        guard afterFingerprint.starts(with: [colon, colon]) else {
            throw PKIError(
                code: .tokenSeparator,
                description: "join token lacks \"::\" after the 64-character CA fingerprint")
        }
        let credential = afterFingerprint.dropFirst(2)
        guard let dot = credential.firstIndex(of: UInt8(ascii: ".")) else {
            throw PKIError(
                code: .tokenSeparator,
                description: "join token lacks \".\" between the token id and the secret (expected <id>.<secret>)")
        }
        let id = String(decoding: credential[..<dot], as: UTF8.self)
        let secret = String(decoding: credential[credential.index(after: dot)...], as: UTF8.self)
        try self.init(caFingerprint: String(decoding: fingerprint, as: UTF8.self), id: id, secret: secret)
    }

    /// A new token with a random id and secret (SystemRandomNumberGenerator, i.e. getrandom(2) on
    /// Linux, uniform over `[a-z0-9]`) pinning `caFingerprint`.
    /// - Throws: `PKIError` `.tokenFingerprint` when `caFingerprint` is not 64 lowercase hex.
    public static func generate(caFingerprint: String) throws -> JoinToken {
        try JoinToken(
            caFingerprint: caFingerprint, id: randomString(length: idLength),
            secret: randomString(length: secretLength))
    }

    /// A new token pinning `ca` (cannot fail: the CA's fingerprint is well-formed).
    public static func generate(ca: ClusterCA) -> JoinToken {
        try! generate(caFingerprint: ca.fingerprint)
    }

    /// The token string `AEG1<fingerprint>::<id>.<secret>` (contains the secret).
    public var description: String {
        "\(Self.prefix)\(caFingerprint)::\(id).\(secret)"
    }

    /// The token with the secret replaced by `*`, safe for logs.
    public var redacted: String {
        "\(Self.prefix)\(caFingerprint)::\(id).\(String(repeating: "*", count: secret.count))"
    }

    /// Lowercase hex SHA-256 of the secret's UTF-8 bytes (64 characters): what the controller
    /// stores instead of the secret.
    public var secretHash: String {
        X509Support.sha256Hex(Array(secret.utf8))
    }

    /// Whether this token's secret hashes to `storedHash` (a `secretHash` kept by the controller),
    /// compared in constant time over the 64 hex characters.
    public func matches(secretHash storedHash: String) -> Bool {
        let mine = Array(secretHash.utf8)
        let theirs = Array(storedHash.utf8)
        guard mine.count == theirs.count else { return false }
        var difference: UInt8 = 0
        for index in mine.indices { difference |= mine[index] ^ theirs[index] }
        return difference == 0
    }

    /// Checks that `certificateDER` is the CA this token pins (SHA-256 of the DER equals
    /// `caFingerprint`).
    /// - Throws: `PKIError` `.caFingerprintMismatch` with the expected and actual fingerprints.
    public func verifyCA(certificateDER: [UInt8]) throws {
        let actual = X509Support.sha256Hex(certificateDER)
        guard actual == caFingerprint else {
            throw PKIError(
                code: .caFingerprintMismatch,
                description: "cluster CA certificate does not match the join token: expected SHA-256 \(caFingerprint), "
                    + "got \(actual) — the controller is not the one that issued this token, or the CA was replaced")
        }
    }

    /// `verifyCA(certificateDER:)` for a PEM certificate.
    /// - Throws: `PKIError` `.malformedInput`, `.caFingerprintMismatch`.
    public func verifyCA(certificatePEM: String) throws {
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: certificatePEM) } catch {
            throw PKIError.malformed("PEM CA certificate", error)
        }
        try verifyCA(certificateDER: try X509Support.der(certificate, what: "CA certificate"))
    }

    // MARK: - Validation

    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)

    static func randomString(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t")
    }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    static func checkFingerprint(_ bytes: [UInt8]) throws {
        for (offset, byte) in bytes.enumerated() {
            if !isLowerHex(byte) {
                throw PKIError(
                    code: .tokenFingerprint,
                    description: "join token CA fingerprint has \(describe(byte)) at offset \(offset); "
                        + "expected lowercase hex [0-9a-f]")
            }
        }
        guard bytes.count == 64 else {
            throw PKIError(
                code: .tokenFingerprint,
                description: "join token CA fingerprint has \(bytes.count) hex characters, expected 64 (SHA-256)")
        }
    }

    static func checkPart(_ value: String, length: Int, code: PKIError.Code, name: String, echo: Bool) throws {
        let bytes = Array(value.utf8)
        for (offset, byte) in bytes.enumerated() where !alphabet.contains(byte) {
            throw PKIError(
                code: code,
                description: "join token \(name) has \(echo ? describe(byte) : "a character outside [a-z0-9]") "
                    + "at offset \(offset); allowed: [a-z0-9]")
        }
        guard bytes.count == length else {
            let shown = echo ? " \"\(value)\"" : ""
            throw PKIError(
                code: code,
                description: "join token \(name)\(shown) has \(bytes.count) characters, expected \(length)")
        }
    }

    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7f { return "character '\(String(decoding: [byte], as: UTF8.self))'" }
        return "byte 0x\(Hex.lowercase([byte]))"
    }
}
