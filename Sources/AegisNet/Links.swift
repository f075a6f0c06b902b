// Links.swift — the rtnetlink operations of the egress mode: bridge, veth pair with its peer created
// straight in the sandbox's namespace, link up, IPv4 address, default route, delete, list.
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol

/// A network interface as RTM_GETLINK reports it.
public struct LinkInfo: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// ifindex of the bridge (or other master) it is enslaved to; 0 = none.
    public var master: Int32
    public var isUp: Bool
    /// IFLA_INFO_KIND ("bridge", "veth", …); "" for devices without one (physical, lo).
    public var kind: String = ""
}

extension RouteSocket {
    /// All links of this socket's namespace (RTM_GETLINK dump).
    public func links() throws -> [LinkInfo] {
        var m = NLMessage(type: NL.getLink, flags: NL.request | NL.dump)
        m.ifinfo()
        return try dump(m, "RTM_GETLINK dump").compactMap { r in
            guard r.type == NL.newLink, r.payload.count >= 16 else { return nil }
            let index = Int32(bitPattern: r.payload.dropFirst(4).u32)
            let flags = r.payload.dropFirst(8).u32
            let a = r.attributes(after: 16)
            return LinkInfo(
                index: index, name: a[NL.iflaIfname]?.cString ?? "",
                master: Int32(bitPattern: a[NL.iflaMaster]?.u32 ?? 0), isUp: flags & NL.iffUp != 0)
        }
    }

    /// The link called `name`, or nil.
    public func link(named name: String) throws -> LinkInfo? {
        var m = NLMessage(type: NL.getLink, flags: NL.request | NL.ack)
        m.ifinfo()
        m.attr(NL.iflaIfname, string: name)
        do {
            let r = try dump(m, "RTM_GETLINK \(name)")
            guard let first = r.first, first.payload.count >= 16 else { return nil }
            let a = first.attributes(after: 16)
            let kind = a[NL.iflaLinkinfo].map { NLReply.parse($0)[NL.infoKind]?.cString ?? "" } ?? ""
            return LinkInfo(
                index: Int32(bitPattern: first.payload.dropFirst(4).u32), name: name,
                master: Int32(bitPattern: a[NL.iflaMaster]?.u32 ?? 0),
                isUp: first.payload.dropFirst(8).u32 & NL.iffUp != 0, kind: kind)
        } catch let e as NetError where e.errno == ENODEV {
            return nil
        }
    }

    /// Creates bridge `name` (up). EEXIST when it exists.
    public func addBridge(_ name: String) throws {
        var m = NLMessage(type: NL.newLink, flags: NL.request | NL.ack | NL.create | NL.excl)
        m.ifinfo(flags: NL.iffUp, change: NL.iffUp)
        m.attr(NL.iflaIfname, string: name)
        m.begin(NL.iflaLinkinfo)
        m.attr(NL.infoKind, string: "bridge")
        m.end()
        try run(m, "RTM_NEWLINK bridge \(name)")
    }

    /// Creates veth pair `host` ↔ `peer`, with `peer` created directly in the network namespace
    /// open at `peerNetnsFd` (IFLA_NET_NS_FD), `host` enslaved to bridge index `master` and up.
    public func addVeth(host: String, peer: String, peerNetnsFd: Int32, master: Int32, mtu: UInt32? = nil) throws {
        var m = NLMessage(type: NL.newLink, flags: NL.request | NL.ack | NL.create | NL.excl)
        m.ifinfo(flags: NL.iffUp, change: NL.iffUp)
        m.attr(NL.iflaIfname, string: host)
        m.attr(NL.iflaMaster, u32: UInt32(bitPattern: master))
        if let mtu { m.attr(NL.iflaMTU, u32: mtu) }
        m.begin(NL.iflaLinkinfo)
        m.attr(NL.infoKind, string: "veth")
        m.begin(NL.infoData)
        m.begin(NL.vethInfoPeer)
        m.ifinfo()
        m.attr(NL.iflaIfname, string: peer)
        m.attr(NL.iflaNetNsFd, u32: UInt32(bitPattern: peerNetnsFd))
        if let mtu { m.attr(NL.iflaMTU, u32: mtu) }
        m.end()
        m.end()
        m.end()
        try run(m, "RTM_NEWLINK veth \(host)")
    }

    /// Sets link `index` up.
    public func setUp(index: Int32, name: String) throws {
        var m = NLMessage(type: NL.newLink, flags: NL.request | NL.ack)
        m.ifinfo(index: index, flags: NL.iffUp, change: NL.iffUp)
        try run(m, "RTM_NEWLINK up \(name)")
    }

    /// Deletes link `name` (a veth's peer goes with it). Returns false when it did not exist.
    @discardableResult
    public func deleteLink(_ name: String) throws -> Bool {
        var m = NLMessage(type: NL.delLink, flags: NL.request | NL.ack)
        m.ifinfo()
        m.attr(NL.iflaIfname, string: name)
        do {
            try run(m, "RTM_DELLINK \(name)")
            return true
        } catch let e as NetError where e.errno == ENODEV {
            return false
        }
    }

    /// Adds `address/prefix` to link `index` (IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST).
    /// EEXIST when it is already there.
    public func addAddress(index: Int32, _ address: IPv4Address, prefix: Int, name: String) throws {
        var m = NLMessage(type: NL.newAddr, flags: NL.request | NL.ack | NL.create | NL.excl)
        m.append(Self.ifaddrmsg(prefix: prefix, index: index))
        m.attr(NL.ifaLocal, ipv4: address.value)
        m.attr(NL.ifaAddress, ipv4: address.value)
        if prefix < 31 { m.attr(NL.ifaBroadcast, ipv4: address.value | ~IPv4Network.mask(prefix)) }
        try run(m, "RTM_NEWADDR \(address)/\(prefix) dev \(name)")
    }

    /// IPv4 addresses of this namespace: (link index, address, prefix).
    public func addresses() throws -> [(index: Int32, address: IPv4Address, prefix: Int)] {
        var m = NLMessage(type: NL.getAddr, flags: NL.request | NL.dump)
        var b = [UInt8](repeating: 0, count: 8)
        b[0] = UInt8(AF_INET)
        m.append(b)
        return try dump(m, "RTM_GETADDR dump").compactMap { r in
            guard r.payload.count >= 8, r.payload[r.payload.startIndex] == UInt8(AF_INET) else { return nil }
            let prefix = Int(r.payload[r.payload.startIndex + 1])
            let index = Int32(bitPattern: r.payload.dropFirst(4).u32)
            let a = r.attributes(after: 8)
            guard let raw = a[NL.ifaLocal] ?? a[NL.ifaAddress], raw.count == 4 else { return nil }
            return (index, IPv4Address(UInt32(bigEndian: raw.u32)), prefix)
        }
    }

    /// struct ifaddrmsg (rtnetlink(7)) for an IPv4 address of link `index`: family, prefix length,
    /// no flags, universe scope, the index in host byte order.
    static func ifaddrmsg(prefix: Int, index: Int32) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 8)
        b[0] = UInt8(AF_INET)
        b[1] = UInt8(prefix)
        withUnsafeBytes(of: UInt32(bitPattern: index)) { for i in 0..<4 { b[4 + i] = $0[i] } }
        return b
    }

    /// Removes `address/prefix` from link `index`.
    public func deleteAddress(index: Int32, _ address: IPv4Address, prefix: Int, name: String) throws {
        var m = NLMessage(type: NL.delAddr, flags: NL.request | NL.ack)
        m.append(Self.ifaddrmsg(prefix: prefix, index: index))
        m.attr(NL.ifaLocal, ipv4: address.value)
        try run(m, "RTM_DELADDR \(address)/\(prefix) dev \(name)")
    }

    /// Adds the default route via `gateway` on link `index` (main table, static, universe scope).
    public func addDefaultRoute(via gateway: IPv4Address, index: Int32) throws {
        var m = NLMessage(type: NL.newRoute, flags: NL.request | NL.ack | NL.create | NL.excl)
        // struct rtmsg { family, dst_len, src_len, tos, table, protocol, scope, type, flags(u32) }
        m.append([
            UInt8(AF_INET), 0, 0, 0, 254 /* RT_TABLE_MAIN */, 4 /* RTPROT_STATIC */,
            0 /* RT_SCOPE_UNIVERSE */, 1 /* RTN_UNICAST */, 0, 0, 0, 0,
        ])
        m.attr(NL.rtaGateway, ipv4: gateway.value)
        m.attr(NL.rtaOif, u32: UInt32(bitPattern: index))
        try run(m, "RTM_NEWROUTE default via \(gateway)")
    }
}
