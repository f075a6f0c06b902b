// SessionError.swift — why a worker's session to its controller ended, by kind (the reconnect
// loop decides on the kind, never on the text), with the error that caused it when there is one.

/// A session that ended or can't start.
public struct SessionError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The controller sent an `error` frame (say, the node's identity was removed).
        case refused
        /// The controller refused three sessions in a row, none welcomed: the worker stops.
        case refusedRepeatedly
        /// The controller speaks another node protocol version: the worker stops.
        case incompatibleVersion
        /// The `--join` URL is not the controller's cluster port.
        case invalidURL
        /// No `welcome` within 10 s of the hello.
        case noWelcome
        /// No lease acknowledgement for three renewal periods (a cut link).
        case leaseLapsed
        /// The controller closed the connection.
        case closed
        /// A frame that is not a node protocol message, or one a worker does not expect.
        case protocolViolation
    }

    public var kind: Kind
    /// What happened, for logs and the worker's last words.
    public var message: String
    /// The error that caused this one (a decoding error for a malformed frame), if any.
    public var underlying: (any Error)?

    public init(_ kind: Kind, _ message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    /// Retrying can't help (protocol version, repeated refusal, a bad URL): the worker stops.
    public var fatal: Bool { kind == .incompatibleVersion || kind == .refusedRepeatedly || kind == .invalidURL }

    public var description: String {
        switch kind {
        case .refused: "controller refused the session: \(message)"
        case .refusedRepeatedly: "controller refused the session: \(message) (refused 3 times; stopping)"
        default: underlying.map { "\(message): \($0)" } ?? message
        }
    }
}
