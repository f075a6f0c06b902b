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

    public init(kind: Kind, workload: String, stream: LogStream? = nil, offset: Int64? = nil, maxBytes: Int? = nil,
                outputDir: String? = nil, path: String? = nil) {
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

/// One frame of the node protocol.
///
/// Worker → controller: `hello` (version, node), `renew` (seq; node when its capabilities
/// changed), `event`, `reply` (seq, reply), `renewCertificate` (seq, pem: a CSR for the node's
/// own key, sent once 2/3 of the certificate's validity has passed).
/// Controller → worker: `welcome` (version, lease, active), `renewed` (seq, state), `start`
/// (workload without inputs, uid, gpus, files), `cancel`/`release` (placement), `request`
/// (seq, request), `certificate` (seq, pem: the new node certificate, or message: why not),
/// `error` (message; the controller closes the session after it).
public struct SessionMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case hello, welcome, renew, renewed, event, start, cancel, release, request, reply, renewCertificate, certificate, error
    }

    public var type: Kind
    public var version: Int?
    /// Correlates `renew`/`renewed` and `request`/`reply`.
    public var seq: UInt64?
    /// hello: the node's registration (name, role, capabilities); renew: new capabilities.
    public var node: NodeInfo?
    /// renew: what the worker measures now (running agents, available memory, load).
    public var capacity: LiveCapacity?
    /// welcome: the lease terms the worker must keep.
    public var lease: LeaseTerms?
    /// welcome: the placements this worker should hold; any other sandbox is a stale copy.
    public var active: [PlacementRef]?
    /// renewed: the node's lease state after the renewal ("Ready").
    public var state: String?
    public var event: WorkerEvent?
    /// start: the workload (its spec's inputs travel in `files`).
    public var workload: Workload?
    public var uid: UInt32?
    public var gpus: [GPUDevice]?
    /// start: input files, relative path → base64 content.
    public var files: [String: String]?
    /// cancel, release.
    public var placement: PlacementRef?
    public var request: WorkerRequest?
    public var reply: WorkerReply?
    /// error: why the controller refuses the session; certificate: why no certificate was issued.
    public var message: String?
    /// renewCertificate: the CSR (PEM); certificate: the new node certificate (PEM).
    public var pem: String?

    public init(type: Kind, version: Int? = nil, seq: UInt64? = nil, node: NodeInfo? = nil, capacity: LiveCapacity? = nil, lease: LeaseTerms? = nil,
                active: [PlacementRef]? = nil, state: String? = nil, event: WorkerEvent? = nil, workload: Workload? = nil,
                uid: UInt32? = nil, gpus: [GPUDevice]? = nil, files: [String: String]? = nil, placement: PlacementRef? = nil,
                request: WorkerRequest? = nil, reply: WorkerReply? = nil, message: String? = nil, pem: String? = nil) {
        self.type = type
        self.version = version
        self.seq = seq
        self.node = node
        self.capacity = capacity
        self.lease = lease
        self.active = active
        self.state = state
        self.event = event
        self.workload = workload
        self.uid = uid
        self.gpus = gpus
        self.files = files
        self.placement = placement
        self.request = request
        self.reply = reply
        self.message = message
        self.pem = pem
    }
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
