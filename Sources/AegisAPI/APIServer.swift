// APIServer.swift — the tenant-facing HTTP API (v1, see AegisProtocol/API.swift and
// docs/openapi.yaml) on Hummingbird 2. Every route is authenticated with a bearer token except
// GET /v1/cluster/ca and POST /v1/cluster/join (JoinRoutes.swift), /healthz and /readyz
// (HealthRoutes.swift) and, from inside the controller's pod, /metrics; errors are JSON ErrorBody.
import AegisControl
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging

public enum APIServer {
    /// The router for every /v1 route plus /metrics (admin only: the controller's series,
    /// `controller.metrics`, content-negotiated; MetricsRoutes.swift). With metrics, every request
    /// is counted by route template, method and status.
    /// - Parameters:
    ///   - shutdown: once begun, open log streams end with an `error` event.
    ///   - listener: what the listener serving this router trusts (`APIListenerKind`).
    /// `Idempotency-Key` of a submission (IETF httpapi draft): a retry with the same key returns
    /// the first workload (200 and `Idempotent-Replayed: true`) instead of making another.
    public static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    public static let idempotentReplayedHeader = HTTPField.Name("Idempotent-Replayed")!

    public static func router(
        controller: Controller, shutdown: ShutdownSignal = ShutdownSignal(), listener: APIListenerKind = .direct
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // Before any route: middleware applies to the routes added after it.
        if let metrics = controller.metrics { router.add(middleware: RequestMetricsMiddleware(metrics: metrics)) }
        let v1 = router.group("v1")

        v1.get("whoami") { req, _ in
            try await respond {
                let c = try await caller(req, controller); return json(WhoAmI(kind: c.isAdmin ? "admin" : "tenant", tenant: c.tenant))
            }
        }
        v1.post("workloads") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                let maxInput = controller.maxInputBytes
                let body = try await readBody(
                    req, limit: BodyLimit.submissionBytes(maxInputBytes: maxInput),
                    what: "submission (manifest up to 1 MiB plus input files up to \(BodyLimit.describe(maxInput)), base64)")
                let submit: SubmitRequest
                do { submit = try SubmitRequest(json: Array(body.readableBytesView)) } catch {
                    throw ControllerError.invalid(
                        "request body: not a SubmitRequest JSON document: \(decodingProblem(error))", underlying: error)
                }
                if let manifest = submit.manifest, manifest.utf8.count > BodyLimit.documentBytes {
                    throw BodyLimit.tooLarge("manifest of \(manifest.utf8.count) bytes", limit: BodyLimit.documentBytes)
                }
                let key = req.headers[idempotencyKeyHeader]
                let answer = try await controller.submitEncoded(submit, caller: c, idempotencyKey: key)
                let encoder = CompactJSONEncoder(writing: Array(answer.specJSON.utf8), for: WorkloadSpec.self)
                var response = json(answer.workload, status: answer.replayed ? .ok : .created, encoder: encoder)
                if answer.replayed { response.headers[idempotentReplayedHeader] = "true" }
                return response
            }
        }
        v1.get("workloads") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                var states: Set<WorkloadState>?
                if let s = req.uri.queryParameters.get("state") {
                    states = Set(
                        try s.split(separator: ",").map { part in
                            guard let st = WorkloadState(rawValue: String(part)) else {
                                throw ControllerError.invalid("state: unknown state \"\(part)\"", field: "state")
                            }
                            return st
                        })
                }
                return json(WorkloadList(items: try await controller.list(caller: c, states: states)))
            }
        }
        v1.get("workloads/:id") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.detail(id: try ctx.parameters.require("id"), caller: c))
            }
        }
        v1.post("workloads/:id/cancel") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.cancel(id: try ctx.parameters.require("id"), caller: c))
            }
        }
        v1.get("workloads/:id/logs") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                let id = try ctx.parameters.require("id")
                _ = try await controller.workload(id: id, caller: c)
                let follow = ["1", "true", "yes"].contains(req.uri.queryParameters.get("follow") ?? "")
                return LogStreamer(controller: controller, caller: c, id: id, follow: follow, shutdown: shutdown).response()
            }
        }
        v1.get("workloads/:id/files/**") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                let id = try ctx.parameters.require("id")
                let path = ctx.parameters.getCatchAll().joined(separator: "/")
                let bytes = try await controller.output(id: id, path: path, caller: c)
                return Response(
                    status: .ok, headers: [.contentType: "application/octet-stream"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
        v1.get("nodes") { req, _ in
            try await respond {
                let c = try await caller(req, controller); return json(NodeList(items: try await controller.nodes(caller: c)))
            }
        }
        v1.get("nodes/:name") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.node(name: try ctx.parameters.require("name"), caller: c))
            }
        }
        v1.post("tenants") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                let body = try await readBody(req, limit: BodyLimit.documentBytes)
                let r: CreateTenantRequest
                do { r = try JSONDecoder().decode(CreateTenantRequest.self, from: Data(buffer: body)) } catch {
                    throw ControllerError.invalid(
                        "request body: not a CreateTenantRequest JSON document: \(decodingProblem(error))", underlying: error)
                }
                return json(try await controller.createTenant(r, caller: c), status: .created)
            }
        }
        v1.get("tenants") { req, _ in
            try await respond {
                let c = try await caller(req, controller); return json(TenantList(items: try await controller.tenants(caller: c)))
            }
        }
        joinRoutes(v1, controller: controller)
        nodeRoutes(v1, controller: controller)
        metricsRoute(router, controller: controller, listener: listener)
        healthRoutes(router, controller: controller)
        return router
    }

    static func caller(_ req: Request, _ controller: Controller) async throws -> Caller {
        let token = req.headers[.authorization].flatMap(bearerToken)
        let actAs = req.headers[HTTPField.Name("X-Aegis-Tenant")!]
        return try await controller.authenticate(token: token, actAs: actAs)
    }

    /// The credentials of an `Authorization: Bearer …` header value (scheme case-insensitive,
    /// RFC 9110 §11.1; spaces and tabs around the token dropped); nil for another scheme.
    /// Byte-wise: it runs on every request (Foundation's trimming cost 2 % of a submission).
    static func bearerToken(_ header: String) -> String? {
        let bytes = header.utf8
        guard bytes.count > 7 else { return nil }
        for (byte, expected) in zip(bytes.prefix(6), "bearer".utf8) where byte | 0x20 != expected { return nil }
        guard bytes.dropFirst(6).first == UInt8(ascii: " ") else { return nil }
        let isBlank = { (b: UInt8) in b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        let rest = bytes.dropFirst(7)
        guard let first = rest.firstIndex(where: { !isBlank($0) }), let last = rest.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(header[first...last])
    }

    /// Runs a handler; a ControllerError becomes its status and JSON body (ControllerError+HTTP.swift).
    static func respond(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let e as ControllerError {
            return json(e.body, status: e.status)
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, encoder: CompactJSONEncoder = .init()) -> Response {
        let bytes = (try? encoder.encode(value)) ?? Array("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
