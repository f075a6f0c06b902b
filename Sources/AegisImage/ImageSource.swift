// ImageSource.swift — where images come from: a registry (RegistrySource), an OCI image layout
// directory or archive (LayoutSource). The puller asks a source for the root document the reference
// names, for manifests by digest and for blobs by descriptor; it verifies everything it is given.

/// A manifest or index as fetched: its bytes, the media type the source declared, and its digest
/// (computed from the bytes; when the reference or a parent document named a digest, equal to it).
public struct FetchedManifest: Sendable {
    public var mediaType: String
    public var bytes: [UInt8]
    public var digest: Digest

    public init(mediaType: String, bytes: [UInt8], digest: Digest) {
        self.mediaType = mediaType
        self.bytes = bytes
        self.digest = digest
    }
}

/// A place images are fetched from. Implementations check what they can (status, declared length)
/// and return errors naming the reference, the step and the source's answer; digests and sizes of
/// blobs are checked by the `BlobWriter` they stream into.
public protocol ImageSource: Sendable {
    /// "registry 127.0.0.1:5000", "OCI layout /srv/images" (for messages).
    var name: String { get }

    /// The document the reference names (an index or a manifest); at most `maxManifestBytes`.
    /// When the reference has a digest the bytes must hash to it (`.digestMismatch` otherwise).
    func fetchRoot() async throws(ImageError) -> FetchedManifest

    /// A manifest an index points at; the bytes must hash to `descriptor.digest`.
    func fetchManifest(_ descriptor: Descriptor) async throws(ImageError) -> FetchedManifest

    /// Streams the blob's bytes, in order, into `writer` (which checks size and digest; the caller
    /// commits). A source that cannot resume starts from the first byte.
    func fetchBlob(_ descriptor: Descriptor, into writer: BlobWriter) async throws(ImageError)
}

/// Manifests and indexes larger than this are refused (distribution's own limit is 4 MiB).
public let maxManifestBytes = 4 << 20
