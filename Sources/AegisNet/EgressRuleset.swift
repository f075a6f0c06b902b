// EgressRuleset.swift — the nft scripts of the egress policy. AEGIS owns two tables and nothing else
// in the host firewall: `inet aegis` (forward/input/output filters, source NAT) and `bridge aegis`
// (no frame between two sandbox ports). A sandbox's traffic is dispatched by its address through
// the verdict maps `sandboxes` (from it) and `replies` (to it) to its own chains, named after its
// host-side interface (`aegv…` and `aegv…_in`):
//
//   a flow of this sandbox (conntrack mark = its tag)              → accept
//   any other established flow (a previous holder of the address)  → drop
//   always denied (loopback, link-local/metadata, multicast, reserved) → reject
//   node's own addresses (+ operator --egress-deny), the subnet     → reject
//   upstream nameservers, port 53                                  → mark, accept
//   the manifest's allowlist entries                               → mark, accept
//   not globally reachable (RFC 1918, CGNAT, TEST-NETs, …)          → reject
//   anything else (public)                                         → mark, accept
//
// Nothing new may enter a sandbox, neither forwarded nor from the node itself (output chain):
// only replies of its own flows (same conntrack mark) and ICMP errors pass. The per-sandbox mark
// means an address handed to a new sandbox doesn't inherit the old one's conntrack entries.
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
    /// `denied`: the node's own addresses and operator-denied networks.
    public static func base(
        bridge: String, subnet: IPv4Network, denied: [IPv4Network], sandboxes: [SandboxRules],
        portPrefix: String
    ) -> String {
        let deniedSet = denied.isEmpty ? "" : " elements = { \(elements(denied)) };"
        var s = """
            add table inet \(table)
            delete table inet \(table)
            add table bridge \(table)
            delete table bridge \(table)
            table inet \(table) {
              set always_denied { type ipv4_addr; flags interval; elements = { \(elements(SpecialAddresses.alwaysDenied.map(\.network))) }; }
              set non_public { type ipv4_addr; flags interval; elements = { \(elements(SpecialAddresses.nonPublic.map(\.network))) }; }
              set node_addresses { type ipv4_addr; flags interval; auto-merge;\(deniedSet) }
              map sandboxes { type ipv4_addr : verdict; }
              map replies { type ipv4_addr : verdict; }
              chain forward {
                type filter hook forward priority filter; policy accept;
                oifname "\(bridge)" ip daddr vmap @replies
                oifname "\(bridge)" drop
                iifname "\(bridge)" meta nfproto ipv6 drop
                iifname "\(bridge)" ip saddr vmap @sandboxes
                iifname "\(bridge)" drop
              }
              chain input {
                type filter hook input priority filter; policy accept;
                iifname "\(bridge)" ct state established,related accept
                iifname "\(bridge)" \(reject)
              }
              chain output {
                type filter hook output priority filter; policy accept;
                oifname "\(bridge)" ct state established,related accept
                oifname "\(bridge)" icmp type { destination-unreachable, time-exceeded, parameter-problem } accept
                oifname "\(bridge)" drop
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
        for sb in sandboxes { s += addSandbox(sb, subnet: subnet) }
        return s
    }

    /// One sandbox's policy inputs.
    public struct SandboxRules: Sendable {
        public var ifname: String
        public var address: IPv4Address
        /// Conntrack mark of this sandbox's flows (nonzero, fresh per attachment).
        public var tag: UInt32
        public var allow: [ResolvedAllow]
        public var nameservers: [IPv4Address]

        public init(ifname: String, address: IPv4Address, tag: UInt32, allow: [ResolvedAllow], nameservers: [IPv4Address]) {
            self.ifname = ifname
            self.address = address
            self.tag = tag
            self.allow = allow
            self.nameservers = nameservers
        }
    }

    /// The chains of one sandbox and its verdict-map elements.
    public static func addSandbox(_ sb: SandboxRules, subnet: IPv4Network) -> String {
        let c = "inet \(table) \(sb.ifname)", cin = "inet \(table) \(sb.ifname)_in"
        let mark = "0x" + String(sb.tag, radix: 16)
        let accept = "ct mark set \(mark) accept"
        var s = "add chain \(c)\n"
        s += "add rule \(c) ct state established,related ct mark \(mark) accept\n"
        s += "add rule \(c) ct state established,related drop\n"
        s += "add rule \(c) ip daddr @always_denied \(reject)\n"
        s += "add rule \(c) ip daddr @node_addresses \(reject)\n"
        s += "add rule \(c) ip daddr \(subnet) \(reject)\n"
        if !sb.nameservers.isEmpty {
            let set = "{ \(sb.nameservers.map(\.description).joined(separator: ", ")) }"
            s += "add rule \(c) ip daddr \(set) meta l4proto { tcp, udp } th dport 53 \(accept)\n"
        }
        for a in sb.allow { s += "add rule \(c) \(match(a)) \(accept)\n" }
        s += "add rule \(c) ip daddr @non_public \(reject)\n"
        s += "add rule \(c) \(accept)\n"
        s += "add chain \(cin)\n"
        s += "add rule \(cin) ct state established,related ct mark \(mark) accept\n"
        s += "add rule \(cin) drop\n"
        s += "add element inet \(table) sandboxes { \(sb.address) : jump \(sb.ifname) }\n"
        s += "add element inet \(table) replies { \(sb.address) : jump \(sb.ifname)_in }\n"
        return s
    }

    /// Removes a sandbox's elements and chains (one transaction).
    public static func removeSandbox(ifname: String, address: IPv4Address) -> String {
        """
        delete element inet \(table) sandboxes { \(address) }
        delete element inet \(table) replies { \(address) }
        flush chain inet \(table) \(ifname)
        delete chain inet \(table) \(ifname)
        flush chain inet \(table) \(ifname)_in
        delete chain inet \(table) \(ifname)_in

        """
    }

    /// Replaces the node-address set (addresses change with DHCP, new interfaces).
    public static func setNodeAddresses(_ denied: [IPv4Network]) -> String {
        var s = "flush set inet \(table) node_addresses\n"
        if !denied.isEmpty { s += "add element inet \(table) node_addresses { \(elements(denied)) }\n" }
        return s
    }

    /// Removes both tables (node shutdown with no egress agent left).
    public static func teardown() -> String {
        "add table inet \(table)\ndelete table inet \(table)\nadd table bridge \(table)\ndelete table bridge \(table)\n"
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
