// APIClient.swift — the AEGIS API v1 (routes in AegisProtocol/API.swift) over AsyncHTTPClient, on
// the node's unix socket or an http(s) URL. Non-2xx answers are decoded as ErrorBody and thrown.
import AegisProtocol
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public struct APIClient: Sendable {
    public let settings: ConnectionSettings
    private let http: HTTPClient

    /// One process-wide client on NIO's singleton event loop group: connect timeout 10 s, no read
    /// timeout (followed log streams are quiet for as long as the agent is), redirects refused
    /// (a bearer token must not follow a redirect), no decompression. Never shut down; it lives
    /// as long as the process.
    public static let sharedHTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil)))

    public init(settings: ConnectionSettings, httpClient: HTTPClient = APIClient.sharedHTTPClient) {
        self.settings = settings
        self.http = httpClient
    }

    // MARK: routes

    /// POST /v1/workloads → the created Workload (201). Deadline 120 s (uploads up to 16 MiB).
    /// - Parameter idempotencyKey: sent as `Idempotency-Key`: a retry with the same key (after a
    ///   lost answer or a controller failover) gets the first workload back, not a second one.
    public func submit(_ request: SubmitRequest, idempotencyKey: String? = nil) async throws -> Workload {
        try await call(
            .POST, "/v1/workloads", body: request, timeout: .seconds(120),
            headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
    }

    /// GET /v1/workloads[?state=S] → items (all states when `state` is nil).
    public func workloads(state: WorkloadState? = nil) async throws -> [Workload] {
        let query = state.map { "?state=\($0.rawValue)" } ?? ""
        let list: WorkloadList = try await call(.GET, "/v1/workloads" + query)
        return list.items
    }

    /// GET /v1/workloads/{id} → WorkloadDetail (404 ErrorBody for unknown or another tenant's id).
    public func workload(id: String) async throws -> WorkloadDetail {
        try await call(.GET, "/v1/workloads/\(percentEncode(id))")
    }

    /// POST /v1/workloads/{id}/cancel → the Workload as it is after the request.
    public func cancel(id: String) async throws -> Workload {
        try await call(.POST, "/v1/workloads/\(percentEncode(id))/cancel", body: Optional<String>.none)
    }

    /// GET /v1/workloads/{id}/logs[?follow=true] as a stream of (stream, text) from the SSE events.
    /// Text is exactly the event's `data:` lines joined with "\n" (a chunk that ends in a newline
    /// arrives with it). The `exit` event's text is the final Workload JSON (`decodeExitWorkload`);
    /// the stream finishes right after it, or when the server ends the response. An `error` event
    /// (the node is shutting down) ends it with a `ClientError` carrying the server's reason. Events
    /// of other types are skipped. Errors: connection failures, non-2xx (ErrorBody), cancellation.
    public func logs(id: String, follow: Bool) -> AsyncThrowingStream<(LogStream, String), any Error> {
        let path = "/v1/workloads/\(percentEncode(id))/logs" + (follow ? "?follow=true" : "")
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await self.execute(
                        .GET, path, body: nil, accept: "text/event-stream",
                        deadline: .distantFuture)
                    var parser = SSEParser()
                    for try await buffer in response.body {
                        for event in parser.feed(buffer.readableBytesView) {
                            if event.event == LogStreamError.event {
                                throw ClientError("the log stream of \(id) ended: \(event.data)")
                            }
                            guard let stream = LogStream(rawValue: event.event) else { continue }
                            continuation.yield((stream, event.data))
                            if stream == .exit { continuation.finish(); return }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// GET /v1/workloads/{id}/files/{path}: writes the output file's bytes to `fd` as they arrive.
    /// - Returns: the number of bytes written.
    /// - Throws: ErrorBody (404 for a missing file), `ClientError` for a write failure (`what`, errno).
    public func download(id: String, path: String, to fd: Int32, what: String) async throws -> Int64 {
        let route = "/v1/workloads/\(percentEncode(id))/files/\(percentEncode(path, keeping: "/"))"
        let response = try await execute(
            .GET, route, body: nil, accept: "application/octet-stream",
            deadline: .now() + .hours(1))
        var total: Int64 = 0
        for try await buffer in response.body {
            try writeAll(fd: fd, buffer.readableBytesView, what: what)
            total += Int64(buffer.readableBytes)
        }
        return total
    }

    /// GET /v1/nodes (admin) → items.
    public func nodes() async throws -> [NodeInfo] {
        let list: NodeList = try await call(.GET, "/v1/nodes")
        return list.items
    }

    /// GET /v1/nodes/{name} (admin).
    public func node(name: String) async throws -> NodeInfo {
        try await call(.GET, "/v1/nodes/\(percentEncode(name))")
    }

    /// POST /v1/tenants (admin) → the tenant and its token (shown once).
    public func createTenant(_ request: CreateTenantRequest) async throws -> CreateTenantResponse {
        try await call(.POST, "/v1/tenants", body: request)
    }

    /// GET /v1/tenants (admin) → items.
    public func tenants() async throws -> [Tenant] {
        let list: TenantList = try await call(.GET, "/v1/tenants")
        return list.items
    }

    /// GET /v1/whoami.
    public func whoAmI() async throws -> WhoAmI {
        try await call(.GET, "/v1/whoami")
    }

    // MARK: plumbing

    func call<R: Decodable>(_ method: HTTPMethod, _ path: String, timeout: TimeAmount = .seconds(60)) async throws -> R {
        try await call(method, path, body: Optional<String>.none, timeout: timeout)
    }

    func call<B: Encodable, R: Decodable>(
        _ method: HTTPMethod, _ path: String, body: B?,
        timeout: TimeAmount = .seconds(60), headers: [(String, String)] = []
    ) async throws -> R {
        let bytes = try body.map { try JSONEncoder().encode($0) }.map { [UInt8]($0) }
        let response = try await execute(
            method, path, body: bytes, accept: "application/json", deadline: .now() + timeout, headers: headers)
        let buffer = try await response.body.collect(upTo: 64 << 20)
        do {
            return try JSONDecoder().decode(R.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ClientError(
                "unexpected answer to \(method.rawValue) \(path) from \(settings.endpoint.displayName): \(cliMessage(for: error))")
        }
    }

    /// Sends one request; returns the response when it is 2xx, else throws the decoded ErrorBody
    /// (or a `ClientError` with the HTTP status and the start of the body). An empty
    /// `settings.token` sends no Authorization header.
    func execute(
        _ method: HTTPMethod, _ path: String, body: [UInt8]?, accept: String,
        deadline: NIODeadline, headers: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: settings.endpoint.url(for: path))
        request.method = method
        // No token (a joining node): no Authorization header at all.
        if !settings.token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(settings.token)") }
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "aegis-cli")
        request.headers.add(name: "X-Aegis-API", value: aegisAPIVersion)
        if let tenant = settings.tenant { request.headers.add(name: "X-Aegis-Tenant", value: tenant) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: deadline)
        } catch {
            throw connectionError(error)
        }
        guard (200..<300).contains(response.status.code) else {
            let buffer = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            let bytes = Array(buffer.readableBytesView)
            if let e = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes)), !e.error.isEmpty { throw e }
            var text = String(decoding: bytes.prefix(200), as: UTF8.self).trimmingWhitespace()
            text = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
            throw ClientError(
                "\(method.rawValue) \(path): HTTP \(response.status.code) \(response.status.reasonPhrase)"
                    + (text.isEmpty ? "" : ": \(text)"))
        }
        return response
    }

    private func connectionError(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        let refused =
            (error as? IOError).map { $0.errnoCode == ECONNREFUSED || $0.errnoCode == ENOENT } ?? false
            || String(describing: error).contains("refused")
        switch settings.endpoint {
        case .unixSocket(let path) where refused:
            return ClientError("no node running at \(path) (the socket is stale; start one with `aegis up`)")
        case .unixSocket(let path):
            return ClientError("cannot reach the node at \(path): \(cliMessage(for: error))")
        case .server(let base) where refused:
            return ClientError("cannot reach \(base): connection refused")
        case .server(let base):
            return ClientError("cannot reach \(base): \(cliMessage(for: error))")
        }
    }
}

/// Decodes the `exit` log event's data (the final Workload as JSON).
/// - Throws: `ClientError` when the data is not a Workload.
public func decodeExitWorkload(_ data: String) throws -> Workload {
    do {
        return try JSONDecoder().decode(Workload.self, from: Data(data.utf8))
    } catch {
        throw ClientError("the exit event carried no valid workload: \(cliMessage(for: error))")
    }
}
