// LogStreamer.swift — a workload's stdout/stderr as Server-Sent Events (text/event-stream), from
// the history files the worker keeps; with follow, new output is sent as it arrives and the
// stream ends with an `exit` event carrying the final workload.
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

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await stream(&writer)
            try await writer.finish(nil)
        })
    }

    private func stream(_ writer: inout any ResponseBodyWriter) async throws {
        var tails = [LogStream.stdout: FileTail(), LogStream.stderr: FileTail()]
        // A log's location is fixed once the workload is placed: look it up until then, not on every poll.
        var paths: [LogStream: String] = [:]
        var delayMs = 2
        while true {
            // Read the final state first: output written before the end is then surely on disk.
            let workload = try? await controller.workload(id: id, caller: caller)
            let ended = workload.map { $0.state.isFinal } ?? true
            var sent = false
            for s in [LogStream.stdout, .stderr] {
                if paths[s] == nil, let p = try? await controller.logPath(id: id, stream: s, caller: caller) { paths[s] = p }
                guard let path = paths[s] else { continue }
                let chunk = tails[s]!.readChunk(path: path, flushPartial: ended || !follow)
                if !chunk.isEmpty {
                    try await writer.write(ByteBuffer(string: Self.event(s.rawValue, chunk)))
                    sent = true
                }
            }
            if !follow { return }
            if ended, let workload {
                let data = (try? JSONEncoder().encode(workload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                try await writer.write(ByteBuffer(string: Self.event(LogStream.exit.rawValue, data)))
                return
            }
            delayMs = sent ? 2 : min(delayMs * 2, 100)
            try await Task.sleep(for: .milliseconds(delayMs))
        }
    }

    /// One SSE event carrying `text` exactly: `event: NAME`, the text split on "\n" into one
    /// `data:` line per piece (a chunk ending in a newline ends with an empty `data:` line), then a
    /// blank line (HTML Living Standard § Server-sent events).
    static func event(_ name: String, _ text: String) -> String {
        var s = "event: \(name)\n"
        for piece in text.split(separator: "\n", omittingEmptySubsequences: false) { s += "data: \(piece)\n" }
        return s + "\n"
    }
}

/// Reads a growing file from where the last read stopped; hands out text up to the last newline
/// (the rest, a partial line, waits for more unless flushed).
struct FileTail: Sendable {
    var offset: Int64 = 0
    var partial: [UInt8] = []

    mutating func readChunk(path: String, flushPartial: Bool) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && Int64(st.st_size) < offset { offset = 0; partial = [] }  // truncated (log cap)
        var buf = [UInt8](repeating: 0, count: 65536)
        var data = partial
        while true {
            let n = pread(fd, &buf, buf.count, off_t(offset))
            if n <= 0 { break }
            data += buf[0..<n]
            offset += Int64(n)
        }
        let end = flushPartial ? data.count : (data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0)
        partial = Array(data[end...])
        return String(decoding: data[..<end], as: UTF8.self)
    }
}
