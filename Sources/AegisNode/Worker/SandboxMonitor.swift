// SandboxMonitor.swift — one thread waits (epoll) on the pidfds of every sandbox's supervisor and
// reports each exit once. No task blocks on a sandbox, and the worker needn't be the parent of
// anything (supervisors are re-parented away from it by design).
#if canImport(Glibc)
import Glibc
#endif
import CAegisShim

import Synchronization

final class SandboxMonitor: Sendable {
    private let epfd: Int32
    private let state = Mutex<(next: UInt64, watches: [UInt64: (fd: Int32, onExit: @Sendable () -> Void)])>((1, [:]))

    init() {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        let fd = epfd
        let thread = Thread { [weak self] in self?.loop(fd) }
        thread.start()
    }

    /// Calls `onExit` (on the monitor thread) when process `pid` exits. Returns false when the
    /// process is already gone (the caller then handles it directly).
    @discardableResult
    func watch(pid: Int32, onExit: @escaping @Sendable () -> Void) -> Bool {
        let fd = aegis_pidfd_open(pid, 0)
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

    private func loop(_ epfd: Int32) {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let n = epoll_wait(epfd, &events, Int32(events.count), -1)
            if n < 0 { if errno == EINTR { continue }; return }
            for i in 0..<Int(n) {
                let key = events[i].data.u64
                guard let w = state.withLock({ $0.watches.removeValue(forKey: key) }) else { continue }
                epoll_ctl(epfd, EPOLL_CTL_DEL, w.fd, nil)
                close(w.fd)
                w.onExit()
            }
        }
    }
}

/// A minimal thread wrapper (Foundation's Thread is not used in this module).
final class Thread: @unchecked Sendable {
    private let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        pthread_create(&tid, nil, { arg in
            let me = Unmanaged<Thread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        pthread_detach(tid)
    }
}
