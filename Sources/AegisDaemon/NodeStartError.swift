// NodeStartError.swift — a node that could not start or run, with its cause.

/// A node that could not start: the step in `description`, the cause (when there is one) in `underlying`.
public struct NodeStartError: Error, CustomStringConvertible {
    public let description: String
    /// The error behind it (a store, PKI or file error), nil when the message is all there is.
    public let underlying: (any Error)?

    public init(_ description: String, underlying: (any Error)? = nil) {
        self.description = description
        self.underlying = underlying
    }

    /// A failed system call: the errno is kept as the cause.
    init(_ description: String, errno code: Int32) {
        self.init(description, underlying: SystemCallError(errno: code))
    }
}

/// An errno from a failed system call.
public struct SystemCallError: Error, Sendable, Equatable {
    public let errno: Int32
}
