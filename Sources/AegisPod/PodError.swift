// PodError.swift — one error type for the pod runner; its description is the line an operator sees
// (the container, the field or file, the step), and the cause is kept as `underlying`.

/// A failure of the pod runner or of one of its containers.
public struct PodError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// The manifest is refused (`ManifestError` underneath).
        case invalidManifest
        /// state.json unreadable or unwritable.
        case state
        /// Another runner serves the pod, or the pod does not exist.
        case busy, notFound
        /// An image could not be pulled or resolved.
        case image
        /// A container (or the infra) could not be created or signalled.
        case sandbox
        /// A volume could not be prepared.
        case volume
        /// A limit the node's cgroups cannot enforce.
        case unenforceable
        case system
    }

    public let kind: Kind
    public let description: String
    public let underlying: (any Error)?

    public init(_ kind: Kind, _ description: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.description = description
        self.underlying = underlying
    }
}
