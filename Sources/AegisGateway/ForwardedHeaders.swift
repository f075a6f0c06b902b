// ForwardedHeaders.swift — what the gateway changes in the headers it forwards: hop-by-hop headers
// (RFC 9110 §7.6.1) are its own business, every incoming `X-Aegis-Gateway-*` header is removed (only
// the gateway says who a client is), the verified client certificate and the request ID are added.
import AegisSystem
import Foundation
import HTTPTypes
import NIOHTTP1

enum ForwardedHeaders {
    /// Headers whose names start with this (compared in lowercase) are the gateway's alone.
    static let gatewayPrefix = "x-aegis-gateway-"
    /// The verified TLS client certificate: base64 of the leaf's DER.
    static let clientCertificate = "X-Aegis-Gateway-Client-Certificate"
    /// On every forwarded request: the client's IP address. Its presence tells the controller's
    /// pod socket that the request came from outside the pod (through the gateway), so pod-local
    /// privileges (GET /metrics without a token, for the metrics sidecar) do not apply.
    static let forwardedFor = "X-Aegis-Gateway-Forwarded-For"
    static let requestID = HTTPField.Name("X-Request-Id")!
    /// The longest request ID kept from a client.
    static let maxRequestIDLength = 64

    /// Connection-level headers a proxy never forwards, plus the framing of the body (the
    /// upstream request gets its own Content-Length or chunked encoding) and Expect (the gateway
    /// answers 100-continue itself).
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization", "content-length", "expect",
    ]

    /// A well-formed incoming `X-Request-Id` (1…64 of [A-Za-z0-9-_]), else a new random one
    /// (32 lowercase hex digits).
    static func requestID(_ fields: HTTPFields) -> String {
        if let given = fields[requestID], (1...maxRequestIDLength).contains(given.utf8.count),
            given.utf8.allSatisfy({ isIDByte($0) })
        {
            return given
        }
        var rng = SystemRandomNumberGenerator()
        return Hex.lowercase(rng.next() as UInt64) + Hex.lowercase(rng.next() as UInt64)
    }

    static func isIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
    }

    /// The headers of the upstream request: the client's, less hop-by-hop headers (and those the
    /// client's Connection header names) and every `X-Aegis-Gateway-*`, plus the identity and the
    /// request ID.
    static func upstream(_ fields: HTTPFields, identity: ClientIdentity, requestID id: String, client: String) -> HTTPHeaders {
        let named = connectionTokens(fields)
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 2)
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || named.contains(name) || name.hasPrefix(gatewayPrefix) || field.name == requestID { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        if case .verified(let der, _) = identity { headers.add(name: clientCertificate, value: der) }
        headers.add(name: forwardedFor, value: client)
        headers.add(name: requestID.rawName, value: id)
        return headers
    }

    /// The headers of the response to the client: the controller's less hop-by-hop headers
    /// (Content-Length stays: the body is passed on as it is), plus the request ID.
    static func downstream(_ headers: HTTPHeaders, requestID id: String) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count + 1)
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower != "content-length" && hopByHop.contains(lower) { continue }
            guard let fieldName = HTTPField.Name(name), fieldName != requestID else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        fields[requestID] = id
        return fields
    }

    /// Lowercased header names listed in the Connection header(s).
    static func connectionTokens(_ fields: HTTPFields) -> Set<String> {
        var tokens = Set<String>()
        for value in fields[values: .connection] {
            for token in value.split(separator: ",") {
                tokens.insert(token.trimmingCharacters(in: .whitespaces).lowercased())
            }
        }
        return tokens
    }

    /// Whether the request asks for a body and how long: `.known(n)` from Content-Length, `.unknown`
    /// for a chunked body, nil for none.
    static func bodyLength(_ fields: HTTPFields) -> BodyLength? {
        if let te = fields[.transferEncoding], te.lowercased().contains("chunked") { return .chunked }
        guard let text = fields[.contentLength] else { return nil }
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= 0 else { return .invalid }
        return n == 0 ? nil : .known(n)
    }

    enum BodyLength: Equatable {
        case known(Int)
        case chunked
        case invalid
    }
}
