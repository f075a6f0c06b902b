// Join.swift — joining nodes to a cluster: the cluster CA, the join request and answer, and join
// token management (admin). Routes (see API.swift for the full map and docs/openapi.yaml):
//
//   GET    /v1/cluster/ca                      → ClusterCAInfo            (no authentication)
//   POST   /v1/cluster/join                    JoinRequest → JoinResponse (the join token authenticates)
//   GET    /v1/cluster/identities              → NodeIdentityList         (admin)
//   DELETE /v1/cluster/identities/{name}       → 204                      (admin)
//   POST   /v1/tokens                          CreateJoinTokenRequest → CreateJoinTokenResponse (201, admin)
//   GET    /v1/tokens                          → JoinTokenList            (admin; never secrets)
//   DELETE /v1/tokens/{id}                     → JoinTokenInfo (revoked)  (admin)
//
// Join errors: 401 for a token that is malformed, unknown, has a wrong secret, is expired or
// revoked, or pins another cluster's CA (the message names the token id and the reason); 403 when
// the requested role is not the token's; 409 when the node name is pinned to another key; 400 for
// a bad CSR or node name.

/// The cluster CA certificate, for a joining node to check against its token's pin.
public struct ClusterCAInfo: Codable, Sendable, Equatable {
    /// PEM certificate (`-----BEGIN CERTIFICATE-----`).
    public var caPEM: String
    /// Lowercase hex SHA-256 of the certificate's DER (what join tokens pin). Informational: a
    /// joining node computes it from `caPEM` itself.
    public var fingerprint: String
    public init(caPEM: String, fingerprint: String) {
        self.caPEM = caPEM
        self.fingerprint = fingerprint
    }
}

/// A node asks for its certificate.
public struct JoinRequest: Codable, Sendable, Equatable {
    /// The join token `AEG1<ca-sha256>::<id>.<secret>`.
    public var token: String
    /// Node name (RFC 1123 DNS name); becomes the certificate's CN and DNS SAN.
    public var nodeName: String
    /// Role the node expects; when given it must equal the token's role. Nil: the token's role.
    public var role: NodeRole?
    /// PKCS#10 CSR in PEM, ECDSA P-256, subject CN = `nodeName` (or no CN).
    public var csrPEM: String
    public init(token: String, nodeName: String, role: NodeRole? = nil, csrPEM: String) {
        self.token = token
        self.nodeName = nodeName
        self.role = role
        self.csrPEM = csrPEM
    }
}

/// The controller's answer to a join (or a renewal).
public struct JoinResponse: Codable, Sendable, Equatable {
    /// The node certificate (PEM).
    public var certificatePEM: String
    /// The cluster CA certificate (PEM) that signed it.
    public var caPEM: String
    public var nodeName: String
    /// Role granted (the certificate's OU).
    public var role: NodeRole
    /// Certificate serial number, lowercase hex.
    public var serial: String
    /// Certificate notAfter, Unix ms.
    public var notAfterMs: Int64
    public init(certificatePEM: String, caPEM: String, nodeName: String, role: NodeRole, serial: String, notAfterMs: Int64) {
        self.certificatePEM = certificatePEM
        self.caPEM = caPEM
        self.nodeName = nodeName
        self.role = role
        self.serial = serial
        self.notAfterMs = notAfterMs
    }
}

/// A join token as listed (never its secret).
public struct JoinTokenInfo: Codable, Sendable, Equatable {
    /// 6 characters `[a-z0-9]`.
    public var id: String
    public var role: NodeRole
    public var description: String
    public var createdAtMs: Int64
    public var expiresAtMs: Int64
    /// Unix ms of the revocation, nil while usable.
    public var revokedAtMs: Int64?
    /// Successful joins made with it.
    public var uses: Int
    public var lastUsedAtMs: Int64?
    public init(
        id: String, role: NodeRole, description: String, createdAtMs: Int64, expiresAtMs: Int64,
        revokedAtMs: Int64? = nil, uses: Int = 0, lastUsedAtMs: Int64? = nil
    ) {
        self.id = id
        self.role = role
        self.description = description
        self.createdAtMs = createdAtMs
        self.expiresAtMs = expiresAtMs
        self.revokedAtMs = revokedAtMs
        self.uses = uses
        self.lastUsedAtMs = lastUsedAtMs
    }
}

/// `POST /v1/tokens`.
public struct CreateJoinTokenRequest: Codable, Sendable, Equatable {
    /// Role granted to joining nodes (default worker).
    public var role: NodeRole?
    /// Lifetime in seconds (default 86400 = 24 h; 1 … 31536000).
    public var ttlSeconds: Int64?
    /// Operator's note, at most 200 characters.
    public var description: String?
    public init(role: NodeRole? = nil, ttlSeconds: Int64? = nil, description: String? = nil) {
        self.role = role
        self.ttlSeconds = ttlSeconds
        self.description = description
    }
}

/// The new token: `token` is shown once (only the hash of its secret is stored).
public struct CreateJoinTokenResponse: Codable, Sendable, Equatable {
    /// `AEG1<ca-sha256>::<id>.<secret>`.
    public var token: String
    public var info: JoinTokenInfo
    public init(token: String, info: JoinTokenInfo) {
        self.token = token
        self.info = info
    }
}

public struct JoinTokenList: Codable, Sendable, Equatable {
    public var items: [JoinTokenInfo]
    public init(items: [JoinTokenInfo]) { self.items = items }
}

/// A node name and the key it is pinned to.
public struct NodeIdentityInfo: Codable, Sendable, Equatable {
    /// Node name (certificate subject CN).
    public var name: String
    /// Lowercase hex SHA-256 of the node key's DER SubjectPublicKeyInfo (64 characters).
    public var keyFingerprint: String
    /// Role of the last certificate issued.
    public var role: NodeRole
    /// Unix ms of the first join.
    public var firstJoinedAtMs: Int64
    /// Unix ms of the last certificate issued (join or renewal).
    public var lastIssuedAtMs: Int64
    /// Hex serial of the last certificate issued.
    public var lastSerial: String?
    /// Id of the join token used by the first join (nil when registered otherwise).
    public var joinToken: String?

    public init(
        name: String, keyFingerprint: String, role: NodeRole, firstJoinedAtMs: Int64, lastIssuedAtMs: Int64,
        lastSerial: String? = nil, joinToken: String? = nil
    ) {
        self.name = name
        self.keyFingerprint = keyFingerprint
        self.role = role
        self.firstJoinedAtMs = firstJoinedAtMs
        self.lastIssuedAtMs = lastIssuedAtMs
        self.lastSerial = lastSerial
        self.joinToken = joinToken
    }
}

public struct NodeIdentityList: Codable, Sendable, Equatable {
    public var items: [NodeIdentityInfo]
    public init(items: [NodeIdentityInfo]) { self.items = items }
}

/// How a joining node reaches the controller before it has credentials: `GET /v1/cluster/ca` and
/// `POST /v1/cluster/join` (plain HTTP today, the TLS listener later). Implementations must not
/// send any other credential than the join token inside the request.
public protocol ClusterJoinTransport: Sendable {
    /// Where the controller is, for messages ("http://10.0.0.1:7420").
    var serverName: String { get }
    /// `GET /v1/cluster/ca`.
    func clusterCA() async throws -> ClusterCAInfo
    /// `POST /v1/cluster/join`.
    func join(_ request: JoinRequest) async throws -> JoinResponse
}

extension AegisPaths {
    /// `<dataDir>/pki`: the cluster CA (`ca.crt`, `ca.key`) of a controller.
    public var pkiDir: String { dataDir + "/pki" }
    /// `<dataDir>/identity`: a node's own key and certificate (`node.key`, `node.crt`) and the
    /// pinned cluster CA (`ca.crt`), written by `aegis node join`.
    public var identityDir: String { dataDir + "/identity" }
}
