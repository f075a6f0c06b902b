// Controller+Idempotency.swift — submissions with an Idempotency-Key (the IETF httpapi draft
// "The Idempotency-Key HTTP Header Field"): a client that lost an answer — a timeout, a
// controller failover — sends the same submission again with the same key and gets the first
// workload back, never a second one. Keys are per tenant and live as long as the workload.
import AegisProtocol
import AegisStore

extension Controller {
    /// The longest key accepted, bytes.
    public static let maxIdempotencyKeyBytes = 255

    /// 1…255 bytes of printable ASCII (0x21…0x7E): what fits a header value and a log line.
    static func checkIdempotencyKey(_ key: String) throws(ControllerError) {
        guard !key.isEmpty, key.utf8.count <= maxIdempotencyKeyBytes, key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .invalid(
                "Idempotency-Key: 1 to \(maxIdempotencyKeyBytes) printable ASCII characters without spaces", field: "Idempotency-Key")
        }
    }

    /// The first workload submitted with `key`, when there is one and its spec is this one's;
    /// nil when the key is new. - Throws: 409 when the key was used for another spec.
    func replay(_ key: String, tenant: String, specJSON: String) async throws(ControllerError) -> SubmittedWorkload? {
        let first: Workload?
        do { first = try await store.workload(tenant: tenant, idempotencyKey: key) } catch {
            throw .internalError("store", underlying: error)
        }
        guard var first else { return nil }
        let firstJSON = try? ControlStore.storedSpecJSON(first.spec)
        guard firstJSON == specJSON else {
            throw .conflict("Idempotency-Key \(key) was used for another submission (workload \(first.id)); use a new key")
        }
        if let live = submitting[first.id] { first = live }
        first.spec.inputs = [:]
        logger.info("submission replayed", metadata: ["workload": "\(first.id)", "tenant": "\(tenant)"])
        return SubmittedWorkload(workload: first, specJSON: specJSON, replayed: true)
    }
}
