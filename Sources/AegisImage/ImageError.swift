// ImageError.swift — the one error type of AegisImage: a kind callers can switch on, a message that
// names the image, blob, entry or step, and the error underneath (kept, not flattened to text).

/// A failure of pulling, verifying, storing or unpacking an image.
public struct ImageError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The reference does not parse (`aegis image pull "bad ref"`).
        case invalidReference
        /// The registry or layout has no such tag, digest or blob.
        case notFound
        /// The registry refused the credentials (or asked for some and none were given).
        case unauthorized
        /// The registry answered something else unexpected (status, headers, protocol).
        case registry
        /// Content did not hash to the digest it was fetched by, or had another size.
        case digestMismatch
        /// A manifest, index or config is not valid JSON of its media type, or names no usable image.
        case invalidManifest
        /// A media type, platform, compression or digest algorithm this build does not handle.
        case unsupported
        /// A layer entry tried to leave the rootfs or is otherwise refused (path, link, type).
        case unsafeLayer
        /// A size or count limit was reached (a decompression bomb, too many entries).
        case limitExceeded
        /// A local file operation failed (the underlying error says which and why).
        case io
        /// `rm` of an image a live sandbox uses.
        case inUse
        /// A connection to the registry failed (DNS, TCP, TLS, timeout).
        case transport
    }

    public let kind: Kind
    public let message: String
    public let underlying: (any Error & Sendable)?

    public init(_ kind: Kind, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return message }
        return "\(message): \(underlying)"
    }
}
