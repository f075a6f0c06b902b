// PodRunner+Tick.swift — one look at the pod: the infra, each container's exit, the probes, then
// what to start next (init containers in order, sidecars gating until started, then the main
// containers), and the pod's phase.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem

extension PodRunner {
    /// Every container in start order.
    var allContainers: [ContainerSpec] { manifest.spec.initContainers + manifest.spec.containers }

    func tick() throws(PodError) {
        let before = record
        let now = Self.nowMs()
        if !infraRunning() {
            if record.infraGeneration > 0 {
                event("infra \(paths.infraID(generation: record.infraGeneration)) is gone: restarting the whole pod")
                resetAfterInfraLoss()
            }
            do { try startInfra() } catch {
                record.message = error.description
                event("infra could not start: \(error.description)")
                try save()
                return
            }
        }
        for c in allContainers { observe(c, now: now) }
        runProbes(now: now)
        progress(now: now)
        updatePhase()
        if record != before { try save() }
    }

    // MARK: infra

    func infraRunning() -> Bool {
        guard record.infraGeneration > 0, let r = try? sandboxes.record(paths.infraID(generation: record.infraGeneration)) else {
            return false
        }
        return sandboxes.status(r) == .running
    }

    /// /proc/<pid>/ns of the running infra.
    func infraNamespaces() -> String? {
        guard let r = try? sandboxes.record(paths.infraID(generation: record.infraGeneration)) else { return nil }
        return "/proc/\(r.pid)/ns"
    }

    func startInfra() throws(PodError) {
        guard let initPath = sandboxes.initPath else {
            throw PodError(.sandbox, "aegis-init not found next to this executable (or AEGIS_INIT): the infra runs it as /pause")
        }
        try PodContainerProfile.prepareInfraRoot(at: paths.infraRoot, initBinary: initPath)
        let old = paths.infraID(generation: record.infraGeneration)
        if record.infraGeneration > 0 { try? sandboxes.delete(old, force: true) }
        record.infraGeneration += 1
        let id = paths.infraID(generation: record.infraGeneration)
        let spec = PodContainerProfile.infraSpec(
            root: paths.infraRoot, hostname: manifest.spec.hostname ?? paths.name, hostNetwork: manifest.spec.hostNetwork)
        do {
            try sandboxes.create(
                id: id, spec: spec, bundle: paths.infraRoot,
                options: SandboxCreateOptions(stdio: .descriptors(stdin: -1, stdout: -1, stderr: -1)))
        } catch {
            throw PodError(.sandbox, "infra \(id): \(error)", underlying: error)
        }
        event("infra \(id) started (\(manifest.spec.hostNetwork ? "host network" : "own network namespace, loopback only"))")
    }

    /// The infra died: every container goes (the namespaces they joined are gone with it) and the
    /// pod starts over, init containers included, as the kubelet does when a pod sandbox changes.
    func resetAfterInfraLoss() {
        announcedReady = false
        for c in allContainers {
            guard var rec = record[container: c.name] else { continue }
            if rec.attempt > 0 { removeAttempt(c.name, attempt: rec.attempt) }
            rec.phase = .waiting
            rec.reason = "PodSandboxChanged"
            rec.started = false
            rec.ready = false
            rec.notBeforeMs = nil
            rec.lastExitCode = nil
            record[container: c.name] = rec
            probes[c.name] = nil
            killing[c.name] = nil
        }
        record.phase = .pending
    }

    // MARK: exits

    /// Notes the end of a running container: its exit code, why (a kill the runner asked for, an
    /// OOM kill, an error or completion) and the back-off before a restart.
    func observe(_ c: ContainerSpec, now: Int64) {
        guard var rec = record[container: c.name], rec.phase == .running else { return }
        let id = paths.sandboxID(c.name, attempt: rec.attempt)
        if let kill = killing[c.name], now >= kill.deadlineMs, sandboxes.outcome(id) == nil {
            try? sandboxes.kill(id, signal: SIGKILL)
        }
        let alive = (try? sandboxes.record(id)).map { sandboxes.status($0) != .stopped } ?? false
        guard !alive else { return }
        let outcome = (try? sandboxes.wait(id, timeout: .milliseconds(500))) ?? nil
        rec.phase = .terminated
        rec.lastExitCode = outcome?.exitCode ?? -1
        rec.finishedAtMs = now
        rec.started = false
        rec.ready = false
        if let kill = killing[c.name] {
            rec.reason = kill.reason
        } else if outcome?.oomKilled == true {
            rec.reason = "OOMKilled"
        } else {
            rec.reason = rec.lastExitCode == 0 ? "Completed" : "Error"
        }
        killing[c.name] = nil
        probes[c.name] = nil
        let ranMs = now - (rec.startedAtMs ?? now)
        if ranMs >= Int64(options.backoffResetSeconds) * 1000 { rec.backoffSeconds = 0 }
        record[container: c.name] = rec
        event("container \(c.name) attempt \(rec.attempt) ended: exit \(rec.lastExitCode ?? -1) (\(rec.reason ?? ""))")
        removeAttempt(c.name, attempt: rec.attempt)
    }

    /// Deletes an attempt's sandbox (killing what is left) and its overlay scratch; logs stay.
    func removeAttempt(_ name: String, attempt: Int) {
        let id = paths.sandboxID(name, attempt: attempt)
        if (try? sandboxes.record(id)) != nil { try? sandboxes.delete(id, force: true) }
        let scratch = paths.scratch(name, attempt: attempt)
        if access(scratch, F_OK) == 0 { FileSystem.removeTree(scratch) }
    }

    // MARK: what starts next

    /// Whether an ended container starts again: sidecars always (KEP-753), an init container
    /// until it succeeds unless the pod's policy is Never, a main container by the pod's policy.
    func restarts(_ c: ContainerSpec, _ rec: ContainerRecord) -> Bool {
        let failed = rec.lastExitCode != 0
        if c.isSidecar { return true }
        switch manifest.spec.restartPolicy {
        case .always: return manifest.spec.containers.contains(c) || failed
        case .onFailure: return failed
        case .never: return false
        }
    }

    /// Starts what may start now: init containers one at a time (a sidecar holds back what
    /// follows until started, a plain init container until it succeeds), then every main
    /// container.
    func progress(now: Int64) {
        guard record.phase != .terminating, !record.phase.isFinal else { return }
        for c in manifest.spec.initContainers {
            guard let rec = record[container: c.name] else { return }
            if c.isSidecar {
                ensureRunning(c, now: now)
                guard record[container: c.name]?.started == true else { return }
            } else {
                if rec.phase == .terminated && rec.lastExitCode == 0 { continue }
                if rec.phase == .terminated && !restarts(c, rec) { return }  // the pod fails (updatePhase)
                ensureRunning(c, now: now)
                return
            }
        }
        for c in manifest.spec.containers { ensureRunning(c, now: now) }
    }

    /// Starts `c` unless it runs, ended for good, or waits out its back-off.
    func ensureRunning(_ c: ContainerSpec, now: Int64) {
        guard var rec = record[container: c.name], rec.phase != .running else { return }
        if rec.phase == .terminated {
            guard restarts(c, rec) else { return }
            if rec.notBeforeMs == nil { scheduleRestart(&rec, now: now) }
        }
        if let notBefore = rec.notBeforeMs, now < notBefore {
            if rec.phase == .terminated || rec.reason != "CreateContainerError" {
                rec.phase = .waiting
                rec.reason = rec.reason == "CreateContainerError" ? rec.reason : "CrashLoopBackOff"
            }
            record[container: c.name] = rec
            return
        }
        rec.attempt += 1
        if rec.attempt > 1 { rec.restartCount += 1 }
        rec.notBeforeMs = nil
        record[container: c.name] = rec
        do {
            try createContainer(c, attempt: rec.attempt)
            rec.phase = .running
            rec.reason = nil
            rec.message = nil
            rec.startedAtMs = now
            rec.finishedAtMs = nil
            rec.started = c.startupProbe == nil
            rec.ready = c.readinessProbe == nil && rec.started
            probes[c.name] = ProbeTracker(startedAtMs: now)
            event("container \(c.name) attempt \(rec.attempt) started")
        } catch {
            rec.phase = .waiting
            rec.reason = "CreateContainerError"
            rec.message = error.description
            rec.lastExitCode = nil
            scheduleRestart(&rec, now: now)
            event("container \(c.name) attempt \(rec.attempt) could not start: \(error.description)")
        }
        record[container: c.name] = rec
    }

    /// The kubelet's back-off: 10 s, doubling to 5 min (reset after a long enough run, in
    /// `observe`).
    func scheduleRestart(_ rec: inout ContainerRecord, now: Int64) {
        let delay = rec.backoffSeconds == 0 ? options.backoffInitialSeconds : min(rec.backoffSeconds * 2, options.backoffMaxSeconds)
        rec.backoffSeconds = delay
        rec.notBeforeMs = now + Int64(delay) * 1000
    }

    /// Asks a running container to stop (SIGTERM; SIGKILL after `graceSeconds`), recording
    /// `reason` once it ended (a failed probe).
    func kill(_ name: String, reason: String, graceSeconds: Int) {
        guard let rec = record[container: name], rec.phase == .running, killing[name] == nil else { return }
        killing[name] = (Self.nowMs() + Int64(graceSeconds) * 1000, reason)
        try? sandboxes.kill(paths.sandboxID(name, attempt: rec.attempt), signal: SIGTERM)
        event("container \(name): \(reason): stopping it (SIGTERM, SIGKILL after \(graceSeconds) s)")
    }

    // MARK: phase

    func updatePhase() {
        guard record.phase != .terminating, !record.phase.isFinal else { return }
        let recs = manifest.spec.containers.compactMap { record[container: $0.name] }
        let initFailed = manifest.spec.initContainers.contains { c in
            guard !c.isSidecar, let r = record[container: c.name] else { return false }
            return r.phase == .terminated && r.lastExitCode != 0 && !restarts(c, r)
        }
        if initFailed {
            endPhase = .failed
            event("an init container failed and restartPolicy is \(manifest.spec.restartPolicy.rawValue): the pod fails")
            stopRequested = true
            return
        }
        let mainsStarted = recs.allSatisfy { $0.attempt > 0 }
        if !mainsStarted { return }
        let ended = zip(manifest.spec.containers, recs).allSatisfy { c, r in r.phase == .terminated && !restarts(c, r) }
        if ended {
            endPhase = recs.allSatisfy { $0.lastExitCode == 0 } ? .succeeded : .failed
            event("every main container ended: the pod will be \(endPhase?.rawValue ?? "")")
            stopRequested = true  // the sidecars and the infra go as in a stop
        } else {
            record.phase = .running
            let ready = record.containers.filter { c in manifest.spec.containers.contains { $0.name == c.name } || c.phase == .running }
            if !announcedReady && ready.allSatisfy(\.ready) {
                announcedReady = true
                event("pod ready: every container ready")
            }
        }
    }
}
