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
    /// Probes every runtime found on PATH concurrently; returns runtimes in probe order plus warnings.
    static func scan(_ files: HostFiles, path: [String], probes: [RuntimeProbe], timeout: Duration) async
        -> (runtimes: [RuntimeInfo], warnings: [String]) {
        let found: [(Int, RuntimeProbe, String)] = probes.enumerated().compactMap { i, probe in
            files.which(probe.name, path: path).map { (i, probe, $0) }
        }
        var results: [(Int, RuntimeInfo?, String?)] = []
        await withTaskGroup(of: (Int, RuntimeInfo?, String?).self) { group in
            for (i, probe, hostPath) in found {
                group.addTask {
                    let r = await CommandRunner.run(files.real(hostPath), arguments: probe.arguments,
                                                    argv0: probe.name, timeout: timeout)
                    let command = ([probe.name] + probe.arguments).joined(separator: " ")
                    guard r.succeeded else {
                        return (i, nil, "runtime \(probe.name) (\(hostPath)): `\(command)` \(CommandRunner.failureReason(r, timeout: timeout))")
                    }
                    guard let version = extractVersion(r.stdout + "\n" + r.stderr) else {
                        let shown = CommandRunner.firstLine(r.stdout.isEmpty ? r.stderr : r.stdout)
                        return (i, nil, "runtime \(probe.name) (\(hostPath)): no version number in `\(command)` output \"\(shown)\"")
                    }
                    return (i, RuntimeInfo(name: probe.name, version: version, path: hostPath), nil)
                }
            }
            for await r in group { results.append(r) }
        }
        results.sort { $0.0 < $1.0 }
        return (results.compactMap(\.1), results.compactMap(\.2))
    }
}
