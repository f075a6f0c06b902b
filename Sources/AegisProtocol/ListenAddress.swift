// ListenAddress.swift — "HOST:PORT" as every listening flag takes it (`aegis up --listen`, the
// gateway's `--listen` and `--health-listen`, the metrics sidecar's `--listen`): one parser, each
// caller naming its own flag in the error.

/// A TCP address a server listens on. IPv6 hosts are written in brackets ("[::1]:7443").
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 0…65535; 0 picks a free port.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why a text is not a listen address (without the flag: the caller adds it).
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses "HOST:PORT" (IPv6 as "[HOST]:PORT"), port 0…65535.
    /// - Throws: `ParseError` ("expected HOST:PORT (e.g. `example`)", "the host is missing").
    public init(parsing text: String, example: String = "0.0.0.0:7443") throws(ParseError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ParseError(message: "expected HOST:PORT (e.g. \(example))")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ParseError(message: "the host is missing (use 0.0.0.0 for every address)") }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
