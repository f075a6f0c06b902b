// EgressRuleset.swift — the nft scripts of the egress policy. AEGIS owns two tables and nothing else
// in the host firewall: `inet aegis` (forward filter, input filter, source NAT) and `bridge aegis`
// (no frame between two sandbox ports). A sandbox's traffic is dispatched by its source address
// through the verdict map `sandboxes` to its own chain, named after its host-side interface:
//
//   always denied (loopback, link-local/metadata, multicast, reserved) → reject
//   node's own addresses, the sandbox subnet                         → reject
//   upstream nameservers, port 53                                   → accept
//   the manifest's allowlist entries                                → accept
//   not globally reachable (RFC 1918, CGNAT, TEST-NETs, …)           → reject
//   anything else (public)                                          → accept
//
// Nothing new may enter a sandbox; replies pass through conntrack (ct state established,related).
import AegisProtocol

/// A destination the sandbox may reach, after host names were resolved.
public struct ResolvedAllow: Codable, Sendable, Equatable {
    /// CIDR text ("10.20.0.0/16").
    public var network: String
    public var ports: ClosedRange<UInt16>?
    /// "tcp", "udp"; nil = both (with ports) or any protocol (without).
    public var proto: String?

    public init(network: IPv4Network, ports: ClosedRange<UInt16>?, proto: EgressProtocol?) {
        self.network = network.description
        self.ports = ports
        self.proto = proto?.rawValue
    }
}

public enum EgressRuleset {
    public static let table = "aegis"
    /// Reject so a refused connection fails at once (ECONNREFUSED-like), not after a timeout.
    static let reject = "reject with icmpx admin-prohibited"

    static func elements(_ nets: [IPv4Network]) -> String { nets.map(\.description).joined(separator: ", ") }

    /// The whole ruleset: both tables recreated atomically, with the chains of `sandboxes` (so a
    /// node restart rebuilds its policy without a gap for the sandboxes it re-adopts).
    public static func base(bridge: String, subnet: IPv4Network, nodeAddresses: [IPv4Address],
                            sandboxes: [(ifname: String, address: IPv4Address, allow: [ResolvedAllow], nameservers: [IPv4Address])],
                            portPrefix: String) -> String {
        let nodeSet = nodeAddresses.isEmpty ? "" : " elements = { \(nodeAddresses.map(\.description).joined(separator: ", ")) };"
        var s = """
        add table inet \(table)
        delete table inet \(table)
        add table bridge \(table)
        delete table bridge \(table)
        table inet \(table) {
          set always_denied { type ipv4_addr; flags interval; elements = { \(elements(SpecialAddresses.alwaysDenied.map(\.network))) }; }
          set non_public { type ipv4_addr; flags interval; elements = { \(elements(SpecialAddresses.nonPublic.map(\.network))) }; }
          set node_addresses { type ipv4_addr;\(nodeSet) }
          map sandboxes { type ipv4_addr : verdict; }
          chain forward {
            type filter hook forward priority filter; policy accept;
            oifname "\(bridge)" ct state established,related accept
            oifname "\(bridge)" drop
            iifname "\(bridge)" ct state established,related accept
            iifname "\(bridge)" meta nfproto ipv6 drop
            iifname "\(bridge)" ip saddr vmap @sandboxes
            iifname "\(bridge)" drop
          }
          chain input {
            type filter hook input priority filter; policy accept;
            iifname "\(bridge)" ct state established,related accept
            iifname "\(bridge)" \(reject)
          }
          chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            ip saddr \(subnet) oifname != "\(bridge)" masquerade
          }
        }
        table bridge \(table) {
          chain forward {
            type filter hook forward priority filter; policy accept;
            iifname "\(portPrefix)*" oifname "\(portPrefix)*" drop
          }
        }

        """
        for sb in sandboxes {
            s += addSandbox(ifname: sb.ifname, address: sb.address, subnet: subnet, allow: sb.allow, nameservers: sb.nameservers)
        }
        return s
    }

    /// The chain of one sandbox and its verdict-map element.
    public static func addSandbox(ifname: String, address: IPv4Address, subnet: IPv4Network, allow: [ResolvedAllow],
                                  nameservers: [IPv4Address]) -> String {
        let c = "inet \(table) \(ifname)"
        var s = "add chain \(c)\n"
        s += "add rule \(c) ip daddr @always_denied \(reject)\n"
        s += "add rule \(c) ip daddr @node_addresses \(reject)\n"
        s += "add rule \(c) ip daddr \(subnet) \(reject)\n"
        if !nameservers.isEmpty {
            let set = "{ \(nameservers.map(\.description).joined(separator: ", ")) }"
            s += "add rule \(c) ip daddr \(set) meta l4proto { tcp, udp } th dport 53 accept\n"
        }
        for a in allow { s += "add rule \(c) \(match(a)) accept\n" }
        s += "add rule \(c) ip daddr @non_public \(reject)\n"
        s += "add rule \(c) accept\n"
        s += "add element inet \(table) sandboxes { \(address) : jump \(ifname) }\n"
        return s
    }

    /// Removes a sandbox's element and chain (one transaction).
    public static func removeSandbox(ifname: String, address: IPv4Address) -> String {
        "delete element inet \(table) sandboxes { \(address) }\nflush chain inet \(table) \(ifname)\ndelete chain inet \(table) \(ifname)\n"
    }

    /// Replaces the node-address set (addresses change with DHCP, new interfaces).
    public static func setNodeAddresses(_ addrs: [IPv4Address]) -> String {
        var s = "flush set inet \(table) node_addresses\n"
        if !addrs.isEmpty { s += "add element inet \(table) node_addresses { \(addrs.map(\.description).joined(separator: ", ")) }\n" }
        return s
    }

    static func match(_ a: ResolvedAllow) -> String {
        var m = "ip daddr \(a.network)"
        let portText = a.ports.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        switch (a.proto, portText) {
        case (let p?, let ports?): m += " \(p) dport \(ports)"
        case (let p?, nil): m += " meta l4proto \(p)"
        case (nil, let ports?): m += " meta l4proto { tcp, udp } th dport \(ports)"
        case (nil, nil): break
        }
        return m
    }
}
