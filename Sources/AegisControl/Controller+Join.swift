// Controller+Join.swift — the controller's join API: the cluster CA, node joins and renewals
// (ClusterAuthority), join token management and node identities (admin).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisPKI
import AegisProtocol
import AegisStore
import Logging

extension Controller {
    /// `<the store's data directory>/pki`; `pki` (relative) for a store without local files.
    static func defaultPKIDirectory(dataDirectory: String?) -> String {
        guard let dir = dataDirectory else { return "pki" }
        return (dir == "/" ? "" : dir) + "/pki"
    }

    /// The cluster authority: the CA in `pkiDirectory` is loaded, or created on the first call
    /// (first start of a controller), and kept for the controller's lifetime.
    /// - Throws: `ControllerError` 500 naming the PKI directory and the `PKIError` (e.g. `ca.key`
    ///   missing next to `ca.crt`).
    public func clusterAuthority() throws(ControllerError) -> ClusterAuthority {
        if let authority { return authority }
        do {
            var loaded = try ClusterAuthority.open(directory: pkiDirectory, store: store, logger: logger)
            if let v = nodeCertificateValidity { loaded.certificateValidity = v }
            authority = loaded
            logger.info("cluster CA ready", metadata: ["dir": "\(pkiDirectory)", "fingerprint": "\(loaded.fingerprint)"])
            return loaded
        } catch {
            throw .internalError("cluster CA in \(pkiDirectory)", underlying: error)
        }
    }

    /// `GET /v1/cluster/ca`: the CA certificate and its fingerprint (public information).
    public nonisolated func clusterCA() async throws(ControllerError) -> ClusterCAInfo {
        let authority = try await clusterAuthority()
        return ClusterCAInfo(caPEM: authority.caPEM, fingerprint: authority.fingerprint)
    }

    /// `POST /v1/cluster/join`: see `ClusterAuthority.join`. Signing runs off the actor.
    public nonisolated func join(_ request: JoinRequest) async throws(ControllerError) -> JoinResponse {
        let authority = try await clusterAuthority()
        let issued = try await authority.join(token: request.token, csrPEM: request.csrPEM, nodeName: request.nodeName, role: request.role)
        return Self.response(issued)
    }

    /// Renewal by a node authenticated with its current certificate (the TLS worker connection):
    /// see `ClusterAuthority.renew`.
    public nonisolated func renew(verifiedNode: VerifiedNode, csrPEM: String) async throws(ControllerError) -> JoinResponse {
        let authority = try await clusterAuthority()
        return Self.response(try await authority.renew(verifiedNode: verifiedNode, csrPEM: csrPEM))
    }

    static func response(_ issued: ClusterAuthority.Issued) -> JoinResponse {
        JoinResponse(
            certificatePEM: issued.certificatePEM, caPEM: issued.caPEM, nodeName: issued.nodeName, role: issued.role,
            serial: issued.serial, notAfterMs: ClusterAuthority.ms(issued.notValidAfter))
    }

    // MARK: join tokens (admin)

    /// Default join token lifetime: 24 h.
    public static let defaultJoinTokenTTLSeconds: Int64 = 86_400

    /// `POST /v1/tokens`: a join token for `role` (default worker), TTL default 24 h.
    /// - Throws: 403 for non-admins, 400 for a TTL or description out of range.
    public func createJoinToken(_ request: CreateJoinTokenRequest, caller: Caller) async throws(ControllerError) -> CreateJoinTokenResponse
    {
        guard caller.isAdmin else { throw .forbidden("join tokens are admin-only") }
        let authority = try await clusterAuthority()
        let created = try await authority.createJoinToken(
            role: request.role ?? .worker,
            ttlSeconds: request.ttlSeconds ?? Self.defaultJoinTokenTTLSeconds,
            description: request.description ?? "")
        return CreateJoinTokenResponse(token: created.token, info: created.record)
    }

    /// `GET /v1/tokens`: every join token, oldest first, without secrets.
    public func joinTokens(caller: Caller) async throws(ControllerError) -> [JoinTokenInfo] {
        guard caller.isAdmin else { throw .forbidden("join tokens are admin-only") }
        do { return try await store.listJoinTokens() } catch { throw .internalError(underlying: error) }
    }

    /// `DELETE /v1/tokens/{id}`: revokes a join token (idempotent). - Throws: 404 for an unknown id.
    public func revokeJoinToken(id: String, caller: Caller) async throws(ControllerError) -> JoinTokenInfo {
        guard caller.isAdmin else { throw .forbidden("join tokens are admin-only") }
        do {
            let record = try await store.revokeJoinToken(id: id)
            logger.notice("join token revoked", metadata: ["token": "\(id)"])
            return record
        } catch let e as StoreError where e.kind == .notFound {
            throw .notFound(e.message, underlying: e)
        } catch {
            throw .internalError(underlying: error)
        }
    }

    // MARK: node identities (admin)

    /// `GET /v1/cluster/identities`: node names and their pinned keys.
    public func identities(caller: Caller) async throws(ControllerError) -> [NodeIdentityInfo] {
        guard caller.isAdmin else { throw .forbidden("node identities are admin-only") }
        do {
            return try await store.listIdentities()
        } catch {
            throw .internalError(underlying: error)
        }
    }

    /// `DELETE /v1/cluster/identities/{name}`: unpins a node name so it can join with a new key.
    /// Certificates already issued stay valid until they expire. - Throws: 404.
    public func removeIdentity(name: String, caller: Caller) async throws(ControllerError) {
        guard caller.isAdmin else { throw .forbidden("node identities are admin-only") }
        do {
            try await store.removeIdentity(name: name)
            logger.notice("node identity removed", metadata: ["node": "\(name)"])
            // Its open session, authenticated by the identity just removed, ends now.
            (workers[name] as? RemoteWorkerLink)?.close(
                reason: "the identity of node \(name) was removed (aegis node forget); join it again with --token --rejoin")
        } catch let e as StoreError where e.kind == .notFound {
            throw .notFound(e.message, underlying: e)
        } catch {
            throw .internalError(underlying: error)
        }
    }
}
