// ServiceNotifyE2ETests.swift — `aegis up` as a Type=notify unit sees it, with a real datagram
// socket as $NOTIFY_SOCKET: start-up steps announced with EXTEND_TIMEOUT_USEC, READY=1 only once
// the API answers, STATUS lines, WATCHDOG=1 at half of $WATCHDOG_USEC and none while the node is
// stopped (SIGSTOP), STOPPING=1 on SIGTERM; without $NOTIFY_SOCKET nothing changes (every other
// E2E test).
import AegisSystem
import Foundation
import XCTest

final class ServiceNotifyE2ETests: XCTestCase {
    /// A bound AF_UNIX datagram socket: the service manager's end.
    final class ManagerSocket {
        let fd: Int32
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "aegis-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw SystemError("bind", path) }
        }

        /// The datagrams that arrive within `seconds` (each one's text), or until `until` holds for one.
        func receive(for seconds: Double, until: (String) -> Bool = { _ in false }) -> [String] {
            var out: [String] = []
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let left = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
                guard poll(&pfd, 1, left) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { continue }
                let text = String(decoding: buffer.prefix(n), as: UTF8.self)
                out.append(text)
                if until(text) { break }
            }
            return out
        }

        deinit {
            close(fd)
            unlink(path)
        }
    }

    func testHybridNodeNotifiesReadinessStatusWatchdogAndStopping() throws {
        let manager = try ManagerSocket()
        let node = try NodeHarness()
        node.environment = ["NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "1000000"]
        try node.start()
        let startup = manager.receive(for: 20) { $0.contains("READY=1") }
        let ready = try XCTUnwrap(startup.last, "no datagram at all")
        XCTAssertTrue(ready.contains("READY=1"), "\(startup)")
        // Announced steps came first, each with more time.
        let steps = startup.dropLast()
        XCTAssertTrue(steps.contains { $0.contains("STATUS=starting: opening the state, re-adopting agents") }, "\(startup)")
        XCTAssertTrue(steps.allSatisfy { $0.contains("EXTEND_TIMEOUT_USEC=90000000") }, "\(startup)")
        // READY=1 only once every listener was up: the status names them.
        XCTAssertTrue(
            ready.contains("STATUS=hybrid e2e-node: serving (api 127.0.0.1:\(node.port), socket \(node.dataDir)/aegis.sock)"), ready)
        XCTAssertTrue(ready.contains("agents running: 0"), ready)

        // Half the watchdog period: about two a second.
        let fed = manager.receive(for: 2.2).filter { $0.contains("WATCHDOG=1") }
        XCTAssertGreaterThanOrEqual(fed.count, 3, "\(fed)")

        // A stopped node feeds nothing; once continued it does again.
        let pid = try XCTUnwrap(node.process?.processIdentifier)
        kill(pid, SIGSTOP)
        _ = manager.receive(for: 0.3)  // one that was already under way
        let whileStopped = manager.receive(for: 1.5).filter { $0.contains("WATCHDOG=1") }
        kill(pid, SIGCONT)
        XCTAssertEqual(whileStopped, [], "no WATCHDOG=1 while the node could not run")
        XCTAssertFalse(manager.receive(for: 2).filter { $0.contains("WATCHDOG=1") }.isEmpty)

        // An agent shows in the status.
        let run = try node.cli(["run", "--detach", "--", "/bin/sleep", "30"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let status = manager.receive(for: 5) { $0.contains("agents running: 1") }
        XCTAssertTrue(status.last?.contains("STATUS=hybrid e2e-node: serving") ?? false, "\(status)")
        XCTAssertTrue(status.last?.contains("agents running: 1") ?? false, "\(status)")

        node.process?.terminate()
        let stopping = manager.receive(for: 10) { $0.contains("STOPPING=1") }
        XCTAssertTrue(stopping.last?.contains("STOPPING=1\nSTATUS=stopping") ?? false, "\(stopping)")
        node.process?.waitUntilExit()
    }
}
