// NodeConfiguration+Egress.swift — the egress flags (--egress, --egress-subnet, --egress-bridge,
// --egress-deny, --reach): all of them need --egress; subnets, bridge names and reach labels are
// checked before anything touches the host.
import AegisNet
import AegisProtocol

extension NodeConfiguration {
    /// The egress network, nil without --egress.
    /// - Throws: `NodeConfigurationError` naming the flag.
    static func egressConfig(_ f: NodeFlags, stateDir: String) throws -> EgressConfig? {
        guard f.egress else {
            let given = [
                ("--egress-subnet", f.egressSubnet != nil), ("--egress-bridge", f.egressBridge != nil),
                ("--egress-deny", !f.egressDeny.isEmpty), ("--reach", !f.reach.isEmpty),
            ]
            if let (flag, _) = given.first(where: { $0.1 }) {
                throw NodeConfigurationError(flag, "--egress-subnet, --egress-bridge, --egress-deny and --reach need --egress")
            }
            return nil
        }
        var subnet: IPv4Network?
        if let text = f.egressSubnet {
            guard let n = IPv4Network(text), n.prefix <= 30 else {
                throw NodeConfigurationError(
                    "--egress-subnet",
                    "--egress-subnet \(text): expected an IPv4 CIDR with zero host bits, /30 or wider (e.g. 10.213.0.0/16)")
            }
            if let d = SpecialAddresses.alwaysDenied.first(where: { $0.network.overlaps(n) }) {
                throw NodeConfigurationError(
                    "--egress-subnet",
                    "--egress-subnet \(text): overlaps \(d.network), \(d.name); choose a private range such as 10.213.0.0/16")
            }
            subnet = n
        }
        let bridge = f.egressBridge ?? "aegis0"
        guard EgressConfig.validInterfaceName(bridge) else {
            throw NodeConfigurationError(
                "--egress-bridge", "--egress-bridge \(bridge): an interface name of 1-15 letters, digits, '-', '_' or '.'")
        }
        for r in f.reach where !validReachLabel(r) {
            throw NodeConfigurationError(
                "--reach", "--reach \(r): 1-63 of lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
        }
        var denied: [IPv4Network] = []
        for d in f.egressDeny {
            guard let n = IPv4Network(d) else {
                throw NodeConfigurationError("--egress-deny", "--egress-deny \(d): expected an IPv4 address or CIDR with zero host bits")
            }
            denied.append(n)
        }
        return EgressConfig(bridge: bridge, subnet: subnet, reach: f.reach, stateDir: stateDir, denied: denied)
    }

    /// Reach labels as manifests accept them: 1-63 of [a-z0-9.-], alphanumeric at both ends.
    static func validReachLabel(_ r: String) -> Bool {
        guard (1...63).contains(r.count), let f = r.first, let l = r.last,
            f.isASCII && (f.isLowercase || f.isNumber), l.isASCII && (l.isLowercase || l.isNumber)
        else { return false }
        return r.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }
    }
}
