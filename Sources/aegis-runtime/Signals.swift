// Signals.swift — signal names and `run`'s forwarding loop (poll on the supervisor's pidfd and a
// signalfd: single-threaded, no handlers).
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import CAegisSys  // <sys/signalfd.h>: signalfd, signalfd_siginfo
import AegisSystem

enum Signals {
    /// Forwarded by `run` to the container, as runc does for a foreground container.
    static let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]

    static let names: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2,
        "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "STKFLT": SIGSTKFLT, "CHLD": SIGCHLD, "CONT": SIGCONT,
        "STOP": SIGSTOP, "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU,
        "XFSZ": SIGXFSZ, "VTALRM": SIGVTALRM, "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "PWR": SIGPWR,
        "SYS": SIGSYS,
    ]

    /// "SIGTERM", "TERM", "15" → 15.
    static func number(_ text: String) -> Int32? {
        if let n = Int32(text), n > 0, n < 65 { return n }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
        return names[name]
    }

    /// Waits for the sandbox's supervisor to exit while forwarding the blocked `signals`; returns
    /// the container's exit status (128+N for a signal, 255 when no outcome was recorded).
    static func waitForwarding(_ rt: SandboxRuntime, record: SandboxRecord, signals: sigset_t) -> Int32 {
        var set = signals
        let sfd = signalfd(-1, &set, Int32(SFD_CLOEXEC))
        let pfd = Syscall.pidfdOpen(record.supervisorPid)
        if pfd >= 0 && sfd >= 0 {
            var fds = [pollfd(fd: pfd, events: Int16(POLLIN), revents: 0), pollfd(fd: sfd, events: Int16(POLLIN), revents: 0)]
            while true {
                if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; break }
                if fds[0].revents != 0 { break }
                if fds[1].revents != 0 {
                    var info = signalfd_siginfo()
                    if read(sfd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                        try? rt.kill(record.id, signal: Int32(info.ssi_signo))
                    }
                }
            }
        }
        if pfd >= 0 { close(pfd) }
        if sfd >= 0 { close(sfd) }
        guard let outcome = try? rt.wait(record.id, timeout: .seconds(5)) else { return 255 }
        if let e = outcome.error {
            Globals.log(level: "error", "\(e.step): errno \(e.errno): \(e.detail)")
            let line = "aegis-runtime: \(e.step): errno \(e.errno): \(e.detail)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        return outcome.exitCode
    }
}
