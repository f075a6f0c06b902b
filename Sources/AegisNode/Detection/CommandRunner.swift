// CommandRunner.swift — runs a probe command (`python3 --version`, `nvidia-smi …`) with a deadline.
// The child gets its own process group so that on expiry the whole group (a wrapper script and the
// `sleep` it started) is SIGKILLed and the pipes close; a probe can never hang detection.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import AegisSystem

/// How a probe command ended.
struct CommandResult: Sendable {
    enum Ending: Sendable, Equatable {
        /// exit(2) status.
        case exited(Int32)
        /// Killed by this signal (not by us).
        case signaled(Int32)
        /// The deadline passed; the process group was SIGKILLed.
        case timedOut
        /// posix_spawn (or pipe) failed with this errno.
        case spawnFailed(step: String, errno: Int32)
    }
    var ending: Ending
    var stdout: String
    var stderr: String

    var succeeded: Bool { ending == .exited(0) }
}

/// "5 s", "1.5 s", "800 ms".
func describe(_ duration: Duration) -> String {
    let ms = duration.wholeMilliseconds
    if ms % 1000 == 0 { return "\(ms / 1000) s" }
    if ms >= 1000 { return "\(Double(ms) / 1000) s" }
    return "\(ms) ms"
}

enum CommandRunner {
    /// Per-stream output cap; the rest is read and discarded so the child never blocks on a full pipe.
    static let outputCap = 64 * 1024

    /// Runs `executable` (a real path, already root-prefixed) off the cooperative thread pool.
    static func run(_ executable: String, arguments: [String], argv0: String, timeout: Duration) async -> CommandResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<CommandResult, Never>) in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(executable, arguments: arguments, argv0: argv0, timeout: timeout))
            }
        }
    }

    /// Blocking variant: spawn with stdin = /dev/null and stdout/stderr on pipes, read both until
    /// EOF or the deadline, then reap. On expiry SIGKILL goes to the child's process group.
    static func runBlocking(_ executable: String, arguments: [String], argv0: String, timeout: Duration) -> CommandResult {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        let e1 = GNUCalls.cloexecPipe(&outPipe)
        guard e1 == 0 else {
            return CommandResult(ending: .spawnFailed(step: "pipe2", errno: e1), stdout: "", stderr: "")
        }
        let e = GNUCalls.cloexecPipe(&errPipe)
        guard e == 0 else {
            close(outPipe[0]); close(outPipe[1])
            return CommandResult(ending: .spawnFailed(step: "pipe2", errno: e), stdout: "", stderr: "")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attr, &emptyMask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([argv0] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        if rc != 0 {
            close(outPipe[0]); close(errPipe[0])
            return CommandResult(ending: .spawnFailed(step: "posix_spawn", errno: rc), stdout: "", stderr: "")
        }

        let deadline = ContinuousClock.now.advanced(by: timeout)
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open = [true, true]
        let fds = [outPipe[0], errPipe[0]]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 4096)

        func drain(_ i: Int) {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fds[i], $0.baseAddress, $0.count) }
            if n > 0 {
                if i == 0 {
                    if out.count < outputCap { out.append(contentsOf: buffer[0..<min(n, outputCap - out.count)]) }
                } else if err.count < outputCap {
                    err.append(contentsOf: buffer[0..<min(n, outputCap - err.count)])
                }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                open[i] = false
            }
        }

        var status: Int32 = 0
        var reaped = false
        var exitedAt: ContinuousClock.Instant?
        while open[0] || open[1] {
            let now = ContinuousClock.now
            let remaining = now.duration(to: deadline)
            if remaining <= .zero { timedOut = !reaped; break }
            // The child is gone but something it started (same process group) still holds a pipe:
            // give it a short grace, then stop reading.
            if let exitedAt, exitedAt.duration(to: now) > .milliseconds(200) { break }
            var pfds = (0..<2).map { pollfd(fd: open[$0] ? fds[$0] : -1, events: Int16(POLLIN), revents: 0) }
            let wait = Int32(max(1, min(remaining.wholeMilliseconds, 50)))
            let n = poll(&pfds, 2, wait)
            if n < 0 && errno != EINTR { break }
            for i in 0..<2 where open[i] && pfds[i].revents != 0 { drain(i) }
            if !reaped && waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                exitedAt = ContinuousClock.now
            }
        }

        // SIGKILL the process group (its id is the child's pid, setpgroup 0) on expiry, and after a
        // normal exit when group members still hold the pipes. The number cannot have been reused:
        // the child is unreaped, or the group still has members keeping the id alive.
        if timedOut || open[0] || open[1] {
            kill(-pid, SIGKILL)
        }
        if !reaped {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        close(fds[0]); close(fds[1])

        let ending: CommandResult.Ending
        if timedOut {
            ending = .timedOut
        } else if status & 0x7f == 0 {
            ending = .exited((status >> 8) & 0xff)
        } else {
            ending = .signaled(status & 0x7f)
        }
        return CommandResult(
            ending: ending,
            stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self))
    }

    /// One-line reason for a failed probe ("timed out after 2 s", "exited with status 9: <stderr>").
    static func failureReason(_ result: CommandResult, timeout: Duration) -> String {
        switch result.ending {
        case .exited(let code):
            let detail = firstLine(result.stderr).isEmpty ? firstLine(result.stdout) : firstLine(result.stderr)
            return "exited with status \(code)" + (detail.isEmpty ? "" : ": \(detail)")
        case .signaled(let sig):
            return "killed by signal \(sig)"
        case .timedOut:
            return "timed out after \(describe(timeout)), process group killed"
        case .spawnFailed(let step, let e):
            return "\(step) failed: \(Errno(e))"
        }
    }

    /// First non-empty line, trimmed and cut to 120 characters.
    static func firstLine(_ text: String) -> String {
        let line = text.split(separator: "\n").map { trimmed($0) }.first { !$0.isEmpty } ?? ""
        return line.count > 120 ? String(line.prefix(120)) + "…" : line
    }
}
