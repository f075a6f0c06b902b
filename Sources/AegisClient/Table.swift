// Table.swift — the plain column tables of `aegis ps`, `node ls`, `tenant ls` (kubectl/docker
// style: a header row, columns left-aligned, separated by three spaces, no trailing spaces).

public struct TextTable: Sendable, Equatable {
    public var headers: [String]
    public private(set) var rows: [[String]] = []

    public init(headers: [String]) { self.headers = headers }

    /// Adds a row; missing cells are empty, extra cells are dropped. Newlines and tabs inside a cell
    /// become spaces so that one row stays one line.
    public mutating func add(_ row: [String]) {
        var r = row.prefix(headers.count).map { cell in
            String(cell.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 })
        }
        while r.count < headers.count { r.append("") }
        rows.append(r)
    }

    /// The table text, one line per row plus the header, each line ending in "\n".
    /// Widths count Characters (grapheme clusters).
    public func render() -> String {
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in [headers] + rows {
            var line = ""
            for (i, c) in r.enumerated() {
                if i == r.count - 1 {
                    line += c
                } else {
                    line += c + String(repeating: " ", count: widths[i] - c.count + 3)
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}
