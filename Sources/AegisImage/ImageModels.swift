// ImageModels.swift — the OCI image-spec documents AEGIS reads (descriptor, index, manifest, image
// config) and the Docker v2 schema 2 media types that registries still serve for the same shapes.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Media types (image-spec media-types.md; Docker's manifest v2 schema 2).
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    /// What a registry is asked for (`Accept`) when a manifest is fetched.
    public static let manifestAccept = [ociIndex, ociManifest, dockerManifestList, dockerManifest]

    public static func isIndex(_ t: String) -> Bool { t == ociIndex || t == dockerManifestList }
    public static func isManifest(_ t: String) -> Bool { t == ociManifest || t == dockerManifest }
    public static func isLayer(_ t: String) -> Bool {
        [ociLayerTar, ociLayerGzip, ociLayerZstd, dockerLayerGzip].contains(t)
    }
}

/// A content descriptor (image-spec descriptor.md).
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    /// Bytes.
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }
}

extension Descriptor {
    /// Throws `.digestMismatch` (naming `what`) unless `bytes` have this descriptor's size and digest.
    func verify(_ bytes: [UInt8], _ what: String) throws(ImageError) {
        let actual = Digest.of(bytes, digest.algorithm)
        guard Int64(bytes.count) == size, actual == digest else {
            throw ImageError(
                .digestMismatch, "\(what): \(bytes.count) bytes hashing to \(actual), the descriptor declares \(size) bytes of \(digest)")
        }
    }
}

public struct Platform: Codable, Hashable, Sendable {
    public var architecture: String
    public var os: String
    public var variant: String?

    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
    }

    /// The node's platform (images are resolved to it): linux/amd64 on x86-64, linux/arm64 on AArch64.
    public static var node: Platform {
        #if arch(x86_64)
        Platform(architecture: "amd64", os: "linux")
        #else
        Platform(architecture: "arm64", os: "linux")
        #endif
    }
}

/// An image index or Docker manifest list.
public struct ImageIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
}

/// An image manifest (OCI or Docker schema 2: the same fields).
public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
}

/// The parts of an image configuration (image-spec config.md) a sandbox uses.
public struct ImageConfiguration: Codable, Sendable, Equatable {
    public struct Config: Codable, Sendable, Equatable {
        public var User: String?
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var WorkingDir: String?
    }
    public struct RootFS: Codable, Sendable, Equatable {
        public var type: String
        public var diff_ids: [Digest]
    }
    public var architecture: String
    public var os: String
    public var config: Config?
    public var rootfs: RootFS
}

extension ImageManifest {
    /// Decodes a manifest document and checks what AEGIS relies on; errors name `what`.
    static func decode(_ bytes: [UInt8], _ what: String) throws(ImageError) -> ImageManifest {
        let m: ImageManifest
        do { m = try JSONDecoder().decode(ImageManifest.self, from: Data(bytes)) } catch {
            throw ImageError(.invalidManifest, "\(what): not an image manifest", underlying: error)
        }
        guard m.schemaVersion == 2 else { throw ImageError(.invalidManifest, "\(what): schemaVersion \(m.schemaVersion), expected 2") }
        for (i, layer) in m.layers.enumerated() where !MediaType.isLayer(layer.mediaType) {
            throw ImageError(
                .unsupported, "\(what): layers[\(i)] has media type \(layer.mediaType) (not a tar, tar+gzip or tar+zstd layer)")
        }
        for (i, d) in ([m.config] + m.layers).enumerated() where d.size < 0 {
            throw ImageError(.invalidManifest, "\(what): descriptor \(i) has a negative size")
        }
        return m
    }
}

extension ImageIndex {
    static func decode(_ bytes: [UInt8], _ what: String) throws(ImageError) -> ImageIndex {
        do { return try JSONDecoder().decode(ImageIndex.self, from: Data(bytes)) } catch {
            throw ImageError(.invalidManifest, "\(what): not an image index", underlying: error)
        }
    }

    /// The manifest for `platform`; throws `.unsupported` listing the platforms there are.
    func manifest(for platform: Platform, _ what: String) throws(ImageError) -> Descriptor {
        if let d = manifests.first(where: { $0.platform?.os == platform.os && $0.platform?.architecture == platform.architecture }) {
            return d
        }
        let have = manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } }
        throw ImageError(
            .unsupported,
            "\(what): no manifest for \(platform.os)/\(platform.architecture) (the index has \(have.isEmpty ? "none with a platform" : have.joined(separator: ", ")))"
        )
    }
}
