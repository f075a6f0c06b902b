// HostNet.swift — what the egress mode reads from the host: IPv4 routes (/proc/net/route), upstream
// nameservers (resolv.conf(5), systemd-resolved's upstream file), the forwarding sysctl
// (Documentation/networking/ip-sysctl.rst: net.ipv4.ip_forward), and host-name resolution.
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import AegisSystem

public enum HostNet {
    /// IPv4 routes of the calling thread's namespace (default route excluded): destination network and device.
    /// - Throws: `NetError` when /proc/net/route can't be read.
    public static func routes(procRoot: String = "/proc/thread-self") throws -> [(network: IPv4Network, device: String)] {
        let text = try readText(procRoot + "/net/route")
        var out: [(IPv4Network, String)] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 8, let dst = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16), mask != 0 else { continue }
            // /proc/net/route prints the raw (network byte order) value as a host-order hex number.
            let d = UInt32(bigEndian: dst.littleEndian), m = UInt32(bigEndian: mask.littleEndian)
            out.append((IPv4Network(IPv4Address(d), prefix: m.nonzeroBitCount), String(f[0])))
        }
        return out
    }

    /// Upstream IPv4 nameservers: those of `resolvConf` that are not loopback; when it lists only
    /// loopback stubs (systemd-resolved's 127.0.0.53), those of `/run/systemd/resolve/resolv.conf`.
    /// Also the `search` line, if any.
    public static func upstreamResolvers(
        resolvConf: String = "/etc/resolv.conf",
        resolvedUpstream: String = "/run/systemd/resolve/resolv.conf"
    )
        -> (nameservers: [IPv4Address], search: String?)
    {
        func parse(_ path: String) -> ([IPv4Address], Bool, String?) {
            guard let text = try? readText(path) else { return ([], false, nil) }
            var ns: [IPv4Address] = [], sawLoopback = false, search: String?
            for line in text.split(separator: "\n") {
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard f.count >= 2 else { continue }
                if f[0] == "nameserver", let a = IPv4Address(f[1]) {
                    if IPv4Network("127.0.0.0/8")!.contains(a) { sawLoopback = true } else if !ns.contains(a) { ns.append(a) }
                } else if f[0] == "search" {
                    search = f.dropFirst().joined(separator: " ")
                }
            }
            return (ns, sawLoopback, search)
        }
        let (ns, loop, search) = parse(resolvConf)
        if ns.isEmpty && loop {
            let (up, _, s2) = parse(resolvedUpstream)
            return (up, search ?? s2)
        }
        return (ns, search)
    }

    /// net.ipv4.ip_forward of the caller's namespace.
    public static func forwarding(procRoot: String = "/proc") -> Bool {
        (try? readText(procRoot + "/sys/net/ipv4/ip_forward"))?.hasPrefix("1") ?? false
    }

    /// Sets net.ipv4.ip_forward to 1 (needed to route sandbox traffic to the uplink).
    /// - Throws: `NetError` for open/write.
    public static func enableForwarding(procRoot: String = "/proc") throws {
        let p = procRoot + "/sys/net/ipv4/ip_forward"
        let fd = open(p, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetError("open \(p)", errno: errno) }
        defer { close(fd) }
        guard write(fd, "1\n", 2) == 2 else { throw NetError("write \(p)", errno: errno) }
    }

    /// IPv4 addresses of `host` (getaddrinfo(3), AF_INET), in resolver order without duplicates.
    /// - Throws: `NetError` with gai_strerror's text.
    public static func resolve(_ host: String) throws -> [IPv4Address] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &res)
        guard rc == 0 else { throw NetError("resolve \(host)", String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(res) }
        var out: [IPv4Address] = []
        var p = res
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    IPv4Address(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
                }
                if !out.contains(a) { out.append(a) }
            }
            p = ai.pointee.ai_next
        }
        return out
    }

    /// A whole (small) file as UTF-8. - Throws: `SystemError` naming the file and errno.
    static func readText(_ path: String) throws -> String { try FileSystem.readText(path) }
}
