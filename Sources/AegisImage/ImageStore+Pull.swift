// ImageStore+Pull.swift — a pull by reference text: the source is chosen by the reference's form
// (a registry, an OCI layout directory, an OCI archive unpacked to a scratch directory first).
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

extension ImageStore {
    /// Parses `reference` and pulls it from where it names.
    /// - Parameter options: registry access (insecure registries, CA, auth file); unused for layouts.
    public func pull(
        _ reference: String, options: RegistryOptions = RegistryOptions(),
        progress: @escaping @Sendable (PullProgress) -> Void = { _ in }
    ) async throws(ImageError) -> ImageRecord {
        let ref = try ImageReference(parsing: reference)
        switch ref {
        case .registry:
            return try await pull(ref, from: try RegistrySource(reference: ref, options: options), progress: progress)
        case let .layout(path, tag):
            return try await pull(ref, from: LayoutSource(directory: path, tag: tag), progress: progress)
        case let .archive(path, tag):
            // The extracted archive is a download of this pull: prune must not take it meanwhile.
            return try await locked("gc", shared: true) { () throws(ImageError) in
                var rng = SystemRandomNumberGenerator()
                let scratch = "\(root)/ingest/archive.\(getpid()).\(rng.next() as UInt64)"
                defer { FileSystem.removeTree(scratch) }
                let limits = limits
                let source = try await Self.offPool { () throws(ImageError) in
                    try LayoutSource.extractingArchive(path, tag: tag, into: scratch, limits: limits)
                }
                return try await pullHoldingGC(ref, from: source, progress: progress)
            }
        }
    }
}
