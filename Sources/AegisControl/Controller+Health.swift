// Controller+Health.swift — what GET /readyz reports: whether the controller can do its job now
// (its store answers a read, its cluster CA is loaded), as Kubernetes' apiserver answers /readyz.
import AegisProtocol

extension Controller {
    /// Nil when ready, else the reasons, one per entry ("store: …", "cluster CA: …"). The store
    /// check is one indexed read (a tenant that cannot exist: tenant names start with a letter or
    /// digit; no NUL, which PostgreSQL refuses in text); the CA is loaded (created on the
    /// first start) if it was not yet.
    public func notReadyReasons() async -> [String] {
        var reasons: [String] = []
        do { _ = try await store.tenant(name: "_readiness") } catch { reasons.append("store: \(error)") }
        do { _ = try clusterAuthority() } catch { reasons.append("cluster CA: \(error.description)") }
        return reasons
    }
}
