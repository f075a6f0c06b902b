// SandboxExecProcess.swift — a process `startExec` started inside a sandbox: the caller's child
// (the shim clones it with CLONE_PARENT), watched through a pidfd, waited for with poll and a
// deadline, reaped with waitpid.
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// A running exec'd process. It is this process's child until `wait` reaps it; dropping the object
/// before that kills it (SIGKILL to its process group) and reaps it, so nothing is left behind.
public final class SandboxExecProcess {
    /// Its pid in the runtime's pid namespace (host view).
    public let pid: Int32
    /// A pidfd of it: readable (POLLIN) once it has exited, for a caller's own poll loop.
    public let descriptor: Int32
    private var ended: SandboxExecResult?

    /// Takes over the shim's child `pid`. - Throws: `.system` when no pidfd can be opened (the
    /// child is then killed and reaped).
    init(child pid: Int32) throws {
        // Our own unreaped child: its pid can't be reused, so the pidfd is surely of this process.
        let fd = Syscall.pidfdOpen(pid)
        guard fd >= 0 else {
            let error = SandboxError.system("pidfd_open", "pid \(pid)")
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            throw error
        }
        self.pid = pid
        self.descriptor = fd
    }

    private var detached = false

    deinit {
        if ended == nil && !detached { _ = wait(timeout: .zero) }
        close(descriptor)
    }

    /// Leaves the process running without waiting for it (`runc exec --detach`): dropping the
    /// object no longer kills it. It stays this process's child, so only a caller that exits soon
    /// (the CLI) should detach; its parent is then the reaper above it.
    public func detach() { detached = true }

    /// Sends `signal` through the pidfd (never to a later process with its pid).
    /// - Throws: `.wrongState` once it was reaped, `.system` when the signal can't be sent.
    public func signal(_ signal: Int32) throws {
        guard ended == nil else { throw SandboxError(.wrongState, "exec'd process \(pid) has ended") }
        guard Syscall.pidfdSendSignal(descriptor, signal) == 0 else { throw SandboxError.system("pidfd_send_signal", "pid \(pid)") }
    }

    /// Waits until the process exits, at most `timeout` (wall clock, from this call; nil: no limit),
    /// then kills it and its process group with SIGKILL (it leads one: setsid), so that children it
    /// kept there go with it. Reaps it; later calls return the same result.
    public func wait(timeout: Duration? = nil) -> SandboxExecResult {
        if let ended { return ended }
        var timedOut = false
        if !waitReadable(timeout) {
            timedOut = true
            Glibc.kill(-pid, SIGKILL)  // our unreaped child leads this group: no other group has its id
            _ = Syscall.pidfdSendSignal(descriptor, SIGKILL)
        }
        var status: Int32 = 0
        var rc: Int32
        repeat { rc = waitpid(pid, &status, 0) } while rc < 0 && errno == EINTR
        let signal = rc == pid ? status & 0x7f : 0
        let code: Int32 = rc != pid ? 255 : signal != 0 ? 128 + signal : (status >> 8) & 0xff
        let result = SandboxExecResult(pid: pid, exitCode: code, signal: signal, timedOut: timedOut)
        ended = result
        return result
    }

    /// Polls the pidfd until it is readable (the process exited): true, or false at the deadline.
    private func waitReadable(_ timeout: Duration?) -> Bool {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now.advanced(by: $0) }
        var p = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            // Whole milliseconds, rounded up so that the deadline is never cut short.
            let ms = deadline.map { Duration.pollTimeout(clock.now.duration(to: $0) + .nanoseconds(999_999)) } ?? -1
            let n = Glibc.poll(&p, 1, ms)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return false }
            if let deadline, clock.now >= deadline { return false }
        }
    }
}
