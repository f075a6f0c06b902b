// NodeRoutes.swift — node operations (admin): cordon, uncordon and drain
// (AegisControl/Controller+Nodes.swift). Unknown nodes are 404, tenant callers 403.
import AegisControl
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird

extension APIServer {
    static func nodeRoutes(_ v1: RouterGroup<BasicRequestContext>, controller: Controller) {
        v1.post("nodes/:name/cordon") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.cordon(name: try ctx.parameters.require("name"), caller: c))
            }
        }
        v1.post("nodes/:name/uncordon") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.uncordon(name: try ctx.parameters.require("name"), caller: c))
            }
        }
        // Body optional: DrainRequest {"timeoutSeconds": N}; an empty body waits the default 300 s.
        v1.post("nodes/:name/drain") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                let body = try await readBody(req, limit: BodyLimit.documentBytes)
                var request = DrainRequest()
                if body.readableBytes > 0 {
                    do { request = try JSONDecoder().decode(DrainRequest.self, from: Data(buffer: body)) } catch {
                        throw ControllerError.invalid(
                            "request body: not a DrainRequest JSON document: \(decodingProblem(error))", underlying: error)
                    }
                }
                return json(
                    try await controller.drain(
                        name: try ctx.parameters.require("name"),
                        timeoutSeconds: request.timeoutSeconds, caller: c))
            }
        }
    }
}
