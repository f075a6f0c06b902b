// RelayTicketKey.swift — the cluster's relay-ticket key pair on disk. The controller keeps the
// private key (PKCS#8, PEM "PRIVATE KEY", mode 0600) and issues tickets with it; relays get only
// the public key (SubjectPublicKeyInfo, PEM "PUBLIC KEY"). Both are the standard Ed25519 encodings
// of RFC 8410, so `openssl pkey -in relay-ticket.key -pubout` derives the same public file.
import AegisSystem
import Crypto
import Foundation

/// Reading, writing and creating the relay-ticket key files.
public enum RelayTicketKey {
    /// The private key's file name in the controller's PKI directory.
    public static let privateKeyFileName = "relay-ticket.key"
    /// The public key's file name (what `aegis relay --ticket-key` reads).
    public static let publicKeyFileName = "relay-ticket.pub"

    /// DER before the 32 key bytes: SubjectPublicKeyInfo { id-Ed25519 (1.3.101.112), BIT STRING }.
    static let publicPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
    /// DER before the 32 seed bytes: OneAsymmetricKey v0 { id-Ed25519, OCTET STRING { OCTET STRING } }.
    static let privatePrefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    /// A key pair's private key as PEM.
    public static func privateKeyPEM(_ key: Curve25519.Signing.PrivateKey) -> String {
        pem(label: "PRIVATE KEY", der: privatePrefix + Array(key.rawRepresentation))
    }

    /// A public key as PEM.
    public static func publicKeyPEM(_ key: Curve25519.Signing.PublicKey) -> String {
        pem(label: "PUBLIC KEY", der: publicPrefix + Array(key.rawRepresentation))
    }

    /// Reads a private key PEM.
    /// - Throws: `RelayKeyError.malformed` (with `origin`, a path or "input") when it is not an Ed25519 PKCS#8 key.
    public static func privateKey(pem text: String, origin: String = "input") throws(RelayKeyError) -> Curve25519.Signing.PrivateKey {
        let der = try derBody(text, label: "PRIVATE KEY", origin: origin)
        guard der.count == privatePrefix.count + 32, Array(der.prefix(privatePrefix.count)) == privatePrefix else {
            throw .malformed(origin, "not an Ed25519 PKCS#8 private key")
        }
        do { return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)) } catch {
            throw .malformed(origin, "Ed25519 seed refused: \(error)")
        }
    }

    /// Reads a public key PEM.
    /// - Throws: `RelayKeyError.malformed` when it is not an Ed25519 SubjectPublicKeyInfo.
    public static func publicKey(pem text: String, origin: String = "input") throws(RelayKeyError) -> Curve25519.Signing.PublicKey {
        let der = try derBody(text, label: "PUBLIC KEY", origin: origin)
        guard der.count == publicPrefix.count + 32, Array(der.prefix(publicPrefix.count)) == publicPrefix else {
            throw .malformed(origin, "not an Ed25519 public key")
        }
        do { return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32)) } catch {
            throw .malformed(origin, "Ed25519 public key refused: \(error)")
        }
    }

    /// Reads the public key file a relay is given.
    /// - Throws: `RelayKeyError.unreadable` (with the OS error) or `.malformed`, naming `path`.
    public static func loadPublicKey(path: String) throws(RelayKeyError) -> Curve25519.Signing.PublicKey {
        let text: String
        do { text = try FileSystem.readText(path, limit: 64 * 1024) } catch { throw .unreadable(path, error) }
        return try publicKey(pem: text, origin: path)
    }

    /// Reads the private key file the controller issues tickets with.
    /// - Throws: `RelayKeyError.unreadable` or `.malformed`, naming `path`.
    public static func loadPrivateKey(path: String) throws(RelayKeyError) -> Curve25519.Signing.PrivateKey {
        let text: String
        do { text = try FileSystem.readText(path, limit: 64 * 1024) } catch { throw .unreadable(path, error) }
        return try privateKey(pem: text, origin: path)
    }

    /// The key pair in `directory` (`relay-ticket.key` 0600, `relay-ticket.pub` 0644), created when
    /// the private key is missing; an existing private key is kept and its public file rewritten.
    /// - Throws: `RelayKeyError` naming the file that could not be read or written.
    public static func loadOrCreate(directory: String) throws(RelayKeyError) -> Curve25519.Signing.PrivateKey {
        let privatePath = directory + "/" + privateKeyFileName
        let key: Curve25519.Signing.PrivateKey
        if access(privatePath, F_OK) == 0 {
            key = try loadPrivateKey(path: privatePath)
        } else {
            key = Curve25519.Signing.PrivateKey()
            do { try FileSystem.writeAtomically(privatePath, text: privateKeyPEM(key), mode: 0o600, replace: false) } catch {
                throw .unwritable(privatePath, error)
            }
        }
        let publicPath = directory + "/" + publicKeyFileName
        do { try FileSystem.writeAtomically(publicPath, text: publicKeyPEM(key.publicKey), mode: 0o644) } catch {
            throw .unwritable(publicPath, error)
        }
        return key
    }

    private static func pem(label: String, der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString()
        var lines: [String] = []
        var rest = Substring(b64)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(64)))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }

    private static func derBody(_ text: String, label: String, origin: String) throws(RelayKeyError) -> [UInt8] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end), start.upperBound <= stop.lowerBound else {
            throw .malformed(origin, "no \(begin) … \(end) block")
        }
        let b64 = text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(b64)) else { throw .malformed(origin, "PEM body is not base64") }
        return Array(der)
    }
}

/// A relay-ticket key file that can't be used.
public enum RelayKeyError: Error, Sendable, CustomStringConvertible {
    /// The file could not be read: its path and the OS error.
    case unreadable(String, SystemError)
    /// The file could not be written: its path and the OS error.
    case unwritable(String, SystemError)
    /// The content is not the expected key: where it came from and why.
    case malformed(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path, let error): "relay ticket key \(path) not readable: \(error)"
        case .unwritable(let path, let error): "relay ticket key \(path) not written: \(error)"
        case .malformed(let origin, let why): "relay ticket key \(origin): \(why)"
        }
    }
}
