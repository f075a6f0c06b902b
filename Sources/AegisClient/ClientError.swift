// ClientError.swift — the one error type the CLI's client side throws (besides the server's
// ErrorBody, which APIClient rethrows as-is for non-2xx answers).
import AegisProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A client-side failure with one line that names the cause: the missing socket, the unreadable
/// token file (with errno name and number), the HTTP status of an answer that carried no ErrorBody.
public struct ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// The errno behind the failure, when there is one (EPIPE lets the CLI end quietly when the
    /// reader of its stdout went away, like `aegis cp ID:F - | head`).
    public var errnoCode: Int32?

    public init(_ message: String, errno code: Int32? = nil) {
        self.message = message
        self.errnoCode = code
    }

    public var description: String { message }
}

/// Renders any error as the one line the CLI prints after `aegis: `. For the server's `ErrorBody`
/// the field path is prefixed when the message does not already name it ("resources.memory: …").
public func cliMessage(for error: any Error) -> String {
    if let body = error as? ErrorBody {
        if let field = body.field, !field.isEmpty, !body.error.contains(field) {
            return "\(field): \(body.error)"
        }
        return body.error
    }
    if let e = error as? ClientError { return e.message }
    let text = String(describing: error)
    // Collapse multi-line descriptions into one line for the `aegis: …` output.
    return text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
}
