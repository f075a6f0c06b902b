// Digest.swift — OCI content digests ("sha256:<64 hex>", image-spec descriptor.md) and a hasher
// that checks streamed bytes against one.
import AegisSystem
import Crypto

/// A content digest as the OCI image spec writes it: `algorithm ":" encoded`. Only the registered
/// algorithms sha256 and sha512 with lowercase hex are accepted, so a digest is also a safe file name.
public struct Digest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, Codable {
        case sha256, sha512
        /// Hex characters of an encoded digest.
        var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    /// Lowercase hex.
    public let hex: String

    /// Parses "sha256:abc…"; throws `.invalidReference` naming what is wrong.
    public init(parsing text: String) throws(ImageError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw ImageError(.invalidReference, "digest \"\(text)\": expected algorithm:hex")
        }
        let name = String(text[..<colon])
        guard let algorithm = Algorithm(rawValue: name) else {
            throw ImageError(.unsupported, "digest \"\(text)\": algorithm \(name) is not sha256 or sha512")
        }
        let hex = String(text[text.index(after: colon)...])
        guard hex.utf8.count == algorithm.hexLength, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw ImageError(.invalidReference, "digest \"\(text)\": expected \(algorithm.hexLength) lowercase hex digits")
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    public init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// The digest of `bytes` with `algorithm`.
    public static func of(_ bytes: [UInt8], _ algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Digest(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

}

/// Hashes bytes as they stream by, with the algorithm of the digest they must match.
public struct DigestHasher {
    private var sha256: SHA256?
    private var sha512: SHA512?
    public private(set) var count: Int64 = 0

    public init(_ algorithm: Digest.Algorithm) {
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha512: sha512 = SHA512()
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        count += Int64(bytes.count)
        if sha256 != nil { sha256!.update(bufferPointer: bytes) } else { sha512!.update(bufferPointer: bytes) }
    }

    public func finalize() -> Digest {
        if let sha256 { return Digest(algorithm: .sha256, hex: Hex.lowercase(sha256.finalize())) }
        return Digest(algorithm: .sha512, hex: Hex.lowercase(sha512!.finalize()))
    }
}
