// Session.swift — the node protocol: one WebSocket per worker, opened by the worker (outbound
// only) to the controller's cluster port over mutual TLS, carrying JSON text frames. Everything
// the controller needs from a worker is multiplexed on it: registration, lease renewals, starts,
// cancels, releases, log reads and file transfer, and the worker's events.
//
// Every frame is one `SessionMessage` object with a `type` and the fields that type uses. Version
// 1; a peer that sees another `version` in `hello`/`welcome` closes the session with a reason.
// The format is plain JSON over a plain WebSocket (RFC 6455), so a gateway can sit in front of
// the controller and forward the stream unchanged.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Constants of the node protocol.
public enum NodeSession {
    /// Protocol version carried in `hello` and `welcome`.
    public static let version = 1
    /// The WebSocket path on the controller's cluster port.
    public static let path = "/v1/cluster/session"
    /// Largest frame accepted, bytes (a start message carries up to 16 MiB of inputs, base64).
    public static let maxFrameBytes = 32 << 20
}

/// What a worker's lease renewals must keep to (sent in `welcome`).
public struct LeaseTerms: Codable, Sendable, Equatable {
    /// How often the worker renews, ms (default 5,000).
    public var renewEveryMs: Int
    /// NotReady after this long without a renewal, ms (default 20,000).
    public var notReadyAfterMs: Int
    /// Down after this long without a renewal, ms (default 40,000): the worker's self-fencing
    /// grace must not be longer.
    public var downAfterMs: Int
    /// Agents of a Down node are placed elsewhere this much after Down, ms (default 10,000).
    public var rescheduleMarginMs: Int

    public init(renewEveryMs: Int = 5_000, notReadyAfterMs: Int = 20_000, downAfterMs: Int = 40_000, rescheduleMarginMs: Int = 10_000) {
        self.renewEveryMs = renewEveryMs
        self.notReadyAfterMs = notReadyAfterMs
        self.downAfterMs = downAfterMs
        self.rescheduleMarginMs = rescheduleMarginMs
    }
}

/// One placement a worker should hold: workload id and generation.
public struct PlacementRef: Codable, Sendable, Equatable, Hashable {
    public var id: String
    public var generation: Int64

    public init(id: String, generation: Int64) {
        self.id = id
        self.generation = generation
    }
}

/// A controller's question to a worker (`request`), answered by a `reply` with the same `seq`.
public struct WorkerRequest: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Bytes of a log from `offset` (at most `maxBytes`) and the log's current size.
        case log
        /// Relative paths of the files under the output directory.
        case outputs
        /// Bytes of one output file from `offset` (at most `maxBytes`) and the file's size.
        case output
    }

    public var kind: Kind
    public var workload: String
    public var stream: LogStream?
    public var offset: Int64?
    public var maxBytes: Int?
    public var outputDir: String?
    public var path: String?

    public init(
        kind: Kind, workload: String, stream: LogStream? = nil, offset: Int64? = nil, maxBytes: Int? = nil,
        outputDir: String? = nil, path: String? = nil
    ) {
        self.kind = kind
        self.workload = workload
        self.stream = stream
        self.offset = offset
        self.maxBytes = maxBytes
        self.outputDir = outputDir
        self.path = path
    }
}

/// A worker's answer to a `request`.
public struct WorkerReply: Codable, Sendable, Equatable {
    /// Set when the request failed (missing file, path outside the output directory, …).
    public var error: String?
    /// File or log bytes, base64 (RFC 4648 §4).
    public var data: String?
    /// Current size of the log or output file, bytes (log and output requests). For a log: its
    /// logical size, every byte the agent wrote (dropped ones included).
    public var size: Int64?
    /// Log requests: the logical offset of the first byte of `data`; beyond the offset asked for
    /// when the bytes between were dropped (history cap). Absent: the offset asked for.
    public var start: Int64?
    /// Output paths (outputs requests).
    public var paths: [String]?

    public init(error: String? = nil, data: String? = nil, size: Int64? = nil, start: Int64? = nil, paths: [String]? = nil) {
        self.error = error
        self.data = data
        self.size = size
        self.start = start
        self.paths = paths
    }
}

/// One frame of the node protocol: a JSON object whose `type` names the case and whose other
/// fields are the case's payload (`SessionMessage+Codable.swift` keeps the field names of
/// protocol version 1).
///
/// Worker → controller: `hello`, `renew`, `event`, `reply`, `renewCertificate` (a CSR for the
/// node's own key, sent once 2/3 of the certificate's validity has passed).
/// Controller → worker: `welcome`, `renewed`, `start`, `cancel`, `release`, `request`,
/// `certificate`, `error` (the controller closes the session after it).
public enum SessionMessage: Sendable, Equatable {
    /// The node's registration (name, role, capabilities) and the protocol version it speaks.
    case hello(version: Int, node: NodeInfo)
    /// The lease terms the worker must keep and the placements it should hold (any other sandbox
    /// is a stale copy).
    case welcome(version: Int, lease: LeaseTerms, active: [PlacementRef])
    /// A lease renewal: what the worker measures now, and its capabilities when they changed.
    case renew(seq: UInt64, node: NodeInfo?, capacity: LiveCapacity?)
    /// The node's lease state after the renewal `seq`.
    case renewed(seq: UInt64, state: NodeCondition)
    case event(WorkerEvent)
    case start(StartCommand)
    case cancel(PlacementRef)
    case release(PlacementRef)
    /// A controller's question, answered by a `reply` with the same `seq`.
    case request(seq: UInt64, WorkerRequest)
    case reply(seq: UInt64, WorkerReply)
    /// A CSR (PEM) for the node's own key.
    case renewCertificate(seq: UInt64, csrPEM: String)
    /// The new node certificate, or why none was issued.
    case certificate(seq: UInt64, CertificateOutcome)
    /// Why the controller refuses the session.
    case error(message: String)

    /// The `type` field of each case.
    public enum Kind: String, Codable, Sendable {
        case hello, welcome, renew, renewed, event, start, cancel, release, request, reply, renewCertificate, certificate, error
    }

    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .renew: .renew
        case .renewed: .renewed
        case .event: .event
        case .start: .start
        case .cancel: .cancel
        case .release: .release
        case .request: .request
        case .reply: .reply
        case .renewCertificate: .renewCertificate
        case .certificate: .certificate
        case .error: .error
        }
    }
}

/// A `start` frame: the workload (its spec's inputs travel in `files`), the uid it runs as and the
/// GPUs reserved for it.
public struct StartCommand: Sendable, Equatable {
    public var workload: Workload
    public var uid: UInt32
    public var gpus: [GPUDevice]
    /// Input files, relative path → base64 content (RFC 4648 §4).
    public var files: [String: String]

    public init(workload: Workload, uid: UInt32, gpus: [GPUDevice], files: [String: String]) {
        self.workload = workload
        self.uid = uid
        self.gpus = gpus
        self.files = files
    }
}

/// The answer to `renewCertificate`.
public enum CertificateOutcome: Sendable, Equatable {
    /// The new node certificate (PEM).
    case issued(pem: String)
    /// Why no certificate was issued.
    case refused(reason: String)
}

extension SessionMessage {
    /// The frame's text: one JSON object. Reuse `encoder` across a session's frames (one writer).
    public func frameText(_ encoder: JSONEncoder) -> String {
        (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? #"{"type":"error","message":"encoding failed"}"#
    }

    /// Decodes one frame's text. Reuse `decoder` across a session's frames (one reader).
    /// - Throws: `DecodingError` naming the field that does not fit.
    public init(frameText text: String, _ decoder: JSONDecoder) throws {
        self = try decoder.decode(SessionMessage.self, from: Data(text.utf8))
    }
}
