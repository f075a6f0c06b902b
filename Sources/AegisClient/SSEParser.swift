// SSEParser.swift — incremental parser for text/event-stream (the WHATWG HTML "Server-sent events"
// section 9.2.6, "Interpreting an event stream"), fed with arbitrary byte chunks.

/// One dispatched event: `event` is the `event:` field ("message" when absent), `data` the `data:`
/// lines joined with "\n", `id` the last `id:` seen.
public struct SSEEvent: Sendable, Equatable {
    public var event: String
    public var data: String
    public var id: String?

    public init(event: String, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// Feed bytes in any chunking; complete events come out. Rules (from the spec):
/// lines end with CRLF, LF or CR (a CRLF split across chunks counts once); a line starting with ":"
/// is a comment (keep-alives); "field: value" strips one space after the colon; a line without a
/// colon is a field with an empty value; a blank line dispatches the event — unless no `data:` line
/// was seen, in which case the event is dropped; `retry:` and unknown fields are ignored.
/// Lines are decoded as UTF-8 (invalid sequences become U+FFFD); splitting on CR/LF bytes never
/// cuts a multi-byte sequence.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var eventType = ""
    private var dataLines: [String] = []
    private var sawData = false
    private var lastID: String?

    public init() {}

    /// Consumes `bytes` and returns the events completed by them, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
        var out: [SSEEvent] = []
        for b in bytes {
            if b == 0x0A && lastWasCR { lastWasCR = false; continue }
            lastWasCR = false
            if b == 0x0A || b == 0x0D {
                lastWasCR = (b == 0x0D)
                if let e = processLine() { out.append(e) }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(b)
            }
        }
        return out
    }

    /// Call at end of stream. Per the spec an event not terminated by a blank line is discarded;
    /// this returns nil and resets the state.
    public mutating func finish() -> SSEEvent? {
        line.removeAll()
        eventType = ""
        dataLines.removeAll()
        sawData = false
        return nil
    }

    private mutating func processLine() -> SSEEvent? {
        if line.isEmpty {
            defer { eventType = ""; dataLines.removeAll(); sawData = false }
            guard sawData else { return nil }
            return SSEEvent(event: eventType.isEmpty ? "message" : eventType, data: dataLines.joined(separator: "\n"), id: lastID)
        }
        if line.first == 0x3A { return nil }  // ":" comment
        let field: String
        var value: String
        if let colon = line.firstIndex(of: 0x3A) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            var start = line.index(after: colon)
            if start < line.endIndex && line[start] == 0x20 { start = line.index(after: start) }
            value = String(decoding: line[start...], as: UTF8.self)
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "event": eventType = value
        case "data": dataLines.append(value); sawData = true
        case "id": if !value.contains("\0") { lastID = value }
        default: value = ""  // retry and unknown fields: ignored
        }
        return nil
    }
}

/// Encodes `text` as one SSE event the way an AEGIS node sends log chunks: the text split on "\n",
/// one `data:` line per piece (so a chunk ending in a newline ends with an empty `data:` line),
/// then a blank line. The parser above turns it back into exactly `text`.
public func encodeSSE(event: String, text: String) -> String {
    var out = "event: \(event)\n"
    for piece in text.split(separator: "\n", omittingEmptySubsequences: false) {
        out += "data: \(piece)\n"
    }
    return out + "\n"
}
