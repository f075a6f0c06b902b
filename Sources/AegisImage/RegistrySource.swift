// RegistrySource.swift — pulls from a registry speaking the OCI distribution spec (pull side):
// manifests by tag or digest, blobs streamed into the blob store, redirects to blob storage
// followed without the registry's credentials, token or Basic auth answered (RegistryAuth.swift).
// Every error names the reference, the step and the registry's answer (status and error codes).
import AegisSystem
import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How registries are reached.
public struct RegistryOptions: Sendable {
    /// Registries (`host[:port]`, as in the reference) spoken to over plain HTTP, without TLS;
    /// every other registry is HTTPS. A token realm on plain HTTP is sent credentials only when
    /// its `host[:port]` is listed here too.
    public var insecureRegistries: Set<String>
    /// A PEM file of CA certificates that HTTPS registries (and token realms, and blob storage
    /// they redirect to) are trusted through in addition to the system's trust roots.
    public var caFile: String?
    /// A docker-style auth file: `{"auths": {"host:port": {"auth": "base64(user:password)"}}}`,
    /// or `"username"` and `"password"` instead of `"auth"`. Nil: every pull is anonymous.
    public var authFile: String?
    /// The `User-Agent` header.
    public var userAgent: String
    /// How long connecting, TLS and the registry's response head may take per request. A blob's
    /// body then streams with no total limit (the HTTP client's read timeout catches a stall).
    /// Clamped to 0…24 h.
    public var requestTimeout: Duration

    public init(
        insecureRegistries: Set<String> = [], caFile: String? = nil, authFile: String? = nil, userAgent: String = "aegis",
        requestTimeout: Duration = .seconds(60)
    ) {
        self.insecureRegistries = insecureRegistries
        self.caFile = caFile
        self.authFile = authFile
        self.userAgent = userAgent
        self.requestTimeout = requestTimeout
    }
}

/// One image reference in one registry, as an `ImageSource`. Cheap to copy; copies share the
/// cached token. Credentials are read from the auth file when the source is made.
public struct RegistrySource: ImageSource {
    public let reference: ImageReference
    /// `host[:port]` as dialled ("registry-1.docker.io").
    public let host: String
    /// "library/python".
    public let repository: String
    private let tag: String?
    private let digest: Digest?
    /// "https://host/v2/<repository>".
    private let repositoryURL: String
    private let http: RegistryHTTP
    private let authenticator: RegistryAuthenticator

    /// Redirects followed per request (registries send blobs to storage with one).
    static let maxRedirects = 10

    /// A process-lifetime client (never shut down): NIO's singleton event loops, connect timeout
    /// 10 s, read timeout 60 s (a stalled body fails), no automatic redirects (RegistrySource
    /// follows them itself and keeps credentials to the registry's origin), no decompression.
    public static let sharedHTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60))))

    public var name: String { "registry \(host)" }

    /// - Parameter httpClient: owned by the caller. With redirects disallowed (as the shared
    ///   client) RegistrySource follows them; a client that follows them itself drops the
    ///   `Authorization` header on a cross-origin redirect too.
    /// - Throws: `.invalidReference` for a layout or archive reference; `.io` when the CA file or
    ///   the auth file cannot be read.
    public init(
        reference: ImageReference, options: RegistryOptions = RegistryOptions(), httpClient: HTTPClient = RegistrySource.sharedHTTPClient,
        logger: Logger? = nil
    ) throws(ImageError) {
        guard case let .registry(host, repository, tag, digest) = reference else {
            throw ImageError(.invalidReference, "image \(reference): not a registry reference")
        }
        self.reference = reference
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
        let scheme = options.insecureRegistries.contains(host) ? "http" : "https"
        repositoryURL = "\(scheme)://\(host)/v2/\(repository)"
        let timeoutMilliseconds = min(max(options.requestTimeout.wholeMilliseconds, 0), 86_400_000)
        http = RegistryHTTP(
            client: httpClient, tls: try Self.tlsConfiguration(caFile: options.caFile), userAgent: options.userAgent,
            timeout: .milliseconds(timeoutMilliseconds), logger: logger)
        authenticator = try RegistryAuthenticator(host: host, repository: repository, options: options)
    }

    public func fetchRoot() async throws(ImageError) -> FetchedManifest {
        let name = digest?.description ?? tag ?? "latest"
        let context = "\(reference): fetch manifest \(name)"
        let (mediaType, bytes, response) = try await fetchDocument(name, context: context)
        if let digest {
            let actual = Digest.of(bytes, digest.algorithm)
            guard actual == digest else {
                throw ImageError(.digestMismatch, "\(context): registry \(host) sent content that hashes to \(actual)")
            }
            return FetchedManifest(mediaType: mediaType, bytes: bytes, digest: digest)
        }
        if let declared = response.headers.first(name: "Docker-Content-Digest"), let claimed = try? Digest(parsing: declared) {
            let actual = Digest.of(bytes, claimed.algorithm)
            guard actual == claimed else {
                throw ImageError(
                    .digestMismatch,
                    "\(context): registry \(host) declares Docker-Content-Digest \(claimed), the content hashes to \(actual)")
            }
        }
        return FetchedManifest(mediaType: mediaType, bytes: bytes, digest: Digest.of(bytes))
    }

    public func fetchManifest(_ descriptor: Descriptor) async throws(ImageError) -> FetchedManifest {
        let context = "\(reference): fetch manifest \(descriptor.digest)"
        guard descriptor.size <= Int64(maxManifestBytes) else {
            throw ImageError(
                .limitExceeded,
                "\(context): its descriptor declares \(descriptor.size) bytes, more than the \(maxManifestBytes) a manifest may have")
        }
        let (mediaType, bytes, _) = try await fetchDocument(descriptor.digest.description, context: context)
        try descriptor.verify(bytes, "\(context): registry \(host) sent")
        return FetchedManifest(mediaType: mediaType, bytes: bytes, digest: descriptor.digest)
    }

    /// Streams the blob into `writer` chunk by chunk as it arrives; the writer checks size and
    /// digest, and the caller commits. On any failure the writer is abandoned (its partial file
    /// removed) and the download stopped.
    public func fetchBlob(_ descriptor: Descriptor, into writer: BlobWriter) async throws(ImageError) {
        let context = "\(reference): fetch blob \(descriptor.digest)"
        do throws(ImageError) {
            let response = try await get("\(repositoryURL)/blobs/\(descriptor.digest)", accept: [], context: context)
            try await requireOK(response, context: context)
            if let length = response.headers.first(name: "Content-Length").flatMap(Int64.init), length != descriptor.size {
                throw ImageError(.digestMismatch, "\(context): the registry declares \(length) bytes, the descriptor \(descriptor.size)")
            }
            try await stream(response.body, into: writer, context: context)
        } catch {
            writer.abandon()
            throw error
        }
    }

    private func stream(_ body: HTTPClientResponse.Body, into writer: BlobWriter, context: String) async throws(ImageError) {
        do {
            for try await chunk in body {
                try chunk.withUnsafeReadableBytes { (bytes) throws(ImageError) in try writer.write(bytes) }
            }
        } catch let error as ImageError {
            throw error  // leaving the loop drops the body, which cancels the request
        } catch {
            throw ImageError(
                .transport, "\(context): the download broke off after \(writer.written) of \(writer.expected.size) bytes", underlying: error
            )
        }
    }

    /// GET /v2/<repo>/manifests/<name>: the media type (Content-Type without parameters), the
    /// bytes (at most `maxManifestBytes`) and the response (for its headers).
    private func fetchDocument(_ name: String, context: String) async throws(ImageError) -> (String, [UInt8], HTTPClientResponse) {
        let response = try await get("\(repositoryURL)/manifests/\(name)", accept: MediaType.manifestAccept, context: context)
        try await requireOK(response, context: context)
        let bytes = try await http.collect(response, limit: maxManifestBytes, context: context)
        let contentType = response.headers.first(name: "Content-Type") ?? ""
        let mediaType = String(contentType.prefix { $0 != ";" }.filter { $0 != " " && $0 != "\t" }).lowercased()
        return (mediaType, bytes, response)
    }

    /// GETs `url` from the registry: answers one 401 through the authenticator, follows up to
    /// `maxRedirects` redirects (the `Authorization` header goes only to the registry's own
    /// origin) and returns the last response, whatever its status (but 401).
    private func get(_ url: String, accept: [String], context: String) async throws(ImageError) -> HTTPClientResponse {
        let registryOrigin = RegistryHTTP.origin(of: repositoryURL)
        var target = url
        var authorization = authenticator.current()
        var answeredChallenge = false
        var redirects = 0
        while true {
            let onRegistry = RegistryHTTP.origin(of: target) == registryOrigin
            var headers = HTTPHeaders()
            if !accept.isEmpty { headers.add(name: "Accept", value: accept.joined(separator: ", ")) }
            if onRegistry, let authorization { headers.add(name: "Authorization", value: authorization.header) }
            let response = try await http.get(target, headers: headers, context: context)
            if response.status == .unauthorized && onRegistry {
                let challenges = AuthChallenge.parse(response.headers["WWW-Authenticate"])
                let answer = await http.errorAnswer(response)
                guard !answeredChallenge else {
                    authenticator.invalidate()
                    let refusal = authenticator.refusal(sent: authorization, challenges: challenges)
                    throw ImageError(.unauthorized, "\(context): registry \(host) answered \(answer.text); \(refusal)")
                }
                authorization = try await authenticator.authorize(challenges, http: http, context: context)
                answeredChallenge = true
                continue
            }
            guard let next = try redirectTarget(response, from: target, context: context) else { return response }
            _ = await http.errorAnswer(response)  // reads the (empty) body so the connection is reused
            redirects += 1
            guard redirects <= Self.maxRedirects else {
                throw ImageError(.registry, "\(context): more than \(Self.maxRedirects) redirects (last to \(RegistryHTTP.display(next)))")
            }
            target = next
        }
    }

    /// The absolute http(s) URL a 301/302/303/307/308 points to; nil for other statuses.
    private func redirectTarget(_ response: HTTPClientResponse, from url: String, context: String) throws(ImageError) -> String? {
        guard [301, 302, 303, 307, 308].contains(response.status.code) else { return nil }
        guard let location = response.headers.first(name: "Location"), let base = URL(string: url),
            let resolved = URL(string: location, relativeTo: base)?.absoluteURL,
            let scheme = resolved.scheme?.lowercased(), scheme == "http" || scheme == "https"
        else {
            throw ImageError(
                .registry, "\(context): \(RegistryHTTP.display(url)) answered \(response.status.code) without an http(s) Location")
        }
        return resolved.absoluteString
    }

    private func requireOK(_ response: HTTPClientResponse, context: String) async throws(ImageError) {
        guard response.status != .ok else { return }
        let answer = await http.errorAnswer(response)
        let notFoundCodes = ["MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"]
        let kind: ImageError.Kind
        switch response.status.code {
        case 404: kind = .notFound
        case 401, 403: kind = .unauthorized
        default: kind = answer.codes.contains(where: notFoundCodes.contains) ? .notFound : .registry
        }
        throw ImageError(kind, "\(context): registry \(host) answered \(answer.text)")
    }

    private static func tlsConfiguration(caFile: String?) throws(ImageError) -> TLSConfiguration? {
        guard let caFile else { return nil }
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(caFile) } catch {
            throw ImageError(.io, "read CA file \(caFile): not a readable PEM certificate file", underlying: error)
        }
        guard !certificates.isEmpty else { throw ImageError(.io, "read CA file \(caFile): no certificate in it") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(certificates)]
        return tls
    }
}

/// The HTTP requests of one source: its client, TLS trust, User-Agent and head timeout.
struct RegistryHTTP: Sendable {
    let client: HTTPClient
    /// Nil: the client's (system trust roots).
    let tls: TLSConfiguration?
    let userAgent: String
    /// Until the response head has arrived.
    let timeout: TimeAmount
    let logger: Logger?

    /// - Throws: `.transport` (DNS, TCP, TLS, timeout) with the client's error underneath.
    func get(_ url: String, headers: HTTPHeaders, context: String) async throws(ImageError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers = headers
        request.headers.replaceOrAdd(name: "User-Agent", value: userAgent)
        request.tlsConfiguration = tls
        do {
            let response = try await client.execute(request, timeout: timeout, logger: logger)
            logger?.debug("GET \(Self.display(url)) → \(response.status.code)")
            return response
        } catch {
            throw ImageError(.transport, "\(context): GET \(Self.display(url)) failed", underlying: error)
        }
    }

    /// The whole body, refused with `.limitExceeded` when it has (or declares) more than `limit` bytes.
    func collect(_ response: HTTPClientResponse, limit: Int, context: String) async throws(ImageError) -> [UInt8] {
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
            throw ImageError(.limitExceeded, "\(context): the answer declares \(length) bytes, more than the \(limit) accepted")
        }
        do {
            let buffer = try await response.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw ImageError(.limitExceeded, "\(context): the answer has more than the \(limit) bytes accepted")
        } catch {
            throw ImageError(.transport, "\(context): reading the answer failed", underlying: error)
        }
    }

    /// "404 Not Found (MANIFEST_UNKNOWN: manifest unknown)" from a distribution error body
    /// (`{"errors": [{"code": …, "message": …}]}`, at most 64 KiB read), and its codes.
    func errorAnswer(_ response: HTTPClientResponse) async -> (text: String, codes: [String]) {
        struct Body: Decodable {
            struct Entry: Decodable { var code: String?, message: String? }
            var errors: [Entry]?
        }
        let status = "\(response.status.code) \(response.status.reasonPhrase)"
        guard let buffer = try? await response.body.collect(upTo: 64 << 10),
            let body = try? JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView)), let errors = body.errors, !errors.isEmpty
        else { return (status, []) }
        let details = errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }
        return ("\(status) (\(details.joined(separator: "; ")))", errors.compactMap(\.code))
    }

    /// `url` without its query (storage redirects carry signatures there) for messages and logs.
    static func display(_ url: String) -> String { String(url.prefix { $0 != "?" }) }

    /// "https://host:443", the default port made explicit.
    static func origin(of url: String) -> String? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host?.lowercased() else {
            return nil
        }
        return "\(scheme)://\(host):\(parsed.port ?? (scheme == "https" ? 443 : 80))"
    }
}
