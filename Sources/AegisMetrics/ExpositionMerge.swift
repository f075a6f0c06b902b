// ExpositionMerge.swift — several expositions of one format (the sidecar's own series, the
// controller's, the gateway's) as one valid document: each document's lines in order, blank lines,
// comments other than HELP/TYPE/UNIT and every `# EOF` dropped, a single `# EOF` at the very end
// for OpenMetrics, and a metric family that an earlier document already had left out whole (a
// scraper must never see a family twice). O(bytes).

/// Merging of expositions.
public enum ExpositionMerge {
    /// One merged document and the families left out because an earlier document had them.
    public struct Merged: Sendable, Equatable {
        public var body: [UInt8]
        public var duplicates: [String]
    }

    /// Sample-name suffixes that belong to the family they extend (histograms, summaries,
    /// counters, info and gauge histograms).
    static let sampleSuffixes = ["_bucket", "_count", "_sum", "_total", "_created", "_info", "_gcount", "_gsum"]

    /// `documents`, each already in `format`, as one document in `format`; for a family in more than
    /// one document the first one's is kept.
    public static func merge(_ documents: [[UInt8]], format: ExpositionFormat) -> Merged {
        var out: [UInt8] = []
        out.reserveCapacity(documents.reduce(16) { $0 + $1.count })
        var earlier = Set<String>()
        var duplicates: [String] = []
        for document in documents {
            var families = Set<String>()
            var current: String?
            var skipping = false
            forEachLine(document) { line in
                guard let family = family(of: line, current: current) else { return }
                if family != current {
                    current = family
                    families.insert(family)
                    skipping = earlier.contains(family)
                    if skipping && !duplicates.contains(family) { duplicates.append(family) }
                }
                if !skipping {
                    out.append(contentsOf: line)
                    out.append(newline)
                }
            }
            earlier.formUnion(families)
        }
        if format == .openMetrics { out.append(contentsOf: "# EOF\n".utf8) }
        return Merged(body: out, duplicates: duplicates)
    }

    /// Calls `body` with each line of `text` (without its newline) that is not blank.
    static func forEachLine(_ text: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: newline) ?? text.count
            let line = text[start..<end]
            if !line.allSatisfy({ $0 == space || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) { body(line) }
            start = end + 1
        }
    }

    /// The family a line belongs to: the name of a HELP, TYPE or UNIT line; for a sample, the
    /// current family when the sample's name is the family's or extends it by a sample suffix,
    /// else the sample's own name; nil for a line to drop (`# EOF`, other comments).
    static func family(of line: ArraySlice<UInt8>, current: String?) -> String? {
        if line.first == UInt8(ascii: "#") {
            let fields = line.split(separator: space, maxSplits: 3, omittingEmptySubsequences: true)
            guard fields.count >= 3, fields[0].elementsEqual("#".utf8),
                ["HELP", "TYPE", "UNIT"].contains(where: { fields[1].elementsEqual($0.utf8) })
            else { return nil }
            return String(decoding: fields[2], as: UTF8.self)
        }
        let nameEnd = line.firstIndex { $0 == UInt8(ascii: "{") || $0 == space } ?? line.endIndex
        let name = String(decoding: line[line.startIndex..<nameEnd], as: UTF8.self)
        if let current, name == current || sampleSuffixes.contains(where: { name == current + $0 }) { return current }
        return name
    }

    static let newline = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
}
