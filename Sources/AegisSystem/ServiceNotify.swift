// ServiceNotify.swift — the service manager's notification protocol (sd_notify(3)) without
// libsystemd: newline-separated KEY=VALUE assignments in one datagram to the AF_UNIX socket named
// by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), as systemd documents it for
// implementations of their own. $WATCHDOG_USEC (with $WATCHDOG_PID naming this process, when set)
// asks for WATCHDOG=1 at least that often.
#if canImport(Glibc)
import Glibc
#endif

/// One assignment of a notification datagram (sd_notify(3)'s well-known ones that AEGIS sends).
public enum ServiceNotification: Sendable, Equatable {
    /// READY=1: start-up is finished (Type=notify units become active only now).
    case ready
    /// STOPPING=1: shutdown began.
    case stopping
    /// STATUS=…: one line shown by `systemctl status` (newlines become spaces).
    case status(String)
    /// WATCHDOG=1: the service is alive; sent at least every WatchdogSec when asked for.
    case watchdog
    /// EXTEND_TIMEOUT_USEC=…: the current start or stop step needs this much longer from now.
    case extendTimeout(Duration)

    /// The assignment as it goes on the wire.
    public var assignment: String {
        switch self {
        case .ready: return "READY=1"
        case .stopping: return "STOPPING=1"
        case .status(let text): return "STATUS=" + String(text.map { $0.isNewline ? " " : $0 })
        case .watchdog: return "WATCHDOG=1"
        case .extendTimeout(let d):
            let microseconds = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
            return "EXTEND_TIMEOUT_USEC=\(max(0, microseconds))"
        }
    }
}

/// Sends notifications to the service manager that started this process.
public struct ServiceNotifier: Sendable {
    /// $NOTIFY_SOCKET: a filesystem path, or "@name" in the abstract namespace.
    public let socketPath: String
    /// How often the manager wants WATCHDOG=1 (nil: no watchdog).
    public let watchdogInterval: Duration?

    public init(socketPath: String, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// The notifier this process was started with: nil without $NOTIFY_SOCKET. With `unset`
    /// (default) the variables are removed from the environment, so that processes started later
    /// (supervisors, agents) don't inherit them (sd_notify's unset_environment).
    public static func fromEnvironment(unset: Bool = true) -> ServiceNotifier? {
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        let socket = variable("NOTIFY_SOCKET")
        var watchdog: Duration?
        if let usec = variable("WATCHDOG_USEC").flatMap(Int64.init), usec > 0 {
            let forPID = variable("WATCHDOG_PID").flatMap(Int32.init)
            if forPID == nil || forPID == getpid() { watchdog = .microseconds(usec) }
        }
        if unset {
            for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
        }
        guard let socket, socket.hasPrefix("/") || socket.hasPrefix("@") else { return nil }
        return ServiceNotifier(socketPath: socket, watchdogInterval: watchdog)
    }

    /// Sends `notifications` in one datagram, without waiting when the manager's queue is full.
    /// - Throws: `SystemError` (step "notify socket", "notify sendto") with the socket's path.
    public func send(_ notifications: [ServiceNotification]) throws(SystemError) {
        let message = notifications.map(\.assignment).joined(separator: "\n")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract: a leading NUL, no terminator
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity, !path.isEmpty else { throw SystemError("notify socket", socketPath, code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path[0] == 0 ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("notify socket", socketPath) }
        defer { close(fd) }
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, length)
                }
            }
        }
        guard sent >= 0 else { throw SystemError("notify sendto", socketPath) }
    }
}
