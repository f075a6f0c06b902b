// NodeConfigFile.swift — `aegis up`'s configuration file (`--config`, default
// /etc/aegis/config.yaml when it exists), as k3s's config.yaml: a YAML mapping whose keys are the
// command's long flag names without the dashes; values are strings or numbers, `true`/`false`
// for switches, lists for repeatable flags (a single value is a one-item list). The file becomes
// command-line arguments placed before the real ones, so a flag on the command line overrides
// the file (`--no-egress` turns off a file's `egress: true`); for a repeatable flag the command
// line's values replace the file's. An unknown key,
// a list for a flag that takes one value, or a mapping anywhere is an error naming the key and
// its line.
import Foundation
import Yams

/// A configuration file that can't be used: which file, line and key, and why.
public struct NodeConfigFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// 1-based; nil when the file as a whole is the problem.
    public var line: Int?
    public var key: String?
    public var message: String

    public var description: String {
        file + (line.map { ":\($0)" } ?? "") + ": " + (key.map { "\($0): " } ?? "") + message
    }
}

public enum NodeConfigFile {
    /// Read when it exists and no `--config` is given.
    public static let defaultPath = "/etc/aegis/config.yaml"

    /// How a flag takes its value.
    public enum Kind: Sendable { case value, boolean, list }

    /// `aegis up`'s flags a file may set (every flag but `--config`), by key. Tested against
    /// `aegis up --help`, so a new flag can't be missed here.
    public static let keys: [String: Kind] = [
        "data-dir": .value, "role": .value, "join": .value, "token": .value, "token-file": .value,
        "lease-renew-every": .value, "not-ready-after": .value, "down-after": .value, "reschedule-margin": .value,
        "lease-grace": .value, "rejoin": .boolean, "detect-root": .value, "node-cert-validity": .value, "name": .value,
        "api-port": .value, "listen": .value, "label": .list, "allow-unenforced-limits": .boolean, "drain-on-exit": .boolean,
        "cgroup-parent": .value, "egress": .boolean, "egress-subnet": .value, "egress-bridge": .value, "egress-deny": .list,
        "reach": .list, "strategy": .value, "log-level": .value, "log-cap": .value, "output-retention": .value,
        "insecure-registry": .list, "registry-ca": .value, "registry-auth": .value, "local-images": .list,
        "image-gc-high-threshold": .value, "image-gc-low-threshold": .value, "datastore": .value, "datastore-password-file": .value,
        "leader-lease": .value, "leader-renew": .value,
    ]

    /// The file's settings as arguments to put before `commandLine`, and the line of each flag
    /// they set ("--lease-grace" → 7), to say where a value that fails validation came from.
    /// - Parameter commandLine: the command's own arguments (a repeatable flag given there drops
    ///   the file's values of it).
    /// - Throws: `NodeConfigFileError` for YAML that does not parse, a root that is not a mapping,
    ///   an unknown key, or a value of the wrong shape.
    public static func arguments(
        yaml text: String, file: String, commandLine: [String] = []
    ) throws(NodeConfigFileError) -> (arguments: [String], lines: [String: Int]) {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw NodeConfigFileError(file: file, line: nil, key: nil, message: "invalid YAML: \(error)")
        }
        guard let root else { return ([], [:]) }  // an empty file sets nothing
        guard case .mapping(let mapping) = root else {
            throw NodeConfigFileError(
                file: file, line: root.mark.map { $0.line }, key: nil, message: "expected a mapping of flag names to values")
        }
        let given = Set(commandLine.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=", maxSplits: 1)[0]) })
        var arguments: [String] = []
        var lines: [String: Int] = [:]
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            let line = keyNode.mark?.line
            guard case .scalar(let keyScalar) = keyNode else {
                throw NodeConfigFileError(file: file, line: line, key: nil, message: "a key must be a flag name")
            }
            let key = keyScalar.string
            func fail(_ message: String) -> NodeConfigFileError { NodeConfigFileError(file: file, line: line, key: key, message: message) }
            guard let kind = keys[key] else {
                let hint = key.hasPrefix("--") ? " (write the flag name without dashes)" : ""
                throw fail("unknown key: not a flag of `aegis up`\(hint)")
            }
            guard seen.insert(key).inserted else { throw fail("set twice") }
            let flag = "--" + key
            lines[flag] = line
            switch (kind, value) {
            case (.boolean, .scalar(let s)):
                switch s.string {
                case "true": arguments.append(flag)
                case "false": arguments.append("--no-" + key)
                default: throw fail("expected true or false, not \"\(s.string)\"")
                }
            case (.value, .scalar(let s)):
                arguments += [flag, s.string]
            case (.list, .scalar(let s)):
                if !given.contains(flag) { arguments += [flag, s.string] }
            case (.list, .sequence(let items)):
                var values: [String] = []
                for item in items {
                    guard case .scalar(let s) = item else { throw fail("expected a list of values") }
                    values.append(s.string)
                }
                if !given.contains(flag) { arguments += values.flatMap { [flag, $0] } }
            case (.value, .sequence), (.boolean, .sequence):
                throw fail("takes one value, not a list")
            default:
                throw fail("expected a value, not a mapping")
            }
        }
        return (arguments, lines)
    }
}
