// GatewayError.swift — a gateway that could not start or serve, with its cause.

/// A step of the gateway that failed: what in `description`, the cause (when there is one) in
/// `underlying` (a PKI, NIO or system error).
public struct GatewayError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The error behind it, nil when the message is all there is.
    public let underlying: (any Error)?

    public init(_ description: String, underlying: (any Error)? = nil) {
        self.description = description
        self.underlying = underlying
    }
}
