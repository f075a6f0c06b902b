// AccessLog.swift — one JSON line per request (and per WebSocket session, when it ends): time,
// request_id, remote, method, path (without the query), status, bytes in and out, duration_ms,
// the client certificate's CN and the rate-limit key when there are; `error` says why a request
// did not get the controller's answer.
import AegisProtocol
import AegisSystem
import Foundation
import Synchronization

/// Where access-log lines go: standard output by default (one write(2) per line, so lines of
/// concurrent requests never interleave), or a closure (tests).
public struct AccessLogSink: Sendable {
    let write: @Sendable (String) -> Void

    /// Each line (without its newline) is handed to `write`.
    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Lines to file descriptor 1.
    public static let standardOutput = AccessLogSink { line in
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }
}

/// What the access log says about one request, filled in as it is handled.
struct AccessRecord: Encodable {
    var time = ""
    var requestID: String
    var remote: String
    var method: String
    var path: String
    var status = 0
    var bytesIn = 0
    var bytesOut = 0
    var durationMs = 0.0
    var clientCN: String?
    var limitKey: String?
    var error: String?
    var start = ContinuousClock.now

    enum CodingKeys: String, CodingKey {
        case time, requestID = "request_id", remote, method, path, status, bytesIn = "bytes_in", bytesOut = "bytes_out"
        case durationMs = "duration_ms", clientCN = "client_cn", limitKey = "limit_key", error
    }

    init(requestID: String, remote: String, method: String, path: String, clientCN: String?) {
        self.requestID = requestID
        self.remote = remote
        self.method = method
        self.path = path
        self.clientCN = clientCN
    }

    /// Stamps time and duration and writes the line.
    mutating func emit(to sink: AccessLogSink) {
        durationMs = ((ContinuousClock.now - start).inMilliseconds * 1000).rounded() / 1000
        time = Self.timestamp(Date())
        guard let line = try? CompactJSONEncoder().encodeString(self) else { return }
        sink.write(line)
    }

    /// RFC 3339 UTC with milliseconds: "2025-01-31T12:00:00.123Z".
    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ms % 1000))
    }
}
