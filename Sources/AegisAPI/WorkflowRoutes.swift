// WorkflowRoutes.swift — the workflow API (AegisProtocol/Workflows.swift) over the controller's
// `WorkflowEngine`: submit, list, describe, cancel, retry, approve and reject. Another tenant's workflow
// is 404, as for workloads.
import AegisControl
import AegisProtocol
import AegisWorkflow
import Foundation
import HTTPTypes
import Hummingbird

extension APIServer {
    /// Adds the /v1/workflows routes to `router` (built by `router(controller:…)`).
    public static func workflowRoutes(_ router: Router<BasicRequestContext>, controller: Controller, engine: WorkflowEngine) {
        let v1 = router.group("v1")
        v1.post("workflows") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                let body = try await readBody(req, limit: BodyLimit.documentBytes + 64 << 10, what: "workflow (manifest up to 1 MiB)")
                let submit: WorkflowSubmitRequest
                do { submit = try JSONDecoder().decode(WorkflowSubmitRequest.self, from: Data(buffer: body)) } catch {
                    throw ControllerError.invalid(
                        "request body: not a WorkflowSubmitRequest JSON document: \(decodingProblem(error))", underlying: error)
                }
                return json(try await engine.submit(submit, caller: c), status: .created)
            }
        }
        v1.get("workflows") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                var phases: Set<WorkflowPhase>?
                if let text = req.uri.queryParameters.get("phase") {
                    phases = Set(
                        try text.split(separator: ",").map { part in
                            guard let p = WorkflowPhase(rawValue: String(part)) else {
                                throw ControllerError.invalid("phase: unknown phase \"\(part)\"", field: "phase")
                            }
                            return p
                        })
                }
                return json(WorkflowList(items: try await engine.list(caller: c, phases: phases)))
            }
        }
        v1.get("workflows/:id") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await engine.describe(id: try ctx.parameters.require("id"), caller: c))
            }
        }
        v1.post("workflows/:id/cancel") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await engine.cancel(id: try ctx.parameters.require("id"), caller: c))
            }
        }
        v1.post("workflows/:id/retry") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await engine.retry(id: try ctx.parameters.require("id"), caller: c))
            }
        }
        for (verb, approve) in [("approve", true), ("reject", false)] {
            v1.post("workflows/:id/\(verb)/:step") { req, ctx in
                try await respond {
                    let c = try await caller(req, controller)
                    let (id, step) = (try ctx.parameters.require("id"), try ctx.parameters.require("step"))
                    return json(try await engine.decide(id: id, step: step, approve: approve, caller: c))
                }
            }
        }
    }
}
