// Exposition.swift — the two exposition formats a scrape may ask for, chosen from its Accept
// header: the Prometheus text format 0.0.4 (the default) and OpenMetrics 1.0.0. swift-prometheus
// writes only the text format; `OpenMetricsText.convert` rewrites it (counter families named
// without `_total`, `unknown` for `untyped`, UNIT lines for `_seconds`/`_bytes` families, `"`
// escaped in HELP, no blank or other comment lines, `# EOF`). Both work on exposition text, not
// on a registry, so the metrics sidecar can negotiate and convert what it merges from several
// sources (the controller's and the gateway's /metrics) with the same code.

/// A format of the metrics exposition.
public enum ExpositionFormat: Sendable, Equatable, CaseIterable {
    /// Prometheus text format 0.0.4.
    case prometheusText
    /// OpenMetrics 1.0.0 text.
    case openMetrics

    /// The response's Content-Type.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format an Accept header asks for: OpenMetrics when `application/openmetrics-text`
    /// (version 1.0.0, 0.0.1 or unversioned) has the highest quality, the earliest listed among
    /// equals; the text format otherwise — also for a missing header, for `*/*` and when nothing
    /// listed is acceptable (as Prometheus' own client libraries do, rather than a 406).
    /// Prometheus 2.x scrapes with `application/openmetrics-text;version=1.0.0,…,text/plain;
    /// version=0.0.4;q=0.5,*/*;q=0.1` and so gets OpenMetrics.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept, !accept.isEmpty else { return .prometheusText }
        var best: (format: ExpositionFormat, q: Double)?
        for range in accept.split(separator: ",") {
            guard let (format, q) = mediaRange(range), q > 0 else { continue }
            if best == nil || q > best!.q { best = (format, q) }
        }
        return best?.format ?? .prometheusText
    }

    /// One media range of an Accept header: the format it stands for and its quality (0…1);
    /// nil for a range neither format satisfies.
    static func mediaRange(_ range: Substring) -> (ExpositionFormat, Double)? {
        let parts = range.split(separator: ";").map { $0.trimmingSpaces().lowercased() }
        guard let type = parts.first else { return nil }
        var q = 1.0
        var version: String?
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces() }
            guard pair.count == 2 else { continue }
            if pair[0] == "q" { q = min(1, max(0, Double(pair[1]) ?? 0)) }
            if pair[0] == "version" { version = pair[1] }
        }
        switch type {
        case "application/openmetrics-text":
            guard version == nil || version == "1.0.0" || version == "0.0.1" else { return nil }
            return (.openMetrics, q)
        case "text/plain":
            guard version == nil || version == "0.0.4" else { return nil }
            return (.prometheusText, q)
        case "text/*", "*/*":
            return (.prometheusText, q)
        default:
            return nil
        }
    }
}

/// A rendered exposition: its format, Content-Type and bytes (UTF-8).
public struct Exposition: Sendable, Equatable {
    public var format: ExpositionFormat
    public var body: [UInt8]

    public init(format: ExpositionFormat, body: [UInt8]) {
        self.format = format
        self.body = body
    }

    /// Text format 0.0.4 `text` as `format` (converted for OpenMetrics).
    public init(prometheusText text: [UInt8], as format: ExpositionFormat) {
        self.format = format
        self.body = format == .openMetrics ? OpenMetricsText.convert(text) : text
    }

    public var contentType: String { format.contentType }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Prometheus text format 0.0.4 → OpenMetrics 1.0.0.
public enum OpenMetricsText {
    /// Rewrites a text-format exposition as OpenMetrics: a counter family `x_total` (or `x`) is
    /// announced as `x` with samples `x_total`; `untyped` becomes `unknown`; families whose name
    /// ends in `_seconds` or `_bytes` get a UNIT line; HELP texts have `"` escaped; blank lines
    /// and comments other than HELP and TYPE are dropped; `# EOF` ends it. Sample lines are
    /// copied as they are (label and value syntax are the same in both formats). O(bytes).
    public static func convert(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 16 + 8)
        var state = ConversionState()
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: newline) ?? text.count
            state.line(text[start..<end], into: &out)
            start = end + 1
        }
        state.flushHelp(into: &out)
        out.append(contentsOf: "# EOF\n".utf8)
        return out
    }

    /// `convert` on a String.
    public static func convert(_ text: String) -> String {
        String(decoding: convert(Array(text.utf8)), as: UTF8.self)
    }

    static let newline = UInt8(ascii: "\n")
}

/// What the converter remembers between lines: the current family and a HELP line that came
/// before its TYPE line.
private struct ConversionState {
    /// The text-format name of the family being copied, and its OpenMetrics name.
    var rawName: [UInt8] = []
    var familyName: [UInt8] = []
    /// Samples of this family need `_total` appended (a counter named without it).
    var appendTotal = false
    /// HELP seen before its TYPE: (text-format name, help text as written).
    var pendingHelp: (name: [UInt8], text: ArraySlice<UInt8>)?

    mutating func line(_ line: ArraySlice<UInt8>, into out: inout [UInt8]) {
        if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { return }
        if line.first == UInt8(ascii: "#") {
            metadata(line, into: &out)
            return
        }
        flushHelp(into: &out)
        guard appendTotal, line.starts(with: rawName), line.count > rawName.count else {
            out.append(contentsOf: line)
            out.append(OpenMetricsText.newline)
            return
        }
        let next = line[line.startIndex + rawName.count]
        guard next == UInt8(ascii: "{") || next == UInt8(ascii: " ") else {
            out.append(contentsOf: line)
            out.append(OpenMetricsText.newline)
            return
        }
        out.append(contentsOf: rawName)
        out.append(contentsOf: "_total".utf8)
        out.append(contentsOf: line.dropFirst(rawName.count))
        out.append(OpenMetricsText.newline)
    }

    /// `# HELP name text` and `# TYPE name type`; other comments are dropped.
    mutating func metadata(_ line: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: true)
        guard fields.count >= 3, fields[0].elementsEqual("#".utf8) else { return }
        let name = Array(fields[2])
        let rest: ArraySlice<UInt8> = fields.count > 3 ? fields[3] : []
        if fields[1].elementsEqual("HELP".utf8) {
            flushHelp(into: &out)
            if name == rawName {
                writeHelp(family: familyName, rest, into: &out)
            } else {
                pendingHelp = (name, rest)
            }
        } else if fields[1].elementsEqual("TYPE".utf8) {
            type(name: name, type: String(decoding: rest, as: UTF8.self).trimmingSpaces(), into: &out)
        }
    }

    mutating func type(name: [UInt8], type: String, into out: inout [UInt8]) {
        let help = pendingHelp.flatMap { $0.name == name ? $0.text : nil }
        flushHelp(into: &out, except: name)
        rawName = name
        familyName = name
        appendTotal = false
        var omType = type
        if type == "counter" {
            if name.count > 6 && name.suffix(6).elementsEqual("_total".utf8) {
                familyName = Array(name.dropLast(6))
            } else {
                appendTotal = true
            }
        } else if type == "untyped" {
            omType = "unknown"
        }
        out.append(contentsOf: "# TYPE ".utf8)
        out.append(contentsOf: familyName)
        out.append(contentsOf: " \(omType)\n".utf8)
        if let unit = Self.unit(of: familyName) {
            out.append(contentsOf: "# UNIT ".utf8)
            out.append(contentsOf: familyName)
            out.append(contentsOf: " \(unit)\n".utf8)
        }
        if let help { writeHelp(family: familyName, help, into: &out) }
    }

    /// The unit a family's name ends with (`_seconds`, `_bytes`), nil for none.
    static func unit(of family: [UInt8]) -> String? {
        ["seconds", "bytes"].first { family.count > $0.utf8.count + 1 && family.suffix($0.utf8.count + 1).elementsEqual("_\($0)".utf8) }
    }

    /// Writes a HELP that never met its TYPE (a family without one), unless it is `except`'s.
    mutating func flushHelp(into out: inout [UInt8], except name: [UInt8]? = nil) {
        guard let help = pendingHelp else { return }
        pendingHelp = nil
        if help.name != name { writeHelp(family: help.name, help.text, into: &out) }
    }

    /// `# HELP family text` with `"` escaped (the text format escapes only `\` and newlines, so
    /// every `"` in it is a literal one).
    func writeHelp(family: [UInt8], _ text: ArraySlice<UInt8>, into out: inout [UInt8]) {
        out.append(contentsOf: "# HELP ".utf8)
        out.append(contentsOf: family)
        out.append(UInt8(ascii: " "))
        for byte in text {
            if byte == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        out.append(OpenMetricsText.newline)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
