// RegistryAuth.swift — how RegistrySource authenticates (distribution spec, docker's token spec):
// credentials from a docker-style auth.json, the WWW-Authenticate challenges a 401 carries, and
// the authenticator that answers them — a bearer token from the realm (cached for the source's
// lifetime) or Basic credentials. Secrets never appear in messages or logs: only user names do.
import AsyncHTTPClient
import AegisSystem
import NIOHTTP1
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user name and password for one registry host, from an auth file.
struct RegistryCredentials: Sendable {
    var username: String
    var password: String

    /// The `Authorization` value for HTTP Basic.
    var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }

    /// The credentials `authFile` holds for `host` ("127.0.0.1:5000"), or nil when it has none.
    /// Keys may be written as `host[:port]`, `https://host[:port]` or with a path (`/v1/`);
    /// Docker Hub's `docker.io` / `index.docker.io` keys count for `registry-1.docker.io`.
    /// Entries give `auth` (base64 of `user:password`) or `username` and `password`.
    /// - Throws: `.io` when the file cannot be read (larger than 1 MiB counts) or is not such JSON.
    static func load(authFile: String, host: String) throws(ImageError) -> RegistryCredentials? {
        struct Entry: Decodable { var auth: String?, username: String?, password: String? }
        struct File: Decodable { var auths: [String: Entry]? }
        let file: File
        do {
            let bytes = try FileSystem.readBytes(authFile, limit: 1 << 20)
            file = try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw ImageError(.io, "read auth file \(authFile) (expected {\"auths\": {\"host:port\": {\"auth\": …}}})", underlying: error)
        }
        let wanted = host == "registry-1.docker.io" ? ["registry-1.docker.io", "docker.io", "index.docker.io"] : [host]
        guard let entry = (file.auths ?? [:]).first(where: { wanted.contains(normalizedKey($0.key)) })?.value else { return nil }
        if let auth = entry.auth, !auth.isEmpty {
            guard let decoded = Data(base64Encoded: auth), let text = String(data: decoded, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            else { throw ImageError(.io, "auth file \(authFile): the \"auth\" of \(host) is not base64 of user:password") }
            return RegistryCredentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        guard let username = entry.username, let password = entry.password, !username.isEmpty else { return nil }
        return RegistryCredentials(username: username, password: password)
    }

    /// "https://index.docker.io/v1/" → "index.docker.io".
    private static func normalizedKey(_ key: String) -> String {
        var rest = Substring(key)
        for scheme in ["https://", "http://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        return String(rest.prefix { $0 != "/" })
    }
}

/// One challenge of a `WWW-Authenticate` header (RFC 7235): `Bearer realm="…",service="…"`.
struct AuthChallenge: Sendable, Equatable, CustomStringConvertible {
    /// Lowercased ("bearer", "basic").
    var scheme: String
    /// Parameter names lowercased; values unquoted and unescaped.
    var parameters: [String: String]

    /// As a registry writes it, realm, service and scope first: `Bearer realm="…", service="…"`.
    var description: String {
        let name = scheme.prefix(1).uppercased() + scheme.dropFirst()
        let rank = ["realm": 0, "service": 1, "scope": 2]
        let ordered = parameters.sorted { (rank[$0.key] ?? 3, $0.key) < (rank[$1.key] ?? 3, $1.key) }
        let params = ordered.map { "\($0.key)=\"\($0.value)\"" }
        return params.isEmpty ? name : "\(name) \(params.joined(separator: ", "))"
    }

    /// Every challenge in the header values (a header may hold several, and a response several headers).
    /// Quoted strings may contain commas and backslash escapes; malformed parts are skipped.
    static func parse(_ headerValues: [String]) -> [AuthChallenge] {
        headerValues.flatMap { value in
            var parser = ChallengeParser(Array(value.utf8))
            return parser.challenges()
        }
    }
}

/// A cursor over one header value.
private struct ChallengeParser {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func challenges() -> [AuthChallenge] {
        var result: [AuthChallenge] = []
        while true {
            skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
            guard index < bytes.count else { return result }
            let scheme = token()
            guard !scheme.isEmpty else {  // garbage: drop up to the next comma
                skip { $0 != UInt8(ascii: ",") }
                continue
            }
            result.append(AuthChallenge(scheme: scheme.lowercased(), parameters: parameters()))
        }
    }

    /// `name=value` pairs until the next challenge (a token not followed by "=") or the end.
    private mutating func parameters() -> [String: String] {
        var parameters: [String: String] = [:]
        while true {
            skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
            let start = index
            let name = token()
            skipSpaces()
            guard !name.isEmpty, index < bytes.count, bytes[index] == UInt8(ascii: "=") else {
                index = start  // the next challenge's scheme, or the end
                return parameters
            }
            index += 1
            skipSpaces()
            parameters[name.lowercased()] = index < bytes.count && bytes[index] == UInt8(ascii: "\"") ? quoted() : bareValue()
        }
    }

    private mutating func token() -> String {
        let start = index
        skip { Self.isTokenByte($0) }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// An unquoted value: lenient, up to a comma or space (some registries leave URLs unquoted).
    private mutating func bareValue() -> String {
        let start = index
        skip { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func quoted() -> String {
        var out: [UInt8] = []
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\"), index < bytes.count {
                out.append(bytes[index])
                index += 1
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func skipSpaces() { skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } }

    private mutating func skip(while predicate: (UInt8) -> Bool) {
        while index < bytes.count && predicate(bytes[index]) { index += 1 }
    }

    private static let tokenPunctuation = Array("!#$%&'*+-.^_`|~".utf8)

    /// RFC 7230 tchar.
    private static func isTokenByte(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || Self.tokenPunctuation.contains(c)
    }
}

/// An `Authorization` header value and, for messages, what it is ("a token for alice").
struct RegistryAuthorization: Sendable {
    var header: String
    var summary: String
}

/// Answers a registry's 401s for one repository and remembers the answer: requests after the
/// first carry the cached token (until shortly before its `expires_in`) or Basic credentials.
final class RegistryAuthenticator: Sendable {
    let host: String
    let repository: String
    let credentials: RegistryCredentials?
    /// "auth file /root/auth.json" or "no auth file given" (for messages).
    let credentialSource: String
    /// host[:port] that may be spoken to (and sent credentials) over plain HTTP.
    let insecureRegistries: Set<String>
    private let cached = Mutex<(authorization: RegistryAuthorization, renewAt: ContinuousClock.Instant?)?>(nil)

    init(host: String, repository: String, options: RegistryOptions) throws(ImageError) {
        self.host = host
        self.repository = repository
        self.insecureRegistries = options.insecureRegistries
        if let authFile = options.authFile {
            credentials = try RegistryCredentials.load(authFile: authFile, host: host)
            credentialSource = "auth file \(authFile)"
        } else {
            credentials = nil
            credentialSource = "no auth file given"
        }
    }

    /// The authorization earlier 401s led to, unless it is about to expire.
    func current() -> RegistryAuthorization? {
        cached.withLock { entry in
            guard let entry else { return nil }
            if let renewAt = entry.renewAt, ContinuousClock.now >= renewAt { return nil }
            return entry.authorization
        }
    }

    /// What to retry with after a 401 carrying `challenges`: a token from the Bearer realm (with
    /// Basic credentials when the auth file has some for this host) or Basic credentials.
    /// - Parameter context: "<reference>: fetch manifest v1", prefixed to errors.
    /// - Throws: `.unauthorized` (no usable challenge, Basic without credentials, the realm refused
    ///   the credentials), `.transport`/`.registry` from the token request.
    func authorize(_ challenges: [AuthChallenge], http: RegistryHTTP, context: String) async throws(ImageError) -> RegistryAuthorization {
        let authorization: RegistryAuthorization
        var renewAt: ContinuousClock.Instant?
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            let token = try await fetchToken(bearer, http: http, context: context)
            authorization = RegistryAuthorization(header: "Bearer \(token.value)", summary: token.summary)
            renewAt = ContinuousClock.now + .seconds(max(token.lifetimeSeconds * 9 / 10, 1))
        } else if let basic = challenges.first(where: { $0.scheme == "basic" }) {
            guard let credentials else {
                throw ImageError(
                    .unauthorized,
                    "\(context): registry \(host) asks for \(basic) and there are no credentials for it (\(credentialSource))")
            }
            authorization = RegistryAuthorization(header: credentials.basicHeader, summary: "as \(credentials.username)")
        } else {
            let asked = challenges.isEmpty ? "no WWW-Authenticate challenge" : challenges.map(\.description).joined(separator: "; ")
            throw ImageError(.unauthorized, "\(context): registry \(host) answered 401 with \(asked) (neither Bearer nor Basic)")
        }
        cached.withLock { $0 = (authorization, renewAt) }
        return authorization
    }

    /// Forgets the cached authorization (the registry refused it).
    func invalidate() { cached.withLock { $0 = nil } }

    /// What a registry that still answers 401 was sent and asked for, for `.unauthorized` messages.
    func refusal(sent: RegistryAuthorization?, challenges: [AuthChallenge]) -> String {
        let asked = challenges.isEmpty ? "" : "; it asks for \(challenges.map(\.description).joined(separator: "; "))"
        let hint = credentials == nil ? " (no credentials for \(host): \(credentialSource))" : ""
        return "sent \(sent?.summary ?? "anonymously")\(asked)\(hint)"
    }

    private struct Token {
        var value: String
        /// expires_in, clamped to 1…86400 s.
        var lifetimeSeconds: Int
        var summary: String
    }

    /// GET realm?service=…&scope=repository:<repo>:pull (docker's token authentication spec).
    private func fetchToken(_ challenge: AuthChallenge, http: RegistryHTTP, context: String) async throws(ImageError) -> Token {
        guard let realm = challenge.parameters["realm"], let realmURL = URL(string: realm),
            let scheme = realmURL.scheme?.lowercased(), scheme == "https" || scheme == "http", let realmHost = realmURL.host
        else { throw ImageError(.unauthorized, "\(context): registry \(host) asks for \(challenge), whose realm is not an http(s) URL") }
        let step = "\(context): token from \(RegistryHTTP.display(realm))"
        var query = [("scope", "repository:\(repository):pull")]
        if let service = challenge.parameters["service"] { query.insert(("service", service), at: 0) }
        let url = realm + (realm.contains("?") ? "&" : "?") + query.map { "\($0)=\(percentEncoded($1))" }.joined(separator: "&")
        var headers = HTTPHeaders()
        if let credentials {
            let authority = realmURL.port.map { "\(realmHost):\($0)" } ?? realmHost
            guard scheme == "https" || insecureRegistries.contains(authority) else {
                throw ImageError(
                    .unauthorized,
                    "\(step): the realm is plain HTTP and \(authority) is not an insecure registry; credentials for \(host) are not sent there"
                )
            }
            headers.add(name: "Authorization", value: credentials.basicHeader)
        }
        let who = credentials.map { "a token for \($0.username)" } ?? "an anonymous token"
        let response = try await http.get(url, headers: headers, context: step)
        guard response.status == .ok else {
            let answer = await http.errorAnswer(response)
            let kind: ImageError.Kind = [.unauthorized, .forbidden].contains(response.status) ? .unauthorized : .registry
            throw ImageError(kind, "\(step): asked for \(who), the realm answered \(answer.text)")
        }
        struct Body: Decodable { var token: String?, access_token: String?, expires_in: Double? }  // expires_in: seconds
        let bytes = try await http.collect(response, limit: 1 << 20, context: step)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(bytes)), let token = body.token ?? body.access_token,
            !token.isEmpty
        else { throw ImageError(.registry, "\(step): the answer is not JSON with a \"token\" or \"access_token\"") }
        return Token(
            value: token, lifetimeSeconds: Int(min(max(body.expires_in ?? 60, 1), 86_400)),
            summary: "with \(who) from \(RegistryHTTP.display(realm))")
    }

    /// RFC 3986 query value: unreserved characters as they are, everything else %XX.
    private func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
