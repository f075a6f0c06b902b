// Render.swift — the human-readable forms: `ps`, `node ls` and `tenant ls` tables, and what
// `aegis run` exits with. Pure functions of the API's values plus "now" (Unix ms), so testable.
import AegisProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The exit status `aegis run` ends with: the agent's exit code; else 128 + its signal (as a shell
/// reports it); else 1 for `failed`, 2 for `lost`/`cancelled`; 0 otherwise.
public func exitStatus(of w: Workload) -> Int32 {
    if let code = w.exitCode { return code }
    if let sig = w.signal { return 128 + sig }
    switch w.state {
    case .failed: return 1
    case .lost, .cancelled: return 2
    default: return 0
    }
}

/// The EXIT column: "0", "137 (OOM)", "sig 9", or "-" while the agent has no result.
public func exitColumn(_ w: Workload) -> String {
    let oom = w.oomKilled ? " (OOM)" : ""
    if let code = w.exitCode { return "\(code)\(oom)" }
    if let sig = w.signal { return "sig \(sig)\(oom)" }
    return w.oomKilled ? "OOM" : "-"
}

/// "failed: exit 137, OOM killed", "succeeded: exit 0", "cancelled: signal 15", "running".
public func stateSummary(_ w: Workload) -> String {
    var details: [String] = []
    if let code = w.exitCode { details.append("exit \(code)") }
    if let sig = w.signal { details.append("signal \(sig)") }
    if w.oomKilled { details.append("OOM killed") }
    return details.isEmpty ? w.state.rawValue : "\(w.state.rawValue): " + details.joined(separator: ", ")
}

/// `aegis ps`: ID, NAME, TENANT, STATE, NODE, AGE (since creation), EXIT.
public func workloadTable(_ items: [Workload], nowMs: Int64) -> String {
    var t = TextTable(headers: ["ID", "NAME", "TENANT", "STATE", "NODE", "AGE", "EXIT"])
    for w in items {
        t.add([
            w.id, w.spec.name, w.spec.tenant, w.state.rawValue, w.node ?? "-",
            formatAge(milliseconds: nowMs.saturatingSubtracting(w.createdAtMs)), exitColumn(w),
        ])
    }
    return t.render()
}

/// `aegis node ls`: NAME, ROLE, STATE, CPU, MEMORY, GPUS (each free/total), RUNTIMES.
public func nodeTable(_ items: [NodeInfo]) -> String {
    var t = TextTable(headers: ["NAME", "ROLE", "STATE", "CPU", "MEMORY", "GPUS", "RUNTIMES"])
    for n in items {
        let c = n.capabilities
        let runtimes = c.runtimes.map { "\($0.name) \($0.version)" }.joined(separator: ", ")
        t.add([
            n.name, n.role.rawValue, n.state.rawValue + (n.cordoned ? ",Cordoned" : ""),
            formatCPU(c.cpuMillis.saturatingSubtracting(n.allocated.cpuMillis)) + "/" + formatCPU(c.cpuMillis),
            formatBytes(c.memoryBytes.saturatingSubtracting(n.allocated.memoryBytes)) + "/" + formatBytes(c.memoryBytes),
            "\(c.gpus.count - n.allocated.gpus.count)/\(c.gpus.count)",
            runtimes.isEmpty ? "-" : runtimes,
        ])
    }
    return t.render()
}

/// `aegis tenant ls`: NAME, UID, then the quota (CPU, MEMORY, GPUS, AGENTS; "-" = unlimited), AGE.
public func tenantTable(_ items: [Tenant], nowMs: Int64) -> String {
    var t = TextTable(headers: ["NAME", "UID", "CPU", "MEMORY", "GPUS", "AGENTS", "AGE"])
    for x in items {
        let q = x.quota
        t.add([
            x.name, String(x.uid), q.cpuMillis.map(formatCPU) ?? "-", q.memoryBytes.map(formatBytes) ?? "-",
            q.gpus.map(String.init) ?? "-", q.runningAgents.map(String.init) ?? "-",
            formatAge(milliseconds: nowMs.saturatingSubtracting(x.createdAtMs)),
        ])
    }
    return t.render()
}

/// Local time "2026-11-29 12:00:05 UTC" for Unix milliseconds (localtime_r + strftime).
public func formatTimestamp(ms: Int64) -> String {
    var t = time_t(ms / 1000)
    var tmv = tm()
    guard localtime_r(&t, &tmv) != nil else { return String(ms) }
    var buf = [CChar](repeating: 0, count: 64)
    let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S %Z", &tmv)
    return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Shell-style quoting for showing a command: words made only of safe characters stay as they
/// are; others are single-quoted (a single quote inside becomes '\'').
public func shellQuoted(_ args: [String]) -> String {
    args.map { a in
        let safe =
            !a.isEmpty
            && a.unicodeScalars.allSatisfy { u in
                (u.value >= 0x30 && u.value <= 0x39) || (u.value >= 0x41 && u.value <= 0x5A)
                    || (u.value >= 0x61 && u.value <= 0x7A) || "-_./=:,+@%".unicodeScalars.contains(u)
            }
        return safe ? a : "'" + a.replacingSingleQuotes() + "'"
    }.joined(separator: " ")
}

extension String {
    fileprivate func replacingSingleQuotes() -> String {
        var out = ""
        for c in self { out += c == "'" ? "'\\''" : String(c) }
        return out
    }
}
