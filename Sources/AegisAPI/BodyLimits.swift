// BodyLimits.swift — how much of a request body each route reads. A body is read in chunks as it
// arrives and refused (413, JSON ErrorBody naming the limit) as soon as it passes its route's
// limit, or before anything is read when its Content-Length already does: memory per request
// stays bounded by the limit, whatever a client sends.
import AegisControl
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird

enum BodyLimit {
    /// JSON documents (a manifest, a tenant, a join or drain request): 1 MiB, the manifest cap.
    static let documentBytes = 1 << 20

    /// A submission: a manifest or run flags (at most `documentBytes`) plus the input files,
    /// base64-encoded (4 bytes per 3, so `maxInputBytes` uploads as 4·⌈maxInputBytes/3⌉ bytes).
    static func submissionBytes(maxInputBytes: Int) -> Int {
        documentBytes + (maxInputBytes + 2) / 3 * 4
    }

    /// "1 MiB", "21.3 MiB", "512 KiB", "100 bytes".
    static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20 {
            return bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
        }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    /// 413 with the project's JSON error body.
    static func tooLarge(_ what: String, limit: Int) -> ControllerError {
        .tooLarge("\(what): over the \(describe(limit)) limit")
    }
}

extension APIServer {
    /// The request's body, at most `limit` bytes: refused with 413 (JSON error naming `what` and
    /// the limit) when its Content-Length is larger, or as soon as more than `limit` bytes arrive
    /// (at most one more chunk is held).
    /// `what` names the body in the 413's message (built only then).
    static func readBody(_ req: Request, limit: Int, what: @autoclosure () -> String = "request body") async throws -> ByteBuffer {
        if let declared = req.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw BodyLimit.tooLarge("\(what()) of \(declared) bytes", limit: limit)
        }
        var collected = ByteBuffer()
        for try await chunk in req.body {
            guard collected.readableBytes + chunk.readableBytes <= limit else {
                throw BodyLimit.tooLarge(what(), limit: limit)
            }
            var chunk = chunk
            collected.writeBuffer(&chunk)
        }
        return collected
    }
}
