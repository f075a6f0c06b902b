// LogStreamer.swift — a workload's stdout/stderr as Server-Sent Events (text/event-stream), from
// the history files the worker keeps; with follow, new output is sent as it arrives and the
// stream ends with an `exit` event carrying the final workload, or with an `error` event when the
// node begins to stop (the workload may still be pending or running). A follower that got nothing
// for 15 s is sent an SSE comment, so that a client that went away is noticed.
import AegisControl
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird

struct LogStreamer: Sendable {
    let controller: Controller
    let caller: Caller
    let id: String
    let follow: Bool
    let shutdown: ShutdownSignal
    /// A comment line goes out after this long without an event (milliseconds).
    static let keepAliveMs = 15_000

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await stream(&writer)
                try await writer.finish(nil)
            })
    }

    private func stream(_ writer: inout any ResponseBodyWriter) async throws {
        var tails = [LogStream.stdout: LogTail(), LogStream.stderr: LogTail()]
        // Without follow: the history up to the logical size seen at the first read, no further.
        var until: [LogStream: Int64] = [:]
        var delayMs = 2
        var quietMs = 0
        while true {
            // Read the final state first: output written before the end is then surely on disk.
            let workload = try? await controller.workload(id: id, caller: caller)
            let ended = workload.map { $0.state.isFinal } ?? true
            var sent = false, behind = false
            for s in [LogStream.stdout, .stderr] {
                // Read until caught up (a remote worker answers in chunks of at most 1 MiB), but
                // send after `maxBytesPerPoll`: a follower slower than its agent holds no more than
                // that, and the history cap drops what it can't keep up with (a marker line says so).
                var text = "", read = 0, caughtUp = true
                while let workload, let chunk = await controller.readLog(of: workload, stream: s, offset: tails[s]!.offset) {
                    text += tails[s]!.consume(chunk, flushPartial: false)
                    read += chunk.bytes.count
                    if !follow && until[s] == nil { until[s] = chunk.size }
                    let end = min(chunk.size, until[s] ?? chunk.size)
                    if chunk.bytes.isEmpty || tails[s]!.offset >= end { break }
                    if read >= Self.maxBytesPerPoll { caughtUp = false; break }
                }
                behind = behind || !caughtUp
                if (ended || !follow) && caughtUp { text += tails[s]!.flush() }
                if !text.isEmpty {
                    try await writer.write(ByteBuffer(string: Self.event(s.rawValue, text)))
                    sent = true
                }
            }
            if behind { continue }  // the rest before the end, or before waiting
            if !follow { return }
            if ended, let workload {
                let data = (try? JSONEncoder().encode(workload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                try await writer.write(ByteBuffer(string: Self.event(LogStream.exit.rawValue, data)))
                return
            }
            if shutdown.isShuttingDown {
                try await writer.write(ByteBuffer(string: Self.event(LogStreamError.event, LogStreamError.nodeShuttingDown)))
                return
            }
            quietMs = sent ? 0 : quietMs + delayMs
            if quietMs >= Self.keepAliveMs {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                quietMs = 0
            }
            delayMs = sent ? 2 : min(delayMs * 2, 100)
            try await Task.sleep(for: .milliseconds(delayMs))
        }
    }

    /// Log bytes read per stream before they are sent (the rest waits for the next poll).
    static let maxBytesPerPoll = 4 << 20

    /// One SSE event carrying `text` exactly: `event: NAME`, the text split on "\n" into one
    /// `data:` line per piece (a chunk ending in a newline ends with an empty `data:` line), then a
    /// blank line (HTML Living Standard § Server-sent events).
    static func event(_ name: String, _ text: String) -> String {
        var s = "event: \(name)\n"
        for piece in text.split(separator: "\n", omittingEmptySubsequences: false) { s += "data: \(piece)\n" }
        return s + "\n"
    }
}

/// Follows a growing log from where the last read stopped; hands out text up to the last newline
/// (the rest, a partial line, waits for more unless flushed). Offsets are logical (LogChunk): where
/// the history cap dropped bytes the reader had not seen, it hands out one line saying how many.
struct LogTail: Sendable {
    var offset: Int64 = 0
    var partial: [UInt8] = []

    /// Takes the bytes read at `offset`. A chunk starting beyond `offset` follows a cut: the
    /// pending partial line and the bytes between are replaced by the line
    /// "[aegis: N earlier bytes dropped]". A log now smaller than `offset` was replaced: reading
    /// starts again from 0.
    mutating func consume(_ read: LogChunk, flushPartial: Bool) -> String {
        if read.size < offset {
            offset = 0
            partial = []
            return ""
        }
        var marker = ""
        if read.start > offset {
            marker = "[aegis: \(read.start - offset + Int64(partial.count)) earlier bytes dropped]\n"
            partial = []
            offset = read.start
        }
        offset += Int64(read.bytes.count)
        let data = partial + read.bytes
        let end = flushPartial ? data.count : (data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0)
        partial = Array(data[end...])
        return marker + String(decoding: data[..<end], as: UTF8.self)
    }

    /// The pending partial line, if any.
    mutating func flush() -> String {
        defer { partial = [] }
        return String(decoding: partial, as: UTF8.self)
    }
}
