// SocketScraper.swift — the sidecar's reads of its sources over their unix sockets: AsyncHTTPClient
// on `http+unix://`, plain HTTP/1.1, no redirects, no Authorization header (the controller serves
// /metrics without a token on its pod socket to requests that did not come through the gateway),
// the scraper's Accept header passed on, every read bounded in time and size. An answer in the
// text format is converted when OpenMetrics was asked for (a source that negotiates differently
// still merges); anything but a 200 is a failure with its reason.
import AegisSystem
import AsyncHTTPClient
import Foundation
import NIOCore

/// What one read of a source's /metrics gave.
struct SourceScrape: Sendable {
    let source: MetricsSource
    /// The exposition in the format asked for; nil when the source failed.
    let body: [UInt8]?
    /// Why the source failed (nil when it answered).
    let failure: String?
    /// How long the read took, seconds (until the body was in, or the failure).
    let seconds: Double
}

/// The reason a source's answer can't be used.
struct ScrapeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads /metrics and /healthz of unix-socket sources.
struct SocketScraper: Sendable {
    let client: HTTPClient
    /// Largest body read from a source, bytes.
    let maxBytes: Int

    init(eventLoopGroup: any EventLoopGroup, maxBytes: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(1), read: nil)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        // A failed connect fails the read (the next scrape tries again), not retried to the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
        self.maxBytes = maxBytes
    }

    func shutdown() async { try? await client.shutdown() }

    /// GET /metrics of `source` with `accept` passed on, as `format`, within `timeout`.
    func scrape(_ source: MetricsSource, accept: String?, format: ExpositionFormat, timeout: Duration) async -> SourceScrape {
        let start = ContinuousClock.now
        do {
            let answer = try await get(source, path: "/metrics", accept: accept, timeout: timeout)
            guard answer.status == 200 else { throw ScrapeFailure(Self.statusText(answer)) }
            let body = try Self.normalize(answer.body, contentType: answer.contentType, to: format)
            return SourceScrape(source: source, body: body, failure: nil, seconds: (ContinuousClock.now - start).seconds)
        } catch {
            return SourceScrape(
                source: source, body: nil, failure: "\(source): \(error)", seconds: (ContinuousClock.now - start).seconds)
        }
    }

    /// GET /healthz of `source` within `timeout`: nil when it answered 200, else why not.
    func probe(_ source: MetricsSource, timeout: Duration) async -> String? {
        do {
            let answer = try await get(source, path: "/healthz", accept: nil, timeout: timeout)
            return answer.status == 200 ? nil : "\(source): /healthz \(Self.statusText(answer))"
        } catch {
            return "\(source): \(error)"
        }
    }

    /// One GET on the source's socket, body read whole; the whole exchange within `timeout`.
    /// - Throws: `ScrapeFailure` for a socket nobody listens on ("connect PATH: ECONNREFUSED …"),
    ///   the timeout or a body over `maxBytes`; AsyncHTTPClient's and NIO's errors as they are.
    func get(
        _ source: MetricsSource, path: String, accept: String?, timeout: Duration
    ) async throws -> (status: UInt, contentType: String?, body: [UInt8]) {
        // A socket nobody listens on fails at once with its errno, instead of AsyncHTTPClient's
        // connection retries until the connect timeout; a full backlog is left to the client.
        if let refusal = Self.refusal(source.socket) { throw ScrapeFailure(refusal) }
        var request = HTTPClientRequest(url: Self.base(source.socket) + path)
        if let accept { request.headers.add(name: "Accept", value: accept) }
        let client = client, maxBytes = maxBytes, prepared = request
        return try await Self.within(timeout) {
            let response = try await client.execute(prepared, timeout: .milliseconds(Int64(timeout.seconds * 1000)))
            let body: ByteBuffer
            do { body = try await response.body.collect(upTo: maxBytes) } catch is NIOTooManyBytesError {
                throw ScrapeFailure("the exposition is over \(maxBytes) bytes")
            }
            return (response.status.code, response.headers.first(name: "Content-Type"), Array(buffer: body))
        }
    }

    /// Why nothing accepts connections on `socket` ("connect PATH: ECONNREFUSED …"); nil when
    /// something does, or may (a full backlog).
    static func refusal(_ socket: String) -> String? {
        do { try UnixSocket.probe(socket) } catch {
            return error.errno.code == EAGAIN ? nil : error.description
        }
        return nil
    }

    /// `body` as `format`: text converted to OpenMetrics when asked; OpenMetrics given to a text
    /// scrape can't be used.
    /// - Throws: `ScrapeFailure` for the latter.
    static func normalize(_ body: [UInt8], contentType: String?, to format: ExpositionFormat) throws(ScrapeFailure) -> [UInt8] {
        let isOpenMetrics = contentType?.lowercased().hasPrefix("application/openmetrics-text") ?? false
        switch (format, isOpenMetrics) {
        case (.openMetrics, true), (.prometheusText, false): return body
        case (.openMetrics, false): return OpenMetricsText.convert(body)
        case (.prometheusText, true):
            throw ScrapeFailure("answered OpenMetrics (Content-Type \(contentType ?? "")) to a scrape for the text format")
        }
    }

    /// "HTTP 401: <the body's first line>".
    static func statusText(_ answer: (status: UInt, contentType: String?, body: [UInt8])) -> String {
        let first = answer.body.prefix(200).split(separator: UInt8(ascii: "\n")).first.map { String(decoding: $0, as: UTF8.self) }
        return "HTTP \(answer.status)" + (first.map { ": \($0)" } ?? "")
    }

    /// `http+unix://<socket path percent-encoded>`.
    static func base(_ socket: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "http+unix://" + (socket.addingPercentEncoding(withAllowedCharacters: allowed) ?? socket)
    }

    /// `body`'s result, or `ScrapeFailure` once `timeout` passed (`body` is cancelled).
    static func within<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ScrapeFailure("no answer within \(timeout)")
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw ScrapeFailure("no answer") }
            return first
        }
    }
}
