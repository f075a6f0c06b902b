// NodeSessionServer.swift — the controller's end of the node protocol (AegisProtocol
// Session.swift) behind the gateway, on the controller's socket: a WebSocket upgrade on
// /v1/cluster/session, allowed only for a peer whose client certificate (the one the gateway
// verified in its TLS handshake) chains to the cluster CA, names a worker or hybrid node, and
// carries the key that node name is pinned to. Frames are decoded here and handed to
// the controller; its calls to the worker come back through a RemoteWorkerLink whose messages a
// single writer task sends in order.
import AegisControl
import AegisPKI
import AegisProtocol
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

public enum NodeSessionServer {
    /// WebSocket settings of the cluster port: frames up to `NodeSession.maxFrameBytes`, a ping
    /// every 5 s (a peer that misses a pong is disconnected).
    public static let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
        ws: WebSocketServerConfiguration(
            maxFrameSize: NodeSession.maxFrameBytes, autoPing: .enabled(timePeriod: .seconds(5)),
            closeTimeout: .seconds(2)))

    /// Sessions open per node name: a reconnect may overlap the old session briefly; more than
    /// `maxSessionsPerNode` (one certificate opening connection after connection, each able to
    /// hold a frame of up to 32 MiB) is refused.
    static let openSessions = Mutex<[String: Int]>([:])
    public static let maxSessionsPerNode = 2

    /// The `shouldUpgrade` of the cluster port's HTTP/1 + WebSocket server: requests for other paths
    /// are plain HTTP (the tenant API); a session request is upgraded, and a peer that fails the
    /// certificate checks gets one `error` frame naming the cause, then the close.
    /// Sessions arrive only through the gateway (the pod's, or the one `aegis up --listen` runs in
    /// process), on the controller's socket: the peer is the certificate the gateway verified in
    /// its handshake and passed as `X-Aegis-Gateway-Client-Certificate`.
    public static func shouldUpgrade(
        request: HTTPRequest, controller: Controller, logger: Logger
    ) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        guard request.path?.split(separator: "?").first == Substring(NodeSession.path) else { return .dontUpgrade }
        let peer: Result<VerifiedNode, ControllerError>
        do {
            peer = .success(
                try await authenticate(gatewayHeader: request.headerFields[APIListenerKind.clientCertificate], controller: controller))
        } catch let e as ControllerError {
            peer = .failure(e)
        } catch {
            peer = .failure(.forbidden("\(error)", underlying: error))
        }
        return .upgrade([:]) { inbound, outbound, _ in
            switch peer {
            case .failure(let e):
                logger.warning("node session refused", metadata: ["reason": "\(e.description)"])
                try? await outbound.write(.text(SessionMessage.error(message: e.description).frameText(JSONEncoder())))
                try? await outbound.close(.policyViolation, reason: nil)
            case .success(let node):
                let admitted = openSessions.withLock { o -> Bool in
                    guard o[node.nodeName, default: 0] < maxSessionsPerNode else { return false }
                    o[node.nodeName, default: 0] += 1
                    return true
                }
                guard admitted else {
                    let reason = "node \(node.nodeName) already has \(maxSessionsPerNode) sessions open"
                    logger.warning("node session refused", metadata: ["reason": "\(reason)"])
                    try? await outbound.write(.text(SessionMessage.error(message: reason).frameText(JSONEncoder())))
                    try? await outbound.close(.policyViolation, reason: nil)
                    return
                }
                defer {
                    openSessions.withLock { o in
                        o[node.nodeName, default: 1] -= 1; if o[node.nodeName] == 0 { o[node.nodeName] = nil }
                    }
                }
                await run(node: node, inbound: inbound, outbound: outbound, controller: controller, logger: logger)
            }
        }
    }

    /// The certificate the gateway verified in its handshake (base64 DER), checked again here
    /// exactly as a TLS peer's: the gateway vouches for possession of the key, not for the rest.
    static func authenticate(gatewayHeader: String?, controller: Controller) async throws -> VerifiedNode {
        guard let gatewayHeader else {
            throw ControllerError.forbidden(
                "a node session needs a client certificate from the cluster CA, presented to the gateway (join the node first)")
        }
        guard let der = Data(base64Encoded: gatewayHeader) else {
            throw ControllerError.forbidden("X-Aegis-Gateway-Client-Certificate: not base64 DER")
        }
        return try await authenticate(der: Array(der), controller: controller)
    }

    static func authenticate(der: [UInt8], controller: Controller) async throws -> VerifiedNode {
        let authority = try await controller.clusterAuthority()
        let verified: VerifiedNode
        do {
            verified = try authority.ca.verifier.verifyNodeCertificate(der: der, purpose: .clientAuth)
        } catch {
            throw ControllerError.forbidden("client certificate refused: \(error)", underlying: error)
        }
        try await authority.authorize(peer: verified)
        guard verified.role == .worker || verified.role == .hybrid else {
            throw ControllerError.forbidden(
                "node \(verified.nodeName) has role \(verified.role.rawValue); only worker and hybrid nodes open sessions")
        }
        return verified
    }

    static func run(
        node peer: VerifiedNode, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        controller: Controller, logger: Logger
    ) async {
        let name = peer.nodeName
        let (outgoing, queue) = AsyncStream<SessionMessage>.makeStream()
        let link = RemoteWorkerLink(
            node: name, lease: controller.leaseTerms, send: { queue.yield($0) },
            onClose: { reason in
                queue.yield(.error(message: reason))
                queue.finish()
            })
        await withTaskGroup(of: Void.self) { group in
            group.addTask {  // the only writer
                let encoder = JSONEncoder()
                for await m in outgoing {
                    do { try await outbound.write(.text(m.frameText(encoder))) } catch { break }
                    if m.kind == .error { try? await outbound.close(.normalClosure, reason: nil); break }
                }
            }
            var registered = false
            do {
                let decoder = JSONDecoder()  // one per session: frames are read one after another
                for try await message in inbound.messages(maxSize: NodeSession.maxFrameBytes) {
                    guard case .text(let text) = message else { continue }
                    let m: SessionMessage
                    do { m = try SessionMessage(frameText: text, decoder) } catch {
                        link.close(reason: "not a node protocol message: \(error)")
                        break
                    }
                    if !registered {
                        guard case .hello(let version, var info) = m else {
                            link.close(reason: "the first message of a session must be hello with the node")
                            break
                        }
                        guard version == NodeSession.version else {
                            link.close(
                                reason: "node protocol version \(version) is not supported (controller speaks \(NodeSession.version))")
                            break
                        }
                        guard info.name == name else {
                            link.close(reason: "hello names node \(info.name), but the client certificate is node \(name)'s")
                            break
                        }
                        info.role = peer.role
                        do { try await controller.attach(node: info, link: link) } catch {
                            link.close(reason: "registration failed: \(error)")
                            break
                        }
                        registered = true
                        logger.info("worker session open", metadata: ["node": "\(name)"])
                        continue
                    }
                    switch m {
                    case let .renew(seq, node, capacity):
                        let state = await controller.renewLease(node: name, capacity: capacity, capabilities: node?.capabilities)
                        queue.yield(.renewed(seq: seq, state: state?.condition ?? .unknown))
                    case .event(let e):
                        await controller.handle(e, from: name)
                    case let .reply(seq, r):
                        link.deliver(seq: seq, reply: r)
                    case let .renewCertificate(seq, csrPEM):
                        do {
                            let issued = try await controller.renew(verifiedNode: peer, csrPEM: csrPEM)
                            queue.yield(.certificate(seq: seq, .issued(pem: issued.certificatePEM)))
                        } catch {
                            queue.yield(.certificate(seq: seq, .refused(reason: "\(error)")))
                        }
                    default:
                        link.close(reason: "unexpected \(m.kind.rawValue) from a worker")
                    }
                }
            } catch {
                link.close(reason: "reading the session failed: \(error)")
            }
            link.close(reason: "the worker closed the session")  // ends the writer once it has sent what is queued (a refusal's reason)
            if registered { await controller.detach(node: name, link: link) }
            await group.waitForAll()
        }
    }
}
