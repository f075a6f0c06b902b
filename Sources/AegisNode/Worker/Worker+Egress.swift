// Worker+Egress.swift — network mode `egress` on the worker: node setup (AegisNet.EgressNetwork)
// and the per-sandbox attachment (allowlist resolved at start, namespace joined by the sandbox).
#if canImport(Glibc)
import Glibc
#endif
import AegisNet
import AegisProtocol
import AegisSandbox
import Logging

extension Worker {
    static func setUpEgress(
        _ config: EgressConfig?, runtime: SandboxRuntime, logger: Logger
    )
        -> (EgressNetwork?, NetworkCapability)
    {
        guard let config else {
            return (nil, NetworkCapability(egress: false, egressProblem: "egress is not enabled on this node (aegis up --egress)"))
        }
        do {
            let net = try EgressNetwork(config: config) { sid in
                guard let record = try? runtime.record(sid) else { return false }
                return runtime.status(record) != .stopped
            }
            logger.info(
                "egress ready",
                metadata: [
                    "bridge": "\(config.bridge)", "subnet": "\(net.subnet)",
                    "slots": "\(net.slots)", "re-adopted": "\(net.attached.count)",
                    "nameservers": "\(net.nameservers.map(\.description).joined(separator: " "))",
                ])
            for sid in net.lost {
                // Its veth is gone or its address is outside the subnet now: it has no way out,
                // so it is stopped and its restart policy decides (it'd otherwise run cut off).
                logger.warning("egress agent lost its network across the restart; stopping it", metadata: ["sandbox": "\(sid)"])
                try? runtime.kill(sid, signal: SIGKILL)
            }
            if net.nameservers.isEmpty {
                logger.warning(
                    "egress agents get no DNS: the host lists no non-loopback IPv4 nameserver (/etc/resolv.conf, /run/systemd/resolve/resolv.conf)"
                )
            }
            return (net, net.capability)
        } catch {
            logger.error("egress unavailable", metadata: ["error": "\(error)"])
            return (nil, NetworkCapability(egress: false, egressProblem: "\(error)", reach: config.reach))
        }
    }

    /// For a workload with network `egress`: its address, namespace and nft chain (nil otherwise).
    /// Host names in the allowlist are resolved now, when the agent starts.
    /// - Throws: `SandboxError(.unsupported)` when this node has no egress; `EgressEntryError`,
    ///   `NetError`, `NftError` from the allowlist and setup.
    func attachEgress(_ w: Workload, sandboxID id: String) throws -> EgressAttachment? {
        guard w.spec.network == .egress else { return nil }
        guard let egress else {
            throw SandboxError(.unsupported, "network egress: \(networkCapability.egressProblem ?? "not available on this node")")
        }
        let entries = try (w.spec.egress?.allow ?? []).map { text throws in try EgressAllowEntry(parsing: text) }
        return try egress.attach(sandbox: id, allow: try EgressNetwork.resolve(entries))
    }
}
