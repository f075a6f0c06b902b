// Probes.swift — startup, liveness and readiness probes with Kubernetes' fields and defaults
// (core/v1 Probe; kubelet prober): the first probe `initialDelaySeconds` after the container
// started, then every `periodSeconds`, each allowed `timeoutSeconds`; `failureThreshold` failures
// in a row fail it, `successThreshold` successes in a row pass it. A failed startup or liveness
// probe restarts that container alone; readiness only sets `ready`.
//
// exec runs the command inside the container (SandboxRuntime.exec: its namespaces, cgroup,
// capabilities, seccomp and user) and passes on exit 0 within the timeout.
// httpGet and tcpSocket connect from inside the pod's network namespace (the socket is made on a
// short-lived thread that entered it with setns), so a pod with its own loopback-only namespace is
// probed on that loopback, as the kubelet probes the pod IP. Probes block the runner's loop for at
// most their timeout.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem

/// A probe's progress for one container (in memory only).
struct ProbeTracker: Sendable {
    enum Kind: String, Sendable { case startup, liveness, readiness }

    var startedAtMs: Int64
    var nextMs: [Kind: Int64] = [:]
    var successes: [Kind: Int] = [:]
    var failures: [Kind: Int] = [:]

    init(startedAtMs: Int64) { self.startedAtMs = startedAtMs }

    /// Whether `kind` is due at `now`; if so, schedules the one after.
    mutating func due(_ kind: Kind, _ p: Probe, now: Int64) -> Bool {
        let next = nextMs[kind] ?? startedAtMs + Int64(p.initialDelaySeconds) * 1000
        guard now >= next else { return false }
        nextMs[kind] = now + Int64(p.periodSeconds) * 1000
        return true
    }

    /// Records a result; returns +1 when it passes now, -1 when it fails now, 0 otherwise.
    mutating func record(_ kind: Kind, _ p: Probe, success: Bool) -> Int {
        if success {
            failures[kind] = 0
            successes[kind, default: 0] += 1
            return successes[kind, default: 0] >= p.successThreshold ? 1 : 0
        }
        successes[kind] = 0
        failures[kind, default: 0] += 1
        return failures[kind, default: 0] >= p.failureThreshold ? -1 : 0
    }
}

extension PodRunner {
    /// Runs the probes that are due.
    func runProbes(now: Int64) {
        for c in allContainers {
            guard var rec = record[container: c.name], rec.phase == .running, killing[c.name] == nil,
                var tracker = probes[c.name]
            else { continue }
            if !rec.started, let p = c.startupProbe {
                if tracker.due(.startup, p, now: now) {
                    switch tracker.record(.startup, p, success: probe(p, container: c.name)) {
                    case 1:
                        rec.started = true
                        rec.ready = c.readinessProbe == nil
                        event("container \(c.name): startup probe passed")
                    case -1: kill(c.name, reason: "StartupProbeFailed", graceSeconds: manifest.spec.terminationGracePeriodSeconds)
                    default: break
                    }
                }
            } else if rec.started {
                if let p = c.livenessProbe, tracker.due(.liveness, p, now: now),
                    tracker.record(.liveness, p, success: probe(p, container: c.name)) == -1
                {
                    kill(c.name, reason: "LivenessProbeFailed", graceSeconds: manifest.spec.terminationGracePeriodSeconds)
                }
                if let p = c.readinessProbe, tracker.due(.readiness, p, now: now) {
                    switch tracker.record(.readiness, p, success: probe(p, container: c.name)) {
                    case 1: rec.ready = true
                    case -1: rec.ready = false
                    default: break
                    }
                }
            }
            probes[c.name] = tracker
            record[container: c.name] = rec
        }
    }

    /// One probe: true when it succeeds within its timeout.
    func probe(_ p: Probe, container: String) -> Bool {
        let netns = manifest.spec.hostNetwork ? nil : infraNamespaces().map { $0 + "/net" }
        let timeoutMs = Int32(p.timeoutSeconds * 1000)
        switch p.handler {
        case let .tcpSocket(port, host):
            guard let fd = ProbeSocket.connect(host: host ?? "127.0.0.1", port: port, netns: netns, timeoutMs: timeoutMs) else {
                return false
            }
            close(fd)
            return true
        case let .httpGet(path, port, host, scheme, headers):
            guard scheme == "HTTP" else { return false }
            return ProbeSocket.httpGet(
                host: host ?? "127.0.0.1", port: port, path: path, headers: headers.map { ($0.name, $0.value) }, netns: netns,
                timeoutMs: timeoutMs)
        case let .exec(command):
            // Run inside the container, exactly as confined as its own process (SandboxRuntime.exec).
            guard let rec = record[container: container] else { return false }
            let options = SandboxExecOptions(
                args: command, stdio: .descriptors(stdin: -1, stdout: -1, stderr: -1), timeout: .seconds(p.timeoutSeconds))
            guard let result = try? sandboxes.exec(paths.sandboxID(container, attempt: rec.attempt), options) else { return false }
            return !result.timedOut && result.exitCode == 0
        }
    }
}

/// TCP connections and one HTTP GET for probes.
enum ProbeSocket {
    /// A connected TCP socket to `host:port` (IPv4 literal), made inside the network namespace
    /// `netns` when given; nil when it can't connect within `timeoutMs`.
    static func connect(host: String, port: Int, netns: String?, timeoutMs: Int32) -> Int32? {
        guard let fd = makeSocket(netns: netns) else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            return nil
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            close(fd)
            return nil
        }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard poll(&p, 1, timeoutMs) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0, soError == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// GET `path`; true for a status in 200..<400 within `timeoutMs` (kubelet's rule).
    static func httpGet(host: String, port: Int, path: String, headers: [(String, String)], netns: String?, timeoutMs: Int32) -> Bool {
        let deadline = monotonicMs() + Int64(timeoutMs)
        guard let fd = connect(host: host, port: port, netns: netns, timeoutMs: timeoutMs) else { return false }
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: aegis-probe/1\r\nAccept: */*\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return false }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        while !response.contains(UInt8(ascii: "\n")) && response.count < 4096 {
            let left = deadline - monotonicMs()
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, Int32(left)) == 1 else { return false }
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            response += buf[0..<n]
        }
        let line = String(decoding: response.prefix(while: { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }), as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return false }
        return (200..<400).contains(status)
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    private final class Box {
        var netns: String?
        var fd: Int32 = -1
    }

    /// A non-blocking TCP socket, made in `netns` (setns on a thread of its own, which then ends)
    /// or in this process's namespace.
    static func makeSocket(netns: String?) -> Int32? {
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard let netns else {
            let fd = socket(AF_INET, flags, 0)
            return fd >= 0 ? fd : nil
        }
        let box = Box()
        box.netns = netns
        let ctx = Unmanaged.passRetained(box).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                guard let path = box.netns else { return nil }
                let ns = open(path, O_RDONLY | O_CLOEXEC)
                guard ns >= 0 else { return nil }
                defer { close(ns) }
                guard Syscall.setns(ns, 0x4000_0000 /* CLONE_NEWNET */) == 0 else { return nil }
                box.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                return nil
            }, ctx)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(ctx).release()
            return nil
        }
        pthread_join(tid, nil)
        return box.fd >= 0 ? box.fd : nil
    }
}
