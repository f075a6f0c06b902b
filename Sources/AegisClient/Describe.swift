// Describe.swift — `aegis describe ID` and `aegis node describe NAME` as aligned "Key: value"
// text (kubectl-describe style). Pure functions of the API's values plus "now" (Unix ms).
import AegisProtocol

/// Key/value lines with the values aligned; nested sections indent by two.
struct DescribeWriter {
    private(set) var lines: [String] = []
    private var pending: [(indent: Int, key: String, value: String)] = []

    /// "Key:   value" (value may be empty: a section title).
    mutating func field(_ key: String, _ value: String, indent: Int = 0) {
        pending.append((indent, key, value))
    }

    /// A line taken as-is (tables inside a section); flushes the aligned block before it.
    mutating func raw(_ line: String) {
        flush()
        lines.append(line)
    }

    mutating func flush() {
        let width = pending.filter { !$0.value.isEmpty }.map { $0.indent + $0.key.count + 1 }.max() ?? 0
        for p in pending {
            let head = String(repeating: " ", count: p.indent) + p.key + ":"
            lines.append(p.value.isEmpty ? head : head + String(repeating: " ", count: width - head.count + 2) + p.value)
        }
        pending.removeAll()
    }

    mutating func text() -> String {
        flush()
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `aegis describe ID`: identity, state and reason, node, times, restart/timeout/network (with the
/// egress allowlist in network mode egress),
/// resources (each marked "not enforced" when the node could not enforce it), GPUs, requirements,
/// env, inputs, outputs, events.
public func describeWorkload(_ d: WorkloadDetail, nowMs: Int64) -> String {
    let w = d.workload
    let s = w.spec
    var out = DescribeWriter()
    out.field("ID", w.id)
    out.field("Name", s.name)
    out.field("Tenant", s.tenant)
    out.field("State", stateSummary(w))
    if let reason = w.reason, !reason.isEmpty { out.field("Reason", reason) }
    out.field("Node", w.node.map { "\($0) (placement generation \(w.generation))" } ?? "-")
    out.field("Runtime", s.runtime)
    if let image = s.image {
        out.field("Image", "\(image.reference) (pull \(image.pullPolicy.rawValue), rootfs \(image.rootfs.rawValue))")
        out.field(
            "Command",
            image.useEntrypoint ? "the image's Entrypoint, then " + (s.args.isEmpty ? "its Cmd" : shellQuoted(s.args)) : shellQuoted(s.args)
        )
    } else {
        out.field("Command", shellQuoted(s.args))
    }
    out.field(
        "Created", formatTimestamp(ms: w.createdAtMs) + " (\(formatAge(milliseconds: nowMs.saturatingSubtracting(w.createdAtMs))) ago)")
    if let st = w.startedAtMs { out.field("Started", formatTimestamp(ms: st)) }
    if let fin = w.finishedAtMs {
        let ran = w.startedAtMs.map { " (ran \(formatDuration(milliseconds: fin.saturatingSubtracting($0))))" } ?? ""
        out.field("Finished", formatTimestamp(ms: fin) + ran)
    } else if let st = w.startedAtMs, !w.state.isFinal {
        out.field("Running for", formatDuration(milliseconds: nowMs.saturatingSubtracting(st)))
    }
    out.field("Restarts", "\(w.restarts) (policy \(s.restart.rawValue))")
    if s.restart != .never {
        let b = s.restartBackoff ?? .standard
        out.field(
            "Restart back-off",
            "\(formatDuration(milliseconds: Int64(b.initialSeconds).saturatingMultiplied(by: 1000))) doubling to \(formatDuration(milliseconds: Int64(b.maxSeconds).saturatingMultiplied(by: 1000)))"
        )
    }
    if let next = w.nextAttemptAtMs, w.state == .pending {
        let wait = next > nowMs ? "in \(formatDuration(milliseconds: next - nowMs))" : "due now"
        let why = w.reason?.hasPrefix("ImagePullBackOff") == true ? "image pull back-off" : "restart back-off"
        out.field("Next attempt", formatTimestamp(ms: next) + " (\(wait), \(why))")
    }
    out.field("Timeout", s.timeoutSeconds.map { formatDuration(milliseconds: Int64($0).saturatingMultiplied(by: 1000)) } ?? "none")
    out.field("Network", s.network.rawValue)
    if s.network == .egress {
        let allow = s.egress?.allow ?? []
        out.field("Egress allow", allow.isEmpty ? "none (public destinations only)" : "")
        for entry in allow { out.raw("  " + entry) }
    }

    let unenforced = Set(w.unenforcedLimits)
    func mark(_ name: String) -> String { unenforced.contains(name) ? "   (NOT ENFORCED)" : "" }
    let r = s.resources
    out.field("Resources", "")
    out.field("CPU", (r.cpuMillis.map(formatCPU) ?? "no limit") + (r.cpuMillis == nil ? "" : mark("cpu")), indent: 2)
    out.field("Memory", (r.memoryBytes.map(formatBytes) ?? "no limit") + (r.memoryBytes == nil ? "" : mark("memory")), indent: 2)
    out.field("PIDs", (r.pids.map(String.init) ?? "default") + (r.pids == nil ? "" : mark("pids")), indent: 2)
    out.field("GPUs", r.gpus == 0 ? "0" : "\(r.gpus)" + (w.gpus.isEmpty ? "" : ": " + w.gpus.joined(separator: ", ")), indent: 2)
    if !unenforced.isEmpty {
        out.field(
            "Not enforced",
            unenforced.sorted().joined(separator: ", ")
                + " (the node lacks the cgroup controller and runs with --allow-unenforced-limits)")
    }

    let q = s.requires
    let reach = q.reach ?? []
    if !q.runtimes.isEmpty || q.gpu != nil || !q.labels.isEmpty || !reach.isEmpty {
        out.field("Requires", "")
        if !q.runtimes.isEmpty {
            out.field("Runtimes", q.runtimes.map { r in r.version.map { "\(r.name) \($0)" } ?? r.name }.joined(separator: ", "), indent: 2)
        }
        if let g = q.gpu {
            out.field("GPU", [g.vendor, g.model].compactMap { $0 }.joined(separator: " ") + " x\(g.count)", indent: 2)
        }
        if !q.labels.isEmpty {
            out.field("Labels", q.labels.keys.sorted().map { "\($0)=\(q.labels[$0]!)" }.joined(separator: ", "), indent: 2)
        }
        if !reach.isEmpty { out.field("Reach", reach.joined(separator: ", "), indent: 2) }
    }
    if !s.env.isEmpty {
        out.field("Env", "")
        for k in s.env.keys.sorted() { out.field(k, s.env[k]!, indent: 2) }
    }
    out.field(
        "Inputs",
        s.inputs.isEmpty
            ? "none"
            : s.inputs.keys.sorted().map { "\($0) (\(formatBytes(Int64(s.inputs[$0]!.count))))" }.joined(separator: ", "))
    out.field("Output dir", s.outputDir)
    out.field("Outputs", d.outputs.isEmpty ? "none" : "")
    for o in d.outputs.sorted() { out.raw("  " + o) }
    out.field("Events", d.events.isEmpty ? "none" : "")
    if !d.events.isEmpty {
        var t = TextTable(headers: ["TIME", "TYPE", "MESSAGE"])
        for e in d.events { t.add([formatTimestamp(ms: e.timeMs), e.type.rawValue, e.message]) }
        for line in t.render().split(separator: "\n") { out.raw("  " + line) }
    }
    return out.text()
}

/// `aegis node describe NAME`: role and state, allocatable and allocated resources, each GPU
/// (vendor, model, PCI address, index, UUID, memory, device nodes, allocated), runtimes with
/// versions and paths (and those found on the daemon's PATH that agents can't run, with the
/// reason), isolation features (cgroup controllers and which limits they make
/// enforceable, seccomp, user namespaces, kernel, allowUnenforcedLimits), network (egress yes/no
/// with the reason it is unavailable, the egress subnet, egress addresses used/total, reach
/// labels), labels, warnings.
public func describeNode(_ n: NodeInfo) -> String {
    let c = n.capabilities
    var out = DescribeWriter()
    out.field("Name", n.name)
    out.field("Role", n.role.rawValue)
    out.field("State", n.state.rawValue + (n.cordoned ? " (cordoned: no new agents)" : ""))
    out.field("Kernel", c.isolation.kernelVersion.isEmpty ? "unknown" : c.isolation.kernelVersion)
    out.field("Resources", "")
    out.field(
        "CPU",
        "\(formatCPU(c.cpuMillis)) allocatable, \(formatCPU(n.allocated.cpuMillis)) allocated, "
            + "\(formatCPU(c.cpuMillis.saturatingSubtracting(n.allocated.cpuMillis))) free", indent: 2)
    out.field(
        "Memory",
        "\(formatBytes(c.memoryBytes)) allocatable, \(formatBytes(n.allocated.memoryBytes)) allocated, "
            + "\(formatBytes(c.memoryBytes.saturatingSubtracting(n.allocated.memoryBytes))) free", indent: 2)
    out.field("GPUs", "\(c.gpus.count) total, \(n.allocated.gpus.count) allocated", indent: 2)
    out.field("Agents", "\(n.allocated.agents) running", indent: 2)
    if let l = n.live {
        var parts = ["\(l.runningAgents) sandboxes running"]
        if let m = l.memoryAvailableBytes { parts.append("\(formatBytes(m)) memory available") }
        if let load = l.loadMillis { parts.append("load \(formatCPU(load))") }
        out.field("Last renewal", parts.joined(separator: ", "), indent: 2)
    }

    out.field("GPU devices", c.gpus.isEmpty ? "none" : "")
    let allocated = Set(n.allocated.gpus)
    for g in c.gpus {
        out.field(g.pciAddress, allocated.contains(g.pciAddress) ? "allocated" : "free", indent: 2)
        out.field("Vendor", g.vendor, indent: 4)
        out.field("Model", g.model, indent: 4)
        if let i = g.index { out.field("Index", String(i), indent: 4) }
        if let u = g.uuid { out.field("UUID", u, indent: 4) }
        if let m = g.memoryBytes { out.field("Memory", formatBytes(Int64(clamping: m)), indent: 4) }
        out.field("Devices", g.deviceNodes.isEmpty ? "none found" : g.deviceNodes.joined(separator: ", "), indent: 4)
    }

    out.field("Runtimes", c.runtimes.isEmpty ? "none detected" : "")
    let versionWidth = c.runtimes.map(\.version.count).max() ?? 0
    for r in c.runtimes.sorted(by: { $0.name < $1.name }) {
        out.field(r.name, r.version + String(repeating: " ", count: versionWidth - r.version.count + 3) + r.path, indent: 2)
    }
    if let unavailable = c.unavailableRuntimes, !unavailable.isEmpty {
        out.field("Not for agents", "", indent: 2)
        for u in unavailable { out.raw("    " + u.summary) }
    }

    let iso = c.isolation
    let controllers = Set(iso.cgroupControllers)
    out.field("Isolation", "")
    out.field("cgroup v2 controllers", iso.cgroupControllers.isEmpty ? "none" : iso.cgroupControllers.joined(separator: " "), indent: 2)
    let limits = ["cpu", "memory", "pids"].map { "\($0) \(controllers.contains($0) ? "yes" : "NO")" }
    out.field("Enforceable limits", limits.joined(separator: ", "), indent: 2)
    out.field(
        "Unenforced limits",
        iso.allowUnenforcedLimits
            ? "allowed (--allow-unenforced-limits: such limits are accepted and shown as not enforced)"
            : "refused (a limit the node cannot enforce fails the placement)", indent: 2)
    out.field("seccomp", iso.seccomp ? "yes" : "no", indent: 2)
    out.field("User namespaces", iso.userNamespaces ? "yes" : "no", indent: 2)

    let net = c.network ?? NetworkCapability()
    out.field("Network", "")
    if net.egress {
        out.field("Egress", "yes", indent: 2)
    } else {
        let problem = net.egressProblem.flatMap { $0.isEmpty ? nil : $0 }
        out.field("Egress", "no" + (problem.map { " (\($0))" } ?? (c.network == nil ? " (not reported by this node)" : "")), indent: 2)
    }
    if let subnet = net.subnet { out.field("Subnet", subnet, indent: 2) }
    if net.egress || (n.allocated.egressAgents ?? 0) > 0 {
        let used = n.allocated.egressAgents ?? 0
        out.field("Egress addresses", "\(used) used of \(net.egressSlots)", indent: 2)
    }
    out.field("Reach", net.reach.isEmpty ? "none" : net.reach.sorted().joined(separator: ", "), indent: 2)

    out.field("Labels", c.labels.isEmpty ? "none" : "")
    for k in c.labels.keys.sorted() { out.field(k, c.labels[k]!, indent: 2) }
    out.field("Warnings", c.warnings.isEmpty ? "none" : "")
    for w in c.warnings { out.raw("  " + w) }
    return out.text()
}
