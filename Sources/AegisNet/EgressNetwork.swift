// EgressNetwork.swift — the node side of network mode `egress`: the bridge, address allocation in
// the node-local subnet, one held network namespace + veth + nft chain per sandbox, records on disk
// so a restarted node re-adopts live sandboxes and removes everything else.
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AegisProtocol
import Synchronization

/// Operator settings (`aegis up --egress --egress-subnet … --egress-bridge … --reach …`).
public struct EgressConfig: Sendable {
    public var bridge: String
    /// nil = the first of `autoSubnets` that overlaps no host route, address or nameserver.
    public var subnet: IPv4Network?
    public var reach: [String]
    /// Where per-sandbox records and resolv.conf files live (the worker's data dir).
    public var stateDir: String
    public var resolvConf: String
    public var resolvedUpstream: String
    /// Host-side interface name prefix; names are prefix + 8 hex digits of the address (≤ 15 bytes).
    public var portPrefix: String

    public static let autoSubnets = ["10.213.0.0/16", "172.29.0.0/16", "192.168.213.0/24"].map { IPv4Network($0)! }

    public init(bridge: String = "aegis0", subnet: IPv4Network? = nil, reach: [String] = [], stateDir: String,
                resolvConf: String = "/etc/resolv.conf", resolvedUpstream: String = "/run/systemd/resolve/resolv.conf",
                portPrefix: String = "aegv") {
        self.bridge = bridge
        self.subnet = subnet
        self.reach = reach
        self.stateDir = stateDir
        self.resolvConf = resolvConf
        self.resolvedUpstream = resolvedUpstream
        self.portPrefix = portPrefix
    }
}

/// What `attach` gives the sandbox: the namespace to join, its address and its resolv.conf.
public struct EgressAttachment: Sendable {
    public let netns: HeldNetns
    public let ifname: String
    public let address: IPv4Address
    /// Host path of the generated resolv.conf, bound read-only at /etc/resolv.conf.
    public let resolvConf: String
}

/// On-disk record of one attached sandbox (`<stateDir>/<sandbox id>.json`).
struct EgressRecord: Codable {
    var sandbox: String
    var ifname: String
    var address: IPv4Address
    var allow: [ResolvedAllow]
    var nameservers: [IPv4Address]
}

public final class EgressNetwork: Sendable {
    public let config: EgressConfig
    public let subnet: IPv4Network
    public let gateway: IPv4Address
    private let nft: Nftables
    private let host: Mutex<RouteSocketBox>
    private let bridgeIndex: Int32
    private let state = Mutex<(used: [IPv4Address: String], next: UInt32)>(([:], 0))
    private let resolvers: (nameservers: [IPv4Address], search: String?)

    private struct RouteSocketBox: @unchecked Sendable { let s: RouteSocket }

    /// Sets up the bridge (with the gateway address, first host of the subnet), forwarding and
    /// the `aegis` nft tables, re-adopting records whose sandbox `isLive` and removing the rest
    /// (veths, chains, records).
    /// - Throws: `NetError`/`NftError` naming the step that failed (the node then advertises no egress).
    public init(config: EgressConfig, isLive: (String) -> Bool) throws {
        self.config = config
        nft = try Nftables()
        let route = try RouteSocket()
        let resolvers = HostNet.upstreamResolvers(resolvConf: config.resolvConf, resolvedUpstream: config.resolvedUpstream)
        self.resolvers = resolvers
        let existing = try route.link(named: config.bridge)
        let addrs = try route.addresses()
        var chosen = config.subnet
        if chosen == nil, let b = existing, let a = addrs.first(where: { $0.index == b.index }) {
            chosen = IPv4Network(a.address, prefix: a.prefix)  // a restart keeps the subnet it chose before
        }
        if chosen == nil {
            let routes = try HostNet.routes()
            chosen = EgressConfig.autoSubnets.first { cand in
                !routes.contains { $0.network.overlaps(cand) } && !addrs.contains { cand.contains($0.address) }
                    && !resolvers.nameservers.contains { cand.contains($0) }
            }
            guard chosen != nil else {
                throw NetError("choose egress subnet", "\(EgressConfig.autoSubnets.map(\.description).joined(separator: ", ")) all overlap host routes; set --egress-subnet")
            }
        }
        let net = chosen!
        guard net.prefix <= 30 else { throw NetError("egress subnet \(net)", "needs at least /30 (network, gateway, one sandbox, broadcast)") }
        if let r = try HostNet.routes().first(where: { $0.network.overlaps(net) && $0.device != config.bridge }) {
            throw NetError("egress subnet \(net)", "overlaps host route \(r.network) dev \(r.device); choose another --egress-subnet")
        }
        subnet = net
        let gw = IPv4Address(net.address.value + 1)
        gateway = gw
        if existing == nil { try route.addBridge(config.bridge) }
        guard let bridge = try route.link(named: config.bridge) else { throw NetError("bridge \(config.bridge)", "missing after creation") }
        if !bridge.isUp { try route.setUp(index: bridge.index, name: config.bridge) }
        if !addrs.contains(where: { $0.index == bridge.index && $0.address == gw }) {
            try route.addAddress(index: bridge.index, gw, prefix: net.prefix, name: config.bridge)
        }
        bridgeIndex = bridge.index
        if !HostNet.forwarding() { try HostNet.enableForwarding() }
        host = Mutex(RouteSocketBox(s: route))
        try makeDir(config.stateDir)

        // Re-adopt live sandboxes; everything else of ours goes.
        var live: [EgressRecord] = []
        for name in listDir(config.stateDir) where name.hasSuffix(".json") {
            let path = config.stateDir + "/" + name
            guard let rec = try? JSONDecoder().decode(EgressRecord.self, from: Data(HostNet.readText(path).utf8)) else {
                unlink(path)
                continue
            }
            if isLive(rec.sandbox) && net.contains(rec.address) { live.append(rec) } else { removeFiles(rec.sandbox) }
        }
        let keep = Set(live.map(\.ifname))
        for l in try route.links() where l.name.hasPrefix(config.portPrefix) && l.master == bridge.index && !keep.contains(l.name) {
            try route.deleteLink(l.name)
        }
        try nft.run(EgressRuleset.base(bridge: config.bridge, subnet: net, nodeAddresses: try Self.nodeAddresses(route),
                                       sandboxes: live.map { ($0.ifname, $0.address, $0.allow, $0.nameservers) },
                                       portPrefix: config.portPrefix))
        state.withLock { s in for r in live { s.used[r.address] = r.sandbox } }
    }

    /// Upstream nameservers egress sandboxes get in their resolv.conf (empty: no DNS for them).
    public var nameservers: [IPv4Address] { resolvers.nameservers }

    /// Addresses egress sandboxes can get (subnet minus network, gateway and broadcast).
    public var slots: Int { Int(subnet.size) - 3 }

    public var capability: NetworkCapability {
        NetworkCapability(egress: true, subnet: subnet.description, egressSlots: slots, reach: config.reach)
    }

    /// Sandboxes holding an address now.
    public var attached: [String] { state.withLock { Array($0.used.values) } }

    static func nodeAddresses(_ route: RouteSocket) throws -> [IPv4Address] {
        Array(Set(try route.addresses().map(\.address))).sorted()
    }

    /// Resolves the allowlist (host names → their addresses now, each a /32).
    /// - Throws: `NetError` when a name doesn't resolve, `EgressEntryError` when it resolves to an
    ///   always-denied address.
    public static func resolve(_ entries: [EgressAllowEntry]) throws -> [ResolvedAllow] {
        var out: [ResolvedAllow] = []
        for e in entries {
            switch e.destination {
            case .network(let n): out.append(ResolvedAllow(network: n, ports: e.ports, proto: e.proto))
            case .host(let h):
                let addrs = try HostNet.resolve(h)
                guard !addrs.isEmpty else { throw NetError("resolve \(h)", "no IPv4 address") }
                for a in addrs {
                    let n = IPv4Network(a, prefix: 32)
                    if let d = SpecialAddresses.alwaysDeniedRange(containing: n) {
                        throw EgressEntryError(entry: e.description, problem: "\(h) resolves to \(a), in \(d.network) (\(d.name)), which an egress agent can never reach")
                    }
                    out.append(ResolvedAllow(network: n, ports: e.ports, proto: e.proto))
                }
            }
        }
        return out
    }

    /// Gives sandbox `id` an address, a held namespace with eth0 (address, default route via the
    /// bridge) and its nft chain. On failure nothing is left behind.
    /// - Throws: `NetError` (no free address: errno ENOSPC; netlink steps), `NftError`.
    public func attach(sandbox id: String, allow: [ResolvedAllow]) throws -> EgressAttachment {
        let address: IPv4Address = try state.withLock { s in
            let count = UInt32(slots)
            for i in 0..<count {
                let a = IPv4Address(subnet.address.value + 2 + (s.next + i) % count)
                if s.used[a] == nil {
                    s.used[a] = id
                    s.next = (s.next + i + 1) % count  // next-fit: a freed address is reused last
                    return a
                }
            }
            throw NetError("allocate egress address for \(id)", errno: ENOSPC, "all \(slots) addresses of \(subnet) are in use")
        }
        let ifname = config.portPrefix + String(address.value, radix: 16).leftPadded(8)
        var undo: [() -> Void] = [{ self.state.withLock { _ = $0.used.removeValue(forKey: address) } }]
        do {
            let ns = try HeldNetns.create()
            try host.withLock { h in
                do {
                    try h.s.addVeth(host: ifname, peer: "eth0", peerNetnsFd: ns.fd, master: bridgeIndex)
                } catch let e as NetError where e.errno == EEXIST {
                    // The previous holder's pair, not yet removed by the kernel's namespace cleanup.
                    try h.s.deleteLink(ifname)
                    try h.s.addVeth(host: ifname, peer: "eth0", peerNetnsFd: ns.fd, master: bridgeIndex)
                }
                undo.append { _ = try? self.host.withLock { try $0.s.deleteLink(ifname) } }
            }
            guard let eth0 = try ns.route.link(named: "eth0") else { throw NetError("eth0 in \(id)", errno: ENODEV) }
            try ns.route.addAddress(index: eth0.index, address, prefix: subnet.prefix, name: "eth0")
            try ns.route.setUp(index: eth0.index, name: "eth0")
            try ns.route.addDefaultRoute(via: gateway, index: eth0.index)
            let rec = EgressRecord(sandbox: id, ifname: ifname, address: address, allow: allow, nameservers: resolvers.nameservers)
            try writeFile(recordPath(id), Array(try JSONEncoder().encode(rec)))
            undo.append { self.removeFiles(id) }
            var resolv = resolvers.nameservers.map { "nameserver \($0)\n" }.joined()
            if let s = resolvers.search { resolv += "search \(s)\n" }
            try writeFile(resolvPath(id), Array(resolv.utf8))
            let addrs = try host.withLock { try Self.nodeAddresses($0.s) }
            try nft.run(EgressRuleset.setNodeAddresses(addrs)
                        + EgressRuleset.addSandbox(ifname: ifname, address: address, subnet: subnet, allow: allow,
                                                   nameservers: resolvers.nameservers))
            return EgressAttachment(netns: ns, ifname: ifname, address: address, resolvConf: resolvPath(id))
        } catch {
            for u in undo.reversed() { u() }
            throw error
        }
    }

    /// Removes sandbox `id`'s chain, address and files; a no-op when it has none. The veth pair
    /// is not deleted here: it goes with the sandbox's namespace, which the kernel destroys once
    /// its last process exits and no descriptor holds it (an explicit RTM_DELLINK would wait for
    /// the device unregistration, ~15-40 ms). `attach` replaces a pair the kernel hasn't removed
    /// yet; a restart deletes strays.
    public func detach(sandbox id: String) {
        guard let rec = try? JSONDecoder().decode(EgressRecord.self, from: Data(HostNet.readText(recordPath(id)).utf8)) else {
            state.withLock { s in for (a, sid) in s.used where sid == id { s.used[a] = nil } }
            return
        }
        _ = try? nft.run(EgressRuleset.removeSandbox(ifname: rec.ifname, address: rec.address))
        removeFiles(id)
        state.withLock { s in if s.used[rec.address] == id { s.used[rec.address] = nil } }
    }

    /// The ruleset as nft prints it (for tests and `describe`).
    public func listRuleset() throws -> String { try nft.run("list table inet \(EgressRuleset.table)") }

    func recordPath(_ id: String) -> String { config.stateDir + "/" + id + ".json" }
    func resolvPath(_ id: String) -> String { config.stateDir + "/" + id + ".resolv.conf" }
    func removeFiles(_ id: String) {
        unlink(recordPath(id))
        unlink(resolvPath(id))
    }
}

func makeDir(_ path: String) throws {
    var p = ""
    for part in path.split(separator: "/") {
        p += "/" + part
        if mkdir(p, 0o711) != 0 && errno != EEXIST { throw NetError("mkdir \(p)", errno: errno) }
    }
}

func listDir(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out
}

/// Writes via a temporary file and rename(2): readers never see half a file.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
    guard fd >= 0 else { throw NetError("open \(tmp)", errno: errno) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard n == bytes.count else { unlink(tmp); throw NetError("write \(tmp)", errno: errno) }
    guard rename(tmp, path) == 0 else { unlink(tmp); throw NetError("rename \(tmp)", errno: errno) }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
