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
import AegisSystem

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
    /// Networks egress agents may never reach besides the node's own addresses: the node's public
    /// (1:1 NAT, elastic) addresses, other nodes, management networks (`--egress-deny`).
    public var denied: [IPv4Network]
    /// Directory of the per-namespace ownership lock (one egress node per network namespace).
    public var lockDir: String

    public static let autoSubnets = ["10.213.0.0/16", "172.29.0.0/16", "192.168.213.0/24"].map { IPv4Network($0)! }

    public init(
        bridge: String = "aegis0", subnet: IPv4Network? = nil, reach: [String] = [], stateDir: String,
        resolvConf: String = "/etc/resolv.conf", resolvedUpstream: String = "/run/systemd/resolve/resolv.conf",
        portPrefix: String = "aegv", denied: [IPv4Network] = [], lockDir: String = "/run/aegis"
    ) {
        self.bridge = bridge
        self.subnet = subnet
        self.reach = reach
        self.stateDir = stateDir
        self.resolvConf = resolvConf
        self.resolvedUpstream = resolvedUpstream
        self.portPrefix = portPrefix
        self.denied = denied
        self.lockDir = lockDir
    }

    /// Whether `name` can be the bridge: 1-15 bytes of letters, digits, '-', '_', '.'.
    public static func validInterfaceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 15 && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
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
    var address: IPv4Address
    /// Conntrack mark of the sandbox's flows.
    var tag: UInt32
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
    /// Addresses in use (→ sandbox id), the next-fit cursor, and the denied set last given to nft.
    private let state = Mutex<(used: [IPv4Address: String], next: UInt32, denied: [IPv4Network])>(([:], 0, []))
    private let resolvers: (nameservers: [IPv4Address], search: String?)
    private let lockFD: Int32
    /// Live sandboxes whose network could not be re-adopted (their veth is gone, or their address
    /// is outside the current subnet): they have no way out any more and should be stopped.
    public let lost: [String]

    private struct RouteSocketBox: @unchecked Sendable { let s: RouteSocket }

    deinit { close(lockFD) }

    /// Takes the lock that makes this node the only egress owner of the caller's network
    /// namespace (`<lockDir>/egress-<netns inode>.lock`, flock).
    /// - Throws: `NetError` naming the other owner's pid.
    static func lockNamespace(_ dir: String) throws -> Int32 {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { throw NetError("stat /proc/thread-self/ns/net", errno: errno) }
        try FileSystem.makeDirectories(dir, mode: 0o711)
        let path = dir + "/egress-\(st.st_ino).lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NetError("open \(path)", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let owner = (try? HostNet.readText(path))?.trimmingTrailingNewlines() ?? "?"
            close(fd)
            throw NetError(
                "egress lock \(path)",
                "another AEGIS node (pid \(owner)) owns egress in this network namespace (bridge, nft tables inet/bridge aegis)")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        return fd
    }

    /// Sets up the bridge (with the gateway address, first host of the subnet), forwarding and
    /// the `aegis` nft tables, re-adopting records whose sandbox `isLive` and removing the rest
    /// (veths, chains, records).
    /// - Throws: `NetError`/`NftError` naming the step that failed (the node then advertises no egress).
    public init(config: EgressConfig, isLive: (String) -> Bool) throws {
        self.config = config
        guard EgressConfig.validInterfaceName(config.bridge) else {
            throw NetError("egress bridge \"\(config.bridge)\"", "an interface name of 1-15 letters, digits, '-', '_' or '.'")
        }
        nft = try Nftables()
        lockFD = try Self.lockNamespace(config.lockDir)
        var created = false
        let route = try RouteSocket()
        do {
            let resolvers = HostNet.upstreamResolvers(resolvConf: config.resolvConf, resolvedUpstream: config.resolvedUpstream)
            self.resolvers = resolvers
            let existing = try route.link(named: config.bridge)
            if let b = existing, b.kind != "bridge" {
                throw NetError(
                    "egress bridge \(config.bridge)",
                    "an interface of that name exists and is not a bridge (kind \"\(b.kind.isEmpty ? "device" : b.kind)\"); choose another --egress-bridge"
                )
            }
            let addrs = try route.addresses()
            let routes = try HostNet.routes()
            var chosen = config.subnet
            if chosen == nil, let b = existing, let a = addrs.first(where: { $0.index == b.index }) {
                chosen = IPv4Network(a.address, prefix: a.prefix)  // a restart keeps the subnet it chose before
            }
            if chosen == nil {
                chosen = EgressConfig.autoSubnets.first { cand in
                    !routes.contains { $0.network.overlaps(cand) } && !addrs.contains { cand.contains($0.address) }
                        && !resolvers.nameservers.contains { cand.contains($0) }
                }
                guard chosen != nil else {
                    throw NetError(
                        "choose egress subnet",
                        "\(EgressConfig.autoSubnets.map(\.description).joined(separator: ", ")) all overlap host routes; set --egress-subnet"
                    )
                }
            }
            let net = chosen!
            try Self.check(
                subnet: net, routes: routes, addresses: addrs, bridgeIndex: existing?.index,
                nameservers: resolvers.nameservers, bridge: config.bridge)
            subnet = net
            let gw = IPv4Address(net.address.value + 1)
            gateway = gw
            if existing == nil {
                try route.addBridge(config.bridge)
                created = true
            }
            guard let bridge = try route.link(named: config.bridge) else {
                throw NetError("bridge \(config.bridge)", "missing after creation")
            }
            if !bridge.isUp { try route.setUp(index: bridge.index, name: config.bridge) }
            for a in addrs where a.index == bridge.index && !(a.address == gw && a.prefix == net.prefix) {
                // an earlier subnet's gateway
                try route.deleteAddress(index: bridge.index, a.address, prefix: a.prefix, name: config.bridge)
            }
            if !addrs.contains(where: { $0.index == bridge.index && $0.address == gw && $0.prefix == net.prefix }) {
                try route.addAddress(index: bridge.index, gw, prefix: net.prefix, name: config.bridge)
            }
            bridgeIndex = bridge.index
            if !HostNet.forwarding() { try HostNet.enableForwarding() }
            try FileSystem.makeDirectories(config.stateDir, mode: 0o711)

            // Re-adopt live sandboxes whose veth is still on the bridge; everything else of ours goes.
            let links = try route.links()
            var live: [EgressRecord] = [], lost: [String] = []
            for name in (try? FileManager.default.contentsOfDirectory(atPath: config.stateDir)) ?? [] where name.hasSuffix(".json") {
                let path = config.stateDir + "/" + name
                guard let rec = try? JSONDecoder().decode(EgressRecord.self, from: Data(FileSystem.readBytes(path))) else {
                    unlink(path)
                    continue
                }
                let alive = isLive(rec.sandbox)
                let ifname = Self.ifname(config.portPrefix, rec.address)
                if alive && net.contains(rec.address) && rec.address != gw
                    && links.contains(where: { $0.name == ifname && $0.master == bridge.index })
                {
                    live.append(rec)
                } else {
                    if alive { lost.append(rec.sandbox) }
                    unlink(config.stateDir + "/" + rec.sandbox + ".json")
                    unlink(config.stateDir + "/" + rec.sandbox + ".resolv.conf")
                }
            }
            self.lost = lost
            let keep = Set(live.map { Self.ifname(config.portPrefix, $0.address) })
            for l in links where l.name.hasPrefix(config.portPrefix) && l.master == bridge.index && !keep.contains(l.name) {
                try route.deleteLink(l.name)
            }
            let denied = try Self.denied(route, extra: config.denied)
            try nft.run(
                EgressRuleset.base(
                    bridge: config.bridge, subnet: net, denied: denied,
                    sandboxes: live.map {
                        EgressRuleset.SandboxRules(
                            ifname: Self.ifname(config.portPrefix, $0.address),
                            address: $0.address, tag: $0.tag,
                            allow: $0.allow, nameservers: $0.nameservers)
                    },
                    portPrefix: config.portPrefix))
            host = Mutex(RouteSocketBox(s: route))
            state.withLock { s in
                for r in live { s.used[r.address] = r.sandbox }
                s.denied = denied
            }
        } catch {
            if created { _ = try? route.deleteLink(config.bridge) }
            close(lockFD)
            throw error
        }
    }

    /// An explicit or chosen subnet must not hold always-denied addresses, the host's nameservers
    /// or addresses, nor overlap a route other than the bridge's own.
    static func check(
        subnet net: IPv4Network, routes: [(network: IPv4Network, device: String)],
        addresses: [(index: Int32, address: IPv4Address, prefix: Int)], bridgeIndex: Int32?,
        nameservers: [IPv4Address], bridge: String
    ) throws {
        let op = "egress subnet \(net)"
        guard net.prefix <= 30 else { throw NetError(op, "needs at least /30 (network, gateway, one sandbox, broadcast)") }
        if let d = SpecialAddresses.alwaysDenied.first(where: { $0.network.overlaps(net) }) {
            throw NetError(op, "overlaps \(d.network), \(d.name); choose a private range such as 10.213.0.0/16")
        }
        if let r = routes.first(where: { $0.network.overlaps(net) && $0.device != bridge }) {
            throw NetError(op, "overlaps host route \(r.network) dev \(r.device); choose another --egress-subnet")
        }
        if let a = addresses.first(where: { net.contains($0.address) && $0.index != bridgeIndex }) {
            throw NetError(op, "contains this host's address \(a.address); choose another --egress-subnet")
        }
        if let n = nameservers.first(where: { net.contains($0) }) {
            throw NetError(op, "contains the host's nameserver \(n); choose another --egress-subnet")
        }
    }

    /// The node's own addresses (as /32) plus the operator's denied networks, without overlaps.
    static func denied(_ route: RouteSocket, extra: [IPv4Network]) throws -> [IPv4Network] {
        var out = extra
        for a in Set(try route.addresses().map(\.address)).sorted() {
            let n = IPv4Network(a, prefix: 32)
            if !out.contains(where: { $0.contains(n) }) { out.append(n) }
        }
        return out.sorted { $0.address < $1.address }
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
                        throw EgressEntryError(
                            entry: e.description,
                            problem: "\(h) resolves to \(a), in \(d.network) (\(d.name)), which an egress agent can never reach")
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
        let ifname = Self.ifname(config.portPrefix, address)
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
            let tag = UInt32.random(in: 1...UInt32.max)
            let rec = EgressRecord(sandbox: id, address: address, tag: tag, allow: allow, nameservers: resolvers.nameservers)
            try FileSystem.writeAtomically(recordPath(id), Array(try JSONEncoder().encode(rec)), syncDirectory: false)
            undo.append { self.removeFiles(id) }
            var resolv = resolvers.nameservers.map { "nameserver \($0)\n" }.joined()
            if let s = resolvers.search { resolv += "search \(s)\n" }
            try FileSystem.writeAtomically(resolvPath(id), Array(resolv.utf8), syncDirectory: false)
            // The node's addresses can change (DHCP, new interfaces): the set is rewritten only then.
            let denied = try host.withLock { try Self.denied($0.s, extra: config.denied) }
            let changed = state.withLock { s in
                defer { s.denied = denied }
                return s.denied != denied
            }
            try nft.run(
                (changed ? EgressRuleset.setNodeAddresses(denied) : "")
                    + EgressRuleset.addSandbox(
                        EgressRuleset.SandboxRules(
                            ifname: ifname, address: address, tag: tag, allow: allow,
                            nameservers: resolvers.nameservers), subnet: subnet))
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
        let address: IPv4Address? = state.withLock { s in
            guard let a = s.used.first(where: { $0.value == id })?.key else { return nil }
            s.used[a] = nil
            return a
        }
        guard let address else { return }
        _ = try? nft.run(EgressRuleset.removeSandbox(ifname: Self.ifname(config.portPrefix, address), address: address))
        removeFiles(id)
    }

    /// Removes the nft tables and the bridge (when the node stops with no egress agent left).
    /// net.ipv4.ip_forward stays as it is.
    public func teardown() {
        _ = try? nft.run(EgressRuleset.teardown())
        _ = try? host.withLock { try $0.s.deleteLink(config.bridge) }
    }

    /// The ruleset as nft prints it (for tests and `describe`).
    public func listRuleset() throws -> String { try nft.run("list table inet \(EgressRuleset.table)") }

    /// Host-side interface of the sandbox holding `address`: prefix + 8 hex digits (unique per
    /// node, ≤ 15 bytes).
    static func ifname(_ prefix: String, _ address: IPv4Address) -> String {
        let hex = String(address.value, radix: 16)
        return prefix + String(repeating: "0", count: 8 - hex.count) + hex
    }

    func recordPath(_ id: String) -> String { config.stateDir + "/" + id + ".json" }
    func resolvPath(_ id: String) -> String { config.stateDir + "/" + id + ".resolv.conf" }
    func removeFiles(_ id: String) {
        unlink(recordPath(id))
        unlink(resolvPath(id))
    }
}
