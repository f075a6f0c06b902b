// HeldNetns.swift — a new network namespace held by an open nsfs descriptor (no bind mount on the
// host), with a NETLINK_ROUTE socket bound inside it. Made by a short-lived dedicated thread that
// unshare(2)s CLONE_NEWNET — a per-thread operation, so the daemon's other threads never change
// namespace — and exits. The namespace is owned by the initial user namespace: an agent's
// capabilities (it has none, but also those of any user namespace it makes) never reach it.
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace that exists as long as `fd` is open or a process lives in it.
public final class HeldNetns: @unchecked Sendable {
    /// O_RDONLY|O_CLOEXEC descriptor of the namespace (/proc/thread-self/ns/net of the maker).
    public let fd: Int32
    /// rtnetlink inside the namespace.
    public let route: RouteSocket

    private init(fd: Int32, route: RouteSocket) {
        self.fd = fd
        self.route = route
    }

    deinit { close(fd) }

    /// The path a process (the sandbox shim) can open to join it: /proc/<pid>/fd/<fd>.
    public var path: String { "/proc/\(getpid())/fd/\(fd)" }

    private final class Box {
        var nsfd: Int32 = -1
        var nlfd: Int32 = -1
        var error: NetError?
        var disableIPv6 = true
    }

    /// Creates the namespace, sets its `lo` up and (by default) disables IPv6 in it — egress is
    /// IPv4 only, so no link-local v6 path to the bridge exists.
    /// - Throws: `NetError` naming the step (pthread_create, unshare(CLONE_NEWNET) — EPERM without
    ///   CAP_SYS_ADMIN —, open ns, netlink socket, lo up).
    public static func create(disableIPv6: Bool = true) throws -> HeldNetns {
        let box = Box()
        box.disableIPv6 = disableIPv6
        let ctx = Unmanaged.passRetained(box).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                typealias UnshareFn = @convention(c) (Int32) -> Int32
                guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else {  // RTLD_DEFAULT
                    box.error = NetError("dlsym unshare"); return nil
                }
                let unshare = unsafeBitCast(sym, to: UnshareFn.self)
                guard unshare(0x4000_0000 /* CLONE_NEWNET */) == 0 else {
                    box.error = NetError("unshare(CLONE_NEWNET)", errno: errno); return nil
                }
                let ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
                guard ns >= 0 else { box.error = NetError("open /proc/thread-self/ns/net", errno: errno); return nil }
                let nl = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard nl >= 0 else {
                    box.error = NetError("socket(AF_NETLINK) in the new namespace", errno: errno)
                    close(ns)
                    return nil
                }
                if box.disableIPv6 {
                    for p in ["/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"] {
                        let f = open(p, O_WRONLY | O_CLOEXEC)
                        if f >= 0 { _ = write(f, "1", 1); close(f) }
                    }
                }
                box.nsfd = ns
                box.nlfd = nl
                return nil
            }, ctx)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(ctx).release()
            throw NetError("pthread_create", errno: rc)
        }
        pthread_join(tid, nil)
        if let e = box.error { throw e }
        let held = HeldNetns(fd: box.nsfd, route: RouteSocket(fd: box.nlfd))
        try held.route.setUp(index: 1, name: "lo")  // lo is always ifindex 1 in a new namespace
        return held
    }
}
