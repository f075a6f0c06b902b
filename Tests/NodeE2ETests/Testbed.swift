// Testbed.swift — network namespaces the tests create and remove themselves: a "node" namespace
// whose uplink (198.51.100.2/24) is routed to an "outside" namespace that plays the public internet
// with servers on 203.0.113.10 (TEST-NET addresses that exist only inside these namespaces).
import Foundation
import XCTest

@discardableResult
func sh(_ args: [String], allowFailure: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: o, as: UTF8.self)
    if p.terminationStatus != 0 && !allowFailure {
        XCTFail(
            "\(args.joined(separator: " ")) exited \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))", file: file, line: line)
        throw NSError(domain: "sh", code: Int(p.terminationStatus))
    }
    return text
}

/// A TCP client run inside a network namespace (by path): "ok <reply>", "refused" (RST or the
/// policy's ICMP admin-prohibited), "timeout" or "error <errno>".
func connect(from netns: String, to host: String, port: Int, timeout: Double = 1.5) throws -> String {
    let code = """
        import socket,sys
        s=socket.socket(); s.settimeout(\(timeout))
        try:
            s.connect(("\(host)",\(port))); print("ok", s.recv(64).decode().strip())
        except socket.timeout: print("timeout")
        except ConnectionRefusedError: print("refused")
        except OSError as e:
            # EHOSTUNREACH (113): the policy's ICMP admin-prohibited reject
            print("refused" if e.errno == 113 else "error %s" % e.errno)
        """
    return try sh(["nsenter", "--net=\(netns)", "--", "python3", "-c", code]).trimmingCharacters(in: .whitespacesAndNewlines)
}

final class Testbed {
    let node: String
    let outside: String
    private var servers: [Process] = []

    /// Skips unless root with `ip`, `nsenter`, python3 and libnftables.
    static func available() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root") }
        for tool in ["/usr/sbin/ip", "/usr/bin/nsenter", "/usr/bin/python3"] where access(tool, X_OK) != 0 {
            throw XCTSkip("\(tool) missing")
        }
    }

    init() throws {
        let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        node = "aegt-n-\(tag)"
        outside = "aegt-o-\(tag)"
        try sh(["ip", "netns", "add", node])
        try sh(["ip", "netns", "add", outside])
        try sh(["ip", "-n", node, "link", "set", "lo", "up"])
        try sh(["ip", "-n", outside, "link", "set", "lo", "up"])
        try sh(["ip", "-n", node, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", outside])
        try sh(["ip", "-n", node, "addr", "add", "198.51.100.2/24", "dev", "up0"])
        try sh(["ip", "-n", node, "link", "set", "up0", "up"])
        try sh(["ip", "-n", node, "route", "add", "default", "via", "198.51.100.1"])
        try sh(["ip", "-n", outside, "addr", "add", "198.51.100.1/24", "dev", "eth0"])
        try sh(["ip", "-n", outside, "addr", "add", "203.0.113.10/32", "dev", "lo"])
        try sh(["ip", "-n", outside, "link", "set", "eth0", "up"])
    }

    /// Starts a TCP server in `ns` on host:port that answers each connection with `reply`.
    func server(in ns: String, host: String, port: Int, reply: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        let code = """
            import socket
            s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("\(host)",\(port))); s.listen(16)
            print("ready", flush=True)
            while True:
                c,_=s.accept(); c.sendall(b"\(reply)\\n"); c.close()
            """
        p.arguments = ["netns", "exec", ns, "python3", "-c", code]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        servers.append(p)
        _ = out.fileHandleForReading.availableData  // "ready"
    }

    /// Runs `body` on the calling thread while it is inside the node namespace (setns(2) is
    /// per-thread), then returns the thread to its own namespace.
    func insideNode<T>(_ body: () throws -> T) throws -> T {
        let mine = open("/proc/thread-self/ns/net", O_RDONLY)
        let target = open("/run/netns/\(node)", O_RDONLY)
        defer { close(mine); close(target) }
        typealias SetnsFn = @convention(c) (Int32, Int32) -> Int32
        let setns = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns")!, to: SetnsFn.self)
        let CLONE_NEWNET: Int32 = 0x4000_0000
        guard mine >= 0, target >= 0, setns(target, CLONE_NEWNET) == 0 else {
            throw NSError(domain: "setns", code: Int(errno))
        }
        defer { precondition(setns(mine, CLONE_NEWNET) == 0, "could not return to the test's namespace") }
        return try body()
    }

    deinit {
        for s in servers { s.terminate(); s.waitUntilExit() }
        _ = try? sh(["ip", "netns", "del", node], allowFailure: true)
        _ = try? sh(["ip", "netns", "del", outside], allowFailure: true)
    }
}
