// RuntimeDetection.swift — language runtimes on PATH (under the detection root) with versions.

import AegisProtocol

/// How to ask one runtime for its version: the executable name looked up on PATH and the
/// arguments ("python3" ["--version"]). The version is the first x.y[.z] number in stdout
/// followed by stderr (`java -version` prints to stderr).
public struct RuntimeProbe: Sendable, Equatable, Hashable {
    public var name: String
    public var arguments: [String]

    public init(name: String, arguments: [String]) {
        self.name = name
        self.arguments = arguments
    }

    /// python3, node, deno, bun, ruby, java, go, perl, php, rustc, dotnet.
    public static let defaults: [RuntimeProbe] = [
        RuntimeProbe(name: "python3", arguments: ["--version"]),
        RuntimeProbe(name: "node", arguments: ["--version"]),
        RuntimeProbe(name: "deno", arguments: ["--version"]),
        RuntimeProbe(name: "bun", arguments: ["--version"]),
        RuntimeProbe(name: "ruby", arguments: ["--version"]),
        RuntimeProbe(name: "java", arguments: ["-version"]),
        RuntimeProbe(name: "go", arguments: ["version"]),
        RuntimeProbe(name: "perl", arguments: ["--version"]),
        RuntimeProbe(name: "php", arguments: ["--version"]),
        RuntimeProbe(name: "rustc", arguments: ["--version"]),
        RuntimeProbe(name: "dotnet", arguments: ["--version"]),
    ]
}

/// The first version number "x.y" or "x.y.z" in `text` ("Python 3.11.2" → "3.11.2",
/// "go version go1.22.1 linux/amd64" → "1.22.1", "v20.11.0" → "20.11.0"); nil when none.
/// Components are digit runs; a fourth component is not included. Without any x.y number, a quoted
/// single number after "version" is accepted (`openjdk version "21" 2023-09-19` → "21").
public func extractVersion(_ text: String) -> String? {
    if let dotted = firstDottedNumber(text) { return dotted }
    guard let r = text.firstRange(of: "version \"") else { return nil }
    let digits = text[r.upperBound...].prefix { $0 >= "0" && $0 <= "9" }
    let after = text[r.upperBound...].dropFirst(digits.count).first
    return !digits.isEmpty && after == "\"" ? String(digits) : nil
}

func firstDottedNumber(_ text: String) -> String? {
    let chars = Array(text.unicodeScalars)
    func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
    var i = 0
    while i < chars.count {
        // A number starts at a digit not preceded by a digit or a dot (so "1.2.3.4" is not re-entered mid-way).
        guard isDigit(chars[i]), i == 0 || (!isDigit(chars[i - 1]) && chars[i - 1] != ".") else { i += 1; continue }
        var parts: [String] = []
        var j = i
        while parts.count < 3 {
            var k = j
            while k < chars.count && isDigit(chars[k]) { k += 1 }
            if k == j { break }
            parts.append(String(String.UnicodeScalarView(chars[j..<k])))
            j = k
            guard j + 1 < chars.count, chars[j] == ".", isDigit(chars[j + 1]) else { break }
            j += 1
        }
        if parts.count >= 2 { return parts.joined(separator: ".") }
        i = j + 1
    }
    return nil
}

enum RuntimeScan {
    /// Runtimes as agents see them. Each probe is looked up on the agent's PATH and advertised when
    /// that executable (symlinks resolved) lies in the directories agent sandboxes bind; its version
    /// comes from running it. A probe found on the daemon's `path` somewhere agents can't run it (a
    /// pyenv shim in root's home, a link out of the view) is reported as unavailable with the reason.
    /// Returns runtimes in probe order, the unavailable ones, and warnings of failed probes.
    static func scan(
        _ files: HostFiles, path: [String], view: AgentView, probes: [RuntimeProbe], timeout: Duration
    ) async
        -> (runtimes: [RuntimeInfo], unavailable: [UnavailableRuntime], warnings: [String])
    {
        var found: [(Int, RuntimeProbe, String)] = []
        var unavailable: [UnavailableRuntime] = []
        for (i, probe) in probes.enumerated() {
            let (usable, problems) = locate(probe.name, files: files, daemonPath: path, view: view)
            if let usable { found.append((i, probe, usable)) }
            unavailable += problems
        }
        var results: [(Int, RuntimeInfo?, String?)] = []
        await withTaskGroup(of: (Int, RuntimeInfo?, String?).self) { group in
            for (i, probe, hostPath) in found {
                group.addTask {
                    let (runtime, warning) = await version(probe, files: files, hostPath: hostPath, timeout: timeout)
                    return (i, runtime, warning)
                }
            }
            for await r in group { results.append(r) }
        }
        results.sort { $0.0 < $1.0 }
        return (results.compactMap(\.1), unavailable, results.compactMap(\.2))
    }

    /// Where agents find `name` (a host path on the agent's PATH whose target they can see), and the
    /// copies they can't use: the agent's own hit when it links out of the view, and the daemon's
    /// hit when it differs from the agent's.
    static func locate(
        _ name: String, files: HostFiles, daemonPath: [String], view: AgentView
    )
        -> (usable: String?, unavailable: [UnavailableRuntime])
    {
        var unavailable: [UnavailableRuntime] = []
        var usable: String?
        let agentHit = files.which(name, path: view.path)
        let agentTarget = agentHit.flatMap { files.resolve($0) }
        if let agentHit {
            if let agentTarget, view.contains(agentTarget) {
                usable = agentHit
            } else {
                let to = agentTarget.map { "a link to \($0), " } ?? ""
                unavailable.append(
                    UnavailableRuntime(
                        name: name, path: agentHit,
                        reason: "\(to)not visible to agents (outside \(view.directoryList))"))
            }
        }
        if let daemonHit = files.which(name, path: daemonPath), daemonHit != agentHit {
            let target = files.resolve(daemonHit)
            if target == nil || !view.contains(target!) {
                unavailable.append(
                    UnavailableRuntime(
                        name: name, path: daemonHit,
                        reason: "not visible to agents (outside \(view.directoryList))"))
            } else if target != agentTarget || usable == nil {
                let theirs = usable.map { "; agents run \($0)" } ?? ""
                unavailable.append(
                    UnavailableRuntime(
                        name: name, path: daemonHit,
                        reason: "not on the agents' PATH (\(view.path.joined(separator: ":")))\(theirs)"))
            }
        }
        return (usable, unavailable)
    }

    /// Runs the probe's version command; the runtime, or a warning naming the failure.
    static func version(
        _ probe: RuntimeProbe, files: HostFiles, hostPath: String, timeout: Duration
    ) async
        -> (runtime: RuntimeInfo?, warning: String?)
    {
        let r = await CommandRunner.run(files.real(hostPath), arguments: probe.arguments, argv0: probe.name, timeout: timeout)
        let command = ([probe.name] + probe.arguments).joined(separator: " ")
        guard r.succeeded else {
            return (nil, "runtime \(probe.name) (\(hostPath)): `\(command)` \(CommandRunner.failureReason(r, timeout: timeout))")
        }
        guard let version = extractVersion(r.stdout + "\n" + r.stderr) else {
            let shown = CommandRunner.firstLine(r.stdout.isEmpty ? r.stderr : r.stdout)
            return (nil, "runtime \(probe.name) (\(hostPath)): no version number in `\(command)` output \"\(shown)\"")
        }
        return (RuntimeInfo(name: probe.name, version: version, path: hostPath), nil)
    }
}
