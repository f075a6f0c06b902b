// ServiceNotifyTests.swift — ServiceNotifier against real AF_UNIX datagram sockets (a path and an
// abstract name), the environment it reads and unsets, and its errors.
import AegisSystem
import Foundation
import XCTest

final class ServiceNotifyTests: XCTestCase {
    /// A bound datagram socket; `receive()` returns one datagram's text.
    final class Listener {
        let fd: Int32
        let name: String
        init(_ name: String) throws {
            self.name = name
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(name.utf8)
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes[0] == 0 ? 0 : 1))
            let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard rc == 0 else { throw SystemError("bind", name) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n < 0 ? nil : String(decoding: buffer.prefix(n), as: UTF8.self)
        }
        deinit {
            close(fd)
            if !name.hasPrefix("@") { unlink(name) }
        }
    }

    func testDatagramToAPathHoldsEveryAssignment() throws {
        let path = NSTemporaryDirectory() + "notify-\(getpid()).sock"
        let listener = try Listener(path)
        let notifier = ServiceNotifier(socketPath: path)
        try notifier.send([.ready, .status("joined\nagents: 2"), .extendTimeout(.milliseconds(1500))])
        XCTAssertEqual(listener.receive(), "READY=1\nSTATUS=joined agents: 2\nEXTEND_TIMEOUT_USEC=1500000")
        try notifier.send([.watchdog])
        XCTAssertEqual(listener.receive(), "WATCHDOG=1")
        try notifier.send([.stopping])
        XCTAssertEqual(listener.receive(), "STOPPING=1")
    }

    func testAbstractSocketName() throws {
        let name = "@aegis-notify-test-\(getpid())"
        let listener = try Listener(name)
        try ServiceNotifier(socketPath: name).send([.ready])
        XCTAssertEqual(listener.receive(), "READY=1")
    }

    func testEnvironmentIsReadAndUnset() throws {
        setenv("NOTIFY_SOCKET", "@aegis-env-test", 1)
        setenv("WATCHDOG_USEC", "3000000", 1)
        setenv("WATCHDOG_PID", "\(getpid())", 1)
        let notifier = try XCTUnwrap(ServiceNotifier.fromEnvironment())
        XCTAssertEqual(notifier.socketPath, "@aegis-env-test")
        XCTAssertEqual(notifier.watchdogInterval, .seconds(3))
        XCTAssertNil(getenv("NOTIFY_SOCKET"), "children must not inherit the socket")
        XCTAssertNil(getenv("WATCHDOG_USEC"))
        XCTAssertNil(ServiceNotifier.fromEnvironment(), "nothing left to read")

        setenv("NOTIFY_SOCKET", "/run/x.sock", 1)
        setenv("WATCHDOG_USEC", "3000000", 1)
        setenv("WATCHDOG_PID", "1", 1)  // the watchdog is another process's
        let other = try XCTUnwrap(ServiceNotifier.fromEnvironment())
        XCTAssertNil(other.watchdogInterval)

        setenv("NOTIFY_SOCKET", "relative.sock", 1)
        XCTAssertNil(ServiceNotifier.fromEnvironment(), "neither a path nor an abstract name")
    }

    func testErrorsNameTheSocket() {
        XCTAssertThrowsError(try ServiceNotifier(socketPath: "/nonexistent/notify.sock").send([.ready])) { error in
            XCTAssertTrue("\(error)".hasPrefix("notify sendto /nonexistent/notify.sock: ENOENT"), "\(error)")
        }
        let long = "/" + String(repeating: "n", count: 120)
        XCTAssertThrowsError(try ServiceNotifier(socketPath: long).send([.ready])) { error in
            XCTAssertTrue("\(error)".contains("ENAMETOOLONG"), "\(error)")
        }
    }
}
