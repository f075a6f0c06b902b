// Forwarder.swift — every HTTP request that is not a session upgrade, forwarded to the controller's
// socket: checks first (identity, body size, fair limits), then the request streamed up through
// AsyncHTTPClient and the response streamed down chunk by chunk as it arrives (an SSE log stream
// reaches the client event by event); only an answer with a Content-Length of at most 64 KiB is
// collected first, to go out with its head in one write. Refusals are JSON `ErrorBody`s.
// Every answer is counted in GatewayMetrics when its head goes out (class, code, time to head),
// every refusal by its reason, and the requests in flight. A 429 waits `--refusal-delay` before it
// goes out.
import AegisMetrics
import AegisProtocol
import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

struct Forwarder: Sendable {
    let upstream: Upstream
    let limits: FairLimits
    let maxBodyBytes: Int
    /// How long a 429 waits before it goes out (`GatewayConfiguration.refusalDelay`).
    let refusalDelay: Duration
    let accessLog: AccessLogSink
    let metrics: GatewayMetrics
    let logger: Logger

    /// A response the gateway makes itself; `close` ends the connection after it (the client may
    /// still be sending a body nobody will read); `rejection` is why the gateway refused the
    /// request (nil for an answer that is no refusal, such as a redirect or the controller's own
    /// refusal of a session).
    struct Reply: Error {
        var status: HTTPResponse.Status
        var message: String
        var headers = HTTPFields()
        var close = false
        var rejection: GatewayRejection?
    }

    /// Response bodies of known length up to this size are collected and written with their head.
    static let coalescedBodyBytes = 64 << 10

    /// The controller did not send a response head within the timeout.
    struct HeadTimeout: Error {}
    /// Thrown after a response to end the connection (HummingbirdCore closes it).
    struct CloseConnection: Error {}

    /// Answers `request` (HummingbirdCore's responder of the TLS port).
    func respond(
        _ request: Request, _ writer: consuming ResponseWriter, channel: any Channel, identity: ClientIdentity, gone: ClientGoneSignal
    ) async throws {
        metrics.requestStarted()
        defer { metrics.requestEnded() }
        let id = ForwardedHeaders.requestID(request.headers)
        let remoteIP = channel.remoteAddress?.ipAddress ?? "unknown"
        var record = AccessRecord(
            requestID: id, remote: remoteIP, method: request.method.rawValue, path: request.uri.path, clientCN: identity.commonName)
        let admission: RateLimiter.Admission?
        do { admission = try await admit(request, identity: identity, remoteIP: remoteIP, record: &record) } catch let reply as Reply {
            var held = Duration.zero, reply = reply
            if reply.status == .tooManyRequests {
                let holding = ContinuousClock.now
                await holdRefusal(gone: gone)
                held = ContinuousClock.now - holding
                // The time held counts toward the wait the answer asks for.
                if let after = reply.headers[.retryAfter].flatMap(Int.init) {
                    reply.headers[.retryAfter] = "\(max(0, after - Int(held.inSeconds.rounded(.down))))"
                }
            }
            try await send(reply, requestID: id, writer: writer, record: &record, held: held)
            return
        }
        defer { admission?.release() }
        let response: HTTPClientResponse
        let progress: BodyProgress
        do {
            if request.headers[.expect]?.lowercased() == "100-continue" {
                try await writer.writeInformationalHead(HTTPResponse(status: .continue))
            }
            (response, progress) = try await forward(request, requestID: id, identity: identity, record: &record)
        } catch let reply as Reply {
            try await send(reply, requestID: id, writer: writer, record: &record)
            return
        } catch {
            record.status = 499  // as nginx logs a client that left before the answer
            record.error = "the client left before the answer: \(error)"
            metrics.recordRequest(GatewayRequestClass(path: record.path), code: 499, since: record.start)
            record.emit(to: accessLog)
            throw error
        }
        try await stream(response, progress: progress, requestID: id, writer: writer, gone: gone, record: &record)
        if let length = ForwardedHeaders.bodyLength(request.headers), progress.endedAt == nil {
            // The controller answered before reading the whole body. A body of known length is
            // drained by HummingbirdCore once the upload has stopped reading it; otherwise the
            // connection ends here.
            guard case .known = length, await progress.detach(within: .seconds(5)) else { throw CloseConnection() }
        }
    }

    /// Waits `refusalDelay` before a 429 goes out; a graceful shutdown or the client leaving ends
    /// the wait. The connection is busy meanwhile, so a client that retries at once on the same
    /// connection is slowed to one refusal per delay.
    private func holdRefusal(gone: ClientGoneSignal) async {
        guard refusalDelay > .zero else { return }
        let delay = refusalDelay
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } }
            group.addTask { await gone.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// The checks before anything goes upstream.
    /// - Throws: `Reply` with 403, 400, 307, 413 or 429 (with the rejection reason, but for the 307).
    private func admit(
        _ request: Request, identity: ClientIdentity, remoteIP: String, record: inout AccessRecord
    ) async throws
        -> RateLimiter.Admission?
    {
        if case .refused(let reason) = identity { throw Reply(status: .forbidden, message: reason, rejection: .forbidden) }
        guard let target = request.head.path, target.hasPrefix("/") else {
            throw Reply(status: .badRequest, message: "the request target must be a path (origin form)", rejection: .badRequest)
        }
        if request.uri.path == NodeSession.path, request.headers[.upgrade]?.lowercased() == "websocket" {
            // An upgrade after other requests on a kept-alive connection: only a connection's first
            // request can become a session, so the client is sent to a fresh one.
            throw Reply(
                status: .temporaryRedirect, message: "open the session on a new connection", headers: [.location: target], close: true)
        }
        switch ForwardedHeaders.bodyLength(request.headers) {
        case .invalid:
            throw Reply(status: .badRequest, message: "Content-Length is not a number", close: true, rejection: .badRequest)
        case .known(let n) where n > maxBodyBytes:
            throw Reply(
                status: .contentTooLarge, message: "request body of \(n) bytes: over the \(maxBodyBytes)-byte limit", close: true,
                rejection: .bodyTooLarge)
        default:
            break
        }
        do {
            let (admission, key) = try await limits.admit(path: request.uri.path, headers: request.headers, remoteIP: remoteIP)
            record.limitKey = key
            return admission
        } catch {
            throw Reply(
                status: .tooManyRequests, message: "rate limited: \(error.reason); retry after \(error.retryAfter) s",
                headers: [.retryAfter: "\(error.retryAfter)"], rejection: error.rejection)
        }
    }

    /// Sends the request upstream; returns the response once its head is in.
    /// - Throws: `Reply` 413 (the streamed body passed the limit), 504 (no response head in time),
    ///   502 (anything else between here and the controller), each with its rejection reason;
    ///   CancellationError when the client left.
    private func forward(
        _ request: Request, requestID: String, identity: ClientIdentity, record: inout AccessRecord
    ) async throws
        -> (HTTPClientResponse, BodyProgress)
    {
        var up = HTTPClientRequest(url: upstream.url(path: request.head.path ?? "/"))
        up.method = HTTPMethod(rawValue: request.method.rawValue)
        up.headers = ForwardedHeaders.upstream(request.headers, identity: identity, requestID: requestID, client: record.remote)
        let progress: BodyProgress
        switch ForwardedHeaders.bodyLength(request.headers) {
        case .known(let n):
            progress = BodyProgress()
            up.body = .stream(LimitedBody(base: request.body, limit: maxBodyBytes, progress: progress), length: .known(Int64(n)))
        case .chunked:
            progress = BodyProgress()
            up.body = .stream(LimitedBody(base: request.body, limit: maxBodyBytes, progress: progress), length: .unknown)
        case .invalid, nil:
            progress = .none()
        }
        do {
            return (try await execute(up, progress: progress), progress)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            record.bytesIn = progress.bytes
            if progress.exceeded {
                throw Reply(
                    status: .contentTooLarge, message: "request body over the \(maxBodyBytes)-byte limit", close: true,
                    rejection: .bodyTooLarge)
            }
            if error is HeadTimeout {
                throw Reply(
                    status: .gatewayTimeout, message: "the controller sent no response within \(upstream.headTimeout)", close: true,
                    rejection: .upstreamTimeout)
            }
            throw Reply(
                status: .badGateway, message: "the controller at \(upstream.socketPath) did not answer: \(error)", close: true,
                rejection: .upstreamUnavailable)
        }
    }

    /// `client.execute` with the response-head timeout, which starts once the request body has
    /// been sent: for a request without a body it is AsyncHTTPClient's own deadline (which covers
    /// only the wait for the head), else a race against a timer that follows the body.
    private func execute(_ request: HTTPClientRequest, progress: BodyProgress) async throws -> HTTPClientResponse {
        let client = upstream.client, timeout = upstream.headTimeout
        if progress.endedAt != nil {
            do {
                return try await client.execute(request, deadline: .now() + upstream.headTimeAmount)
            } catch let error as HTTPClientError where error == .deadlineExceeded {
                throw HeadTimeout()
            }
        }
        return try await withThrowingTaskGroup(of: HTTPClientResponse.self) { group in
            group.addTask { try await client.execute(request, deadline: .distantFuture) }
            group.addTask {
                while true {
                    try await Task.sleep(until: (progress.endedAt ?? .now) + timeout, clock: .continuous)
                    if let ended = progress.endedAt, ContinuousClock.now >= ended + timeout { throw HeadTimeout() }
                }
            }
            defer { group.cancelAll() }
            guard let response = try await group.next() else { throw HeadTimeout() }
            return response
        }
    }

    /// Streams the controller's response to the client, then writes the access-log line. An
    /// open-ended body (no Content-Length: SSE) ends as soon as the client leaves.
    private func stream(
        _ response: HTTPClientResponse, progress: BodyProgress, requestID: String, writer: consuming ResponseWriter,
        gone: ClientGoneSignal, record: inout AccessRecord
    ) async throws {
        var head = HTTPResponse(status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase))
        head.headerFields = ForwardedHeaders.downstream(response.headers, requestID: requestID)
        record.status = head.status.code
        metrics.recordRequest(GatewayRequestClass(path: record.path), code: head.status.code, since: record.start)
        do {
            if let length = response.headers.first(name: "content-length").flatMap(Int.init), length <= Self.coalescedBodyBytes {
                // A small answer of known length (most API answers) goes out with its head in one
                // write: one TLS record and one syscall instead of three.
                let buffer = try await response.body.collect(upTo: Self.coalescedBodyBytes)
                record.bytesOut = buffer.readableBytes
                try await writer.write(response: head, body: ResponseBody(byteBuffer: buffer))
                record.bytesIn = progress.bytes
                record.emit(to: accessLog)
                return
            }
            var body = try await writer.writeHead(head)
            if response.headers["content-length"].isEmpty {
                record.bytesOut = try await StreamRelay.relay(response.body, to: body, until: gone)
            } else {
                for try await chunk in response.body {
                    record.bytesOut += chunk.readableBytes
                    try await body.write(chunk)
                }
                try await body.finish(nil)
            }
            record.bytesIn = progress.bytes
            record.emit(to: accessLog)
        } catch {
            record.bytesIn = progress.bytes
            record.error = "response cut short: \(error)"
            record.emit(to: accessLog)
            throw error
        }
    }

    /// Writes a reply of the gateway's own (JSON `ErrorBody`) and its access-log line; counts it
    /// (and its rejection). `held`: how long a refusal was held on purpose, left out of the
    /// time-to-head histogram (the access log keeps the whole time).
    func send(
        _ reply: Reply, requestID: String, writer: consuming ResponseWriter, record: inout AccessRecord, held: Duration = .zero
    ) async throws {
        if let rejection = reply.rejection { metrics.recordRejection(rejection) }
        metrics.recordRequest(
            GatewayRequestClass(path: record.path), code: reply.status.code,
            seconds: ((ContinuousClock.now - record.start) - held).inSeconds)
        let json = (try? CompactJSONEncoder().encode(ErrorBody(error: reply.message))) ?? Array("{}".utf8)
        var fields = reply.headers
        fields[.contentType] = "application/json"
        fields[.contentLength] = "\(json.count)"
        fields[ForwardedHeaders.requestID] = requestID
        if reply.close { fields[.connection] = "close" }
        record.status = reply.status.code
        record.bytesOut = json.count
        record.error = reply.message
        record.emit(to: accessLog)
        try await writer.write(
            response: HTTPResponse(status: reply.status, headerFields: fields), body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
        if reply.close { throw CloseConnection() }
    }
}
