// SandboxMonitor.swift — one thread waits (epoll) on the pidfds of every sandbox's supervisor and
// reports each exit once, and runs deadlines (wall-clock Unix times: an agent's timeout) when
// they pass. No task blocks on a sandbox or sleeps for a deadline, and the worker needn't be the
// parent of anything (supervisors are re-parented away from it by design).
#if canImport(Glibc)
import Glibc
#endif

import Synchronization
import AegisSystem
import CAegisSys  // <sys/epoll.h>: epoll_event, epoll_*

final class SandboxMonitor: Sendable {
    private let epfd: Int32
    /// A pipe whose read end is in the epoll set: written to wake the loop when a deadline is added.
    private let wake: (read: Int32, write: Int32)
    private struct State {
        var next: UInt64 = 1
        var watches: [UInt64: (fd: Int32, onExit: @Sendable () -> Void)] = [:]
        var deadlines: [UInt64: (unixMs: Int64, action: @Sendable () -> Void)] = [:]
    }
    private let state = Mutex(State())
    /// epoll key of the wake pipe (watch keys start at 1).
    private static let wakeKey: UInt64 = 0

    init() {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        wake = (fds[0], fds[1])
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = Self.wakeKey
        epoll_ctl(epfd, EPOLL_CTL_ADD, wake.read, &ev)
        let fd = epfd, wakeRead = wake.read
        let thread = Thread { [weak self] in self?.loop(fd, wakeRead: wakeRead) }
        thread.start()
    }

    /// Calls `onExit` (on the monitor thread) when process `pid` exits. Returns false when the
    /// process is already gone (the caller then handles it directly).
    @discardableResult
    func watch(pid: Int32, onExit: @escaping @Sendable () -> Void) -> Bool {
        let fd = Syscall.pidfdOpen(pid)
        guard fd >= 0 else { return false }
        let key = state.withLock { s -> UInt64 in
            let k = s.next
            s.next += 1
            s.watches[k] = (fd, onExit)
            return k
        }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = key
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 {
            _ = state.withLock { $0.watches.removeValue(forKey: key) }
            close(fd)
            return false
        }
        return true
    }

    /// Calls `action` once (on the monitor thread) when the wall clock reaches `unixMs` (Unix time,
    /// milliseconds); at once when it has passed already. Returns a key for `cancelDeadline`.
    @discardableResult
    func at(unixMs: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        let key = state.withLock { s -> UInt64 in
            let k = s.next
            s.next += 1
            s.deadlines[k] = (unixMs, action)
            return k
        }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)  // a full pipe already wakes the loop
        return key
    }

    /// Drops a deadline that has not run yet.
    func cancelDeadline(_ key: UInt64) {
        _ = state.withLock { $0.deadlines.removeValue(forKey: key) }
    }

    /// Wall clock now, Unix milliseconds.
    static func nowUnixMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    private func loop(_ epfd: Int32, wakeRead: Int32) {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let n = epoll_wait(epfd, &events, Int32(events.count), waitTimeoutMs())
            if n < 0 { if errno == EINTR { continue }; return }
            for i in 0..<Int(n) {
                let key = events[i].data.u64
                if key == Self.wakeKey {
                    var drain = [UInt8](repeating: 0, count: 64)
                    while read(wakeRead, &drain, drain.count) > 0 {}
                    continue
                }
                guard let w = state.withLock({ $0.watches.removeValue(forKey: key) }) else { continue }
                epoll_ctl(epfd, EPOLL_CTL_DEL, w.fd, nil)
                close(w.fd)
                w.onExit()
            }
            runDueDeadlines()
        }
    }

    /// Milliseconds until the earliest deadline (capped at one minute, so that a wall clock set
    /// back or forward is noticed), -1 without deadlines.
    private func waitTimeoutMs() -> Int32 {
        guard let earliest = state.withLock({ $0.deadlines.values.map(\.unixMs).min() }) else { return -1 }
        return Int32(max(0, min(earliest - Self.nowUnixMs(), 60_000)))
    }

    private func runDueDeadlines() {
        let now = Self.nowUnixMs()
        let due = state.withLock { s -> [@Sendable () -> Void] in
            let keys = s.deadlines.filter { $0.value.unixMs <= now }.map(\.key)
            return keys.compactMap { s.deadlines.removeValue(forKey: $0)?.action }
        }
        for action in due { action() }
    }
}

/// A minimal thread wrapper (Foundation's Thread is not used in this module).
final class Thread: @unchecked Sendable {
    private let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        pthread_create(
            &tid, nil,
            { arg in
                let me = Unmanaged<Thread>.fromOpaque(arg!).takeRetainedValue()
                me.body()
                return nil
            }, box.toOpaque())
        pthread_detach(tid)
    }
}
