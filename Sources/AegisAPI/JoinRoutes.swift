// JoinRoutes.swift — joining nodes (AegisProtocol/Join.swift): the cluster CA and the join itself
// (no bearer token: the join token in the body authenticates), join token management and node
// identities (admin).
import AegisControl
import AegisProtocol
import Foundation
import HTTPTypes
import Hummingbird

extension APIServer {
    static func joinRoutes(_ v1: RouterGroup<BasicRequestContext>, controller: Controller) {
        v1.get("cluster/ca") { _, _ in
            try await respond { json(try await controller.clusterCA()) }
        }
        v1.post("cluster/join") { req, _ in
            try await respond {
                let body = try await readBody(req, limit: BodyLimit.documentBytes)
                let request: JoinRequest
                do { request = try JSONDecoder().decode(JoinRequest.self, from: Data(buffer: body)) } catch {
                    throw ControllerError.invalid(
                        "request body: not a JoinRequest JSON document (token, nodeName, csrPEM, optional role): \(decodingProblem(error))",
                        underlying: error)
                }
                return json(try await controller.join(request))
            }
        }
        v1.get("cluster/identities") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                return json(NodeIdentityList(items: try await controller.identities(caller: c)))
            }
        }
        v1.delete("cluster/identities/:name") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                try await controller.removeIdentity(name: try ctx.parameters.require("name"), caller: c)
                return Response(status: .noContent)
            }
        }
        v1.post("tokens") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                let body = try await readBody(req, limit: BodyLimit.documentBytes)
                let request: CreateJoinTokenRequest
                do { request = try JSONDecoder().decode(CreateJoinTokenRequest.self, from: Data(buffer: body)) } catch {
                    throw ControllerError.invalid(
                        "request body: not a CreateJoinTokenRequest JSON document: \(decodingProblem(error))", underlying: error)
                }
                return json(try await controller.createJoinToken(request, caller: c), status: .created)
            }
        }
        v1.get("tokens") { req, _ in
            try await respond {
                let c = try await caller(req, controller)
                return json(JoinTokenList(items: try await controller.joinTokens(caller: c)))
            }
        }
        v1.delete("tokens/:id") { req, ctx in
            try await respond {
                let c = try await caller(req, controller)
                return json(try await controller.revokeJoinToken(id: try ctx.parameters.require("id"), caller: c))
            }
        }
    }

    /// The field and reason of a JSON decoding failure, in one line.
    static func decodingProblem(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context) -> String {
            var p = ""
            for key in c.codingPath {
                if let index = key.intValue { p += "[\(index)]" } else { p += (p.isEmpty ? "" : ".") + key.stringValue }
            }
            return p.isEmpty ? "" : "\(p): "
        }
        switch e {
        case .keyNotFound(let key, let c): return "\(path(c))missing field \(key.stringValue)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c) + c.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
