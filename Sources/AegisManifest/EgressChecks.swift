// EgressChecks.swift — rules for network mode egress shared by manifests and `aegis run`: allowlist
// entries (grammar and always-denied ranges from AegisProtocol's `EgressAllowEntry`), reachability
// labels, and that both need `network: egress`.

import AegisProtocol

extension ManifestLimits {
    /// Most `egress.allow` entries (or `--allow` flags) one workload may carry: each becomes nftables
    /// rules on its node, and host names are resolved when the agent starts.
    public static let maxEgressAllowEntries = 256
    /// Most `requires.reach` labels (or `--reach` flags).
    public static let maxReachLabels = 16
}

extension SpecChecks {
    /// One allowlist entry, `DEST[:PORT[-PORT]][/tcp|/udp]` (see `EgressAllowEntry(parsing:)`).
    /// - Throws: `ManifestError` at `path` naming the entry and what is wrong with it.
    @discardableResult
    static func allowEntry(_ text: String, path: String) throws -> EgressAllowEntry {
        do throws(EgressEntryError) {
            return try EgressAllowEntry(parsing: text)
        } catch {
            throw ManifestError(path: path, message: "\(Quantity.quoted(text)): \(error.problem)")
        }
    }

    /// A reachability label as nodes advertise them: 1-63 of `[a-z0-9.-]`, starting and ending with
    /// a letter or digit ("internet", "corp-vpn", "lab.eu-1").
    static func reachLabel(_ label: String, path: String) throws {
        let u = Array(label.utf8)
        let ok =
            (1...63).contains(u.count) && isLowerAlnum(u[0]) && isLowerAlnum(u[u.count - 1])
            && u.allSatisfy { isLowerAlnum($0) || $0 == 0x2D || $0 == 0x2E }
        guard ok else {
            throw ManifestError(
                path: path,
                message:
                    "\(Quantity.quoted(label)) is not a reach label: use 1-63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. internet, corp-vpn)"
            )
        }
    }

    /// "allowed only with network: egress (network is none)" for settings of egress agents.
    static func egressOnly(network: NetworkMode, setting: String) -> String {
        "allowed only with \(setting) egress (network is \(network.rawValue))"
    }
}
