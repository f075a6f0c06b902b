// Egress.swift — IPv4 addresses and networks, the egress allowlist entry grammar, and the address
// ranges an egress agent may never reach (IANA IPv4 Special-Purpose Address Registry, RFC 6890).
// Shared by the manifest parser (validation), the scheduler (routing) and the worker (nftables).

/// An IPv4 address (host byte order value).
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Dotted quad "a.b.c.d" (no leading zeros beyond "0", no shorthand); nil otherwise.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                !(p.count > 1 && p.first == "0"), let n = UInt32(p), n <= 255
            else { return nil }
            v = v << 8 | n
        }
        value = v
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPv4Address(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(s)"))
        }
        self = a
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 network "a.b.c.d/n" (the address is stored masked).
public struct IPv4Network: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    /// Prefix length, 0…32.
    public var prefix: Int

    public init(_ address: IPv4Address, prefix: Int) {
        self.prefix = max(0, min(32, prefix))
        self.address = IPv4Address(address.value & Self.mask(self.prefix))
    }

    /// "a.b.c.d/n" or a bare address (= /32). Host bits must be zero ("10.1.2.3/16" is rejected:
    /// it is almost always a typo for 10.1.0.0/16 or 10.1.2.3/32).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPv4Address(parts[0]) else { return nil }
        var p = 32
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), n <= 32 else { return nil }
            p = n
        }
        guard a.value & ~Self.mask(p) == 0 else { return nil }
        self.init(a, prefix: p)
    }

    public static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }

    public var mask: UInt32 { Self.mask(prefix) }
    /// Number of addresses (2^(32-prefix)).
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public var first: IPv4Address { address }
    public var last: IPv4Address { IPv4Address(address.value | ~mask) }

    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == address.value }
    public func contains(_ n: IPv4Network) -> Bool { n.prefix >= prefix && contains(n.address) }
    public func overlaps(_ n: IPv4Network) -> Bool { contains(n.address) || n.contains(address) }

    public var description: String { "\(address)/\(prefix)" }
}

/// Address ranges for the egress policy (IANA IPv4 Special-Purpose Address Registry, RFC 6890 and
/// its updates; "not globally reachable" column).
public enum SpecialAddresses {
    /// Never reachable from an egress sandbox, whatever its allowlist says: this host and its
    /// loopback, link-local (the 169.254.169.254 cloud metadata service), multicast, reserved and
    /// broadcast.
    public static let alwaysDenied: [(network: IPv4Network, name: String)] = [
        ("0.0.0.0/8", "\"this network\" (RFC 791)"), ("127.0.0.0/8", "loopback (RFC 1122)"),
        ("169.254.0.0/16", "link-local, incl. cloud metadata 169.254.169.254 (RFC 3927)"),
        ("224.0.0.0/4", "multicast (RFC 5771)"), ("240.0.0.0/4", "reserved (RFC 1112)"),
    ].map { (IPv4Network($0.0)!, $0.1) }

    /// Not globally reachable, denied unless an allowlist entry opens them: private networks,
    /// carrier-grade NAT, documentation and benchmarking ranges, protocol assignments.
    public static let nonPublic: [(network: IPv4Network, name: String)] = [
        ("10.0.0.0/8", "private (RFC 1918)"), ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"), ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"), ("192.0.2.0/24", "TEST-NET-1 (RFC 5737)"),
        ("198.51.100.0/24", "TEST-NET-2 (RFC 5737)"), ("203.0.113.0/24", "TEST-NET-3 (RFC 5737)"),
        ("198.18.0.0/15", "benchmarking (RFC 2544)"), ("192.88.99.0/24", "6to4 relay anycast (RFC 7526)"),
    ].map { (IPv4Network($0.0)!, $0.1) }

    /// The always-denied range that wholly contains `n`, if any.
    public static func alwaysDeniedRange(containing n: IPv4Network) -> (network: IPv4Network, name: String)? {
        alwaysDenied.first { $0.network.contains(n) }
    }
}

/// Transport protocol of an allowlist entry.
public enum EgressProtocol: String, Codable, Sendable, CaseIterable {
    case tcp, udp
}

/// A bad allowlist entry; `description` names the entry and what is wrong.
public struct EgressEntryError: Error, CustomStringConvertible, Equatable {
    public var entry: String
    public var problem: String
    public init(entry: String, problem: String) {
        self.entry = entry
        self.problem = problem
    }
    public var description: String { "egress allow entry \"\(entry)\": \(problem)" }
}

/// One egress allowlist entry: `DEST[:PORT[-PORT]][/tcp|/udp]`, DEST a CIDR, an IPv4 address or a
/// host name (resolved when the agent starts). No port: every port; no protocol: tcp and udp when
/// a port is given, every IP protocol otherwise. Examples: "10.20.0.0/16:443/tcp",
/// "api.example.com:443", "203.0.113.7", "198.51.100.0/24:8000-8100/udp".
public struct EgressAllowEntry: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Destination: Sendable, Equatable, Hashable {
        case network(IPv4Network)
        case host(String)
    }

    public var destination: Destination
    /// Inclusive port range; nil = every port.
    public var ports: ClosedRange<UInt16>?
    /// nil = tcp and udp (with ports) or any protocol (without).
    public var proto: EgressProtocol?

    public init(destination: Destination, ports: ClosedRange<UInt16>? = nil, proto: EgressProtocol? = nil) {
        self.destination = destination
        self.ports = ports
        self.proto = proto
    }

    /// - Throws: `EgressEntryError` naming the part that is wrong, or the always-denied range a
    ///   literal destination lies in (loopback, link-local/metadata, multicast, reserved).
    public init(parsing text: String) throws(EgressEntryError) {
        func fail(_ p: String) -> EgressEntryError { EgressEntryError(entry: text, problem: p) }
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty else { throw fail("is empty") }
        if rest.contains("[") || rest.filter({ $0 == ":" }).count > 1 {
            throw fail("IPv6 destinations are not supported (egress is IPv4 only)")
        }
        var proto: EgressProtocol?
        if let slash = rest.lastIndex(of: "/") {
            let tail = rest[rest.index(after: slash)...].lowercased()
            if let p = EgressProtocol(rawValue: tail) {
                proto = p
                rest = rest[..<slash]
            } else if !tail.isEmpty && tail.allSatisfy({ $0.isLetter }) {
                throw fail("unknown protocol \"\(tail)\" (expected tcp or udp)")
            }
        }
        var ports: ClosedRange<UInt16>?
        if let colon = rest.lastIndex(of: ":") {
            let p = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
            let bounds = p.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                let lo = UInt16(bounds[0]), lo > 0
            else {
                throw fail("port \"\(p)\" must be 1-65535 or a range like 8000-8100")
            }
            let hi = bounds.count == 2 ? UInt16(bounds[1]) : lo
            guard let hi, hi >= lo else { throw fail("port range \"\(p)\" must be low-high with low ≤ high ≤ 65535") }
            ports = lo...hi
        }
        var dest = String(rest)
        if dest.count > 1 && dest.hasSuffix(".") && !(dest.first?.isNumber ?? false) { dest.removeLast() }  // FQDN "example.com."
        guard !dest.isEmpty else { throw fail("has no destination") }
        if let first = dest.first, first.isNumber, dest.allSatisfy({ $0.isNumber || $0 == "." || $0 == "/" }) {
            guard let n = IPv4Network(dest) else {
                throw fail("\"\(dest)\" is not an IPv4 address or CIDR with zero host bits (e.g. 10.20.0.0/16)")
            }
            if let d = SpecialAddresses.alwaysDeniedRange(containing: n) {
                throw fail("\(n) lies in \(d.network), \(d.name), which an egress agent can never reach")
            }
            destination = .network(n)
        } else {
            let labels = dest.split(separator: ".", omittingEmptySubsequences: false)
            guard dest.count <= 253,
                labels.allSatisfy({ l in
                    !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-"
                        && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                })
            else { throw fail("\"\(dest)\" is neither an IPv4 address/CIDR nor a host name") }
            destination = .host(dest.lowercased())
        }
        self.ports = ports
        self.proto = proto
    }

    public var description: String {
        var s: String
        switch destination {
        case .network(let n): s = n.prefix == 32 ? "\(n.address)" : "\(n)"
        case .host(let h): s = h
        }
        if let p = ports { s += p.lowerBound == p.upperBound ? ":\(p.lowerBound)" : ":\(p.lowerBound)-\(p.upperBound)" }
        if let proto { s += "/\(proto.rawValue)" }
        return s
    }
}

/// The `egress:` section of a manifest.
public struct EgressSpec: Codable, Sendable, Equatable {
    /// Allowlist entries as written (validated by `EgressAllowEntry(parsing:)`).
    public var allow: [String]

    public init(allow: [String] = []) { self.allow = allow }
}

/// What a node can offer agents over the network (detected at start, see AegisNet).
public struct NetworkCapability: Codable, Sendable, Equatable {
    /// Bridge + NAT + nftables were set up and work on this node.
    public var egress: Bool
    /// Why egress is unavailable (or nil).
    public var egressProblem: String?
    /// The node-local sandbox subnet ("10.213.0.0/16").
    public var subnet: String?
    /// Addresses available to egress sandboxes (the subnet minus network, gateway, broadcast).
    public var egressSlots: Int
    /// Operator-declared reachability labels ("internet", "corp-vpn").
    public var reach: [String]

    public init(egress: Bool = false, egressProblem: String? = nil, subnet: String? = nil, egressSlots: Int = 0, reach: [String] = []) {
        self.egress = egress
        self.egressProblem = egressProblem
        self.subnet = subnet
        self.egressSlots = egressSlots
        self.reach = reach
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
