// SecurityContextReader.swift — `spec.securityContext` (runAsUser, runAsGroup, runAsNonRoot) and a
// container's `securityContext`, merged as Kubernetes merges them: the container's own settings win.

import AegisManifest
import AegisOCI
import AegisProtocol

/// The pod-level settings each container inherits.
struct PodSecurityDefaults {
    var runAsUser: Located<UInt32>?
    var runAsGroup: Located<UInt32>?
    var runAsNonRoot: Located<Bool>?
}

extension PodManifestParser {
    /// Largest user or group id Kubernetes accepts (IsValidUserID, IsValidGroupID): 2^31 − 1.
    static let maxID = Int(Int32.max)

    static func readPodSecurity(_ field: Field) throws -> PodSecurityDefaults {
        let f = try field.object(.podSecurityContext)
        return PodSecurityDefaults(
            runAsUser: try readID(f["runAsUser"], "a user id"), runAsGroup: try readID(f["runAsGroup"], "a group id"),
            runAsNonRoot: try readFlag(f["runAsNonRoot"]))
    }

    static func readID(_ field: Field?, _ what: String) throws -> Located<UInt32>? {
        guard let field else { return nil }
        return Located(value: UInt32(try field.int(what, in: 0...maxID)), field: field)
    }

    static func readFlag(_ field: Field?) throws -> Located<Bool>? {
        guard let field else { return nil }
        return Located(value: try field.bool(), field: field)
    }

    /// A container's `securityContext` (absent: the defaults) with `pod` merged in. Defaults:
    /// not privileged, `allowPrivilegeEscalation` false (no_new_privs; true when `privileged`, as
    /// Kubernetes implies), no capabilities, `seccompProfile` RuntimeDefault.
    /// Kubernetes' rules: `privileged: true` with `allowPrivilegeEscalation: false` is an error, so
    /// is adding SYS_ADMIN with `allowPrivilegeEscalation: false`; `runAsNonRoot: true` with an
    /// effective `runAsUser: 0` is an error (the kubelet would refuse to start the container).
    static func readSecurityContext(_ field: Field?, pod: PodSecurityDefaults) throws -> ContainerSecurityContext {
        let f = try field?.object(.securityContext)
        let user = try readID(f?["runAsUser"], "a user id") ?? pod.runAsUser
        let group = try readID(f?["runAsGroup"], "a group id") ?? pod.runAsGroup
        let nonRoot = try readFlag(f?["runAsNonRoot"]) ?? pod.runAsNonRoot
        let privileged = try f?["privileged"]?.bool() ?? false
        let escalation = try readFlag(f?["allowPrivilegeEscalation"])
        let capabilities = try f?["capabilities"].map(readCapabilities) ?? []

        if let escalation, !escalation.value {
            if privileged {
                throw escalation.field.error("privileged: true cannot be combined with allowPrivilegeEscalation: false (Kubernetes' rule)")
            }
            if let sysAdmin = capabilities.first(where: { $0.value == "SYS_ADMIN" }) {
                throw sysAdmin.field.error("SYS_ADMIN cannot be added with allowPrivilegeEscalation: false (Kubernetes' rule)")
            }
        }
        if let nonRoot, nonRoot.value, let user, user.value == 0 {
            throw user.field.error("runAsUser 0 (root) contradicts runAsNonRoot: true (\(nonRoot.field.path))")
        }
        return ContainerSecurityContext(
            privileged: privileged, allowPrivilegeEscalation: escalation?.value ?? privileged,
            readOnlyRootFilesystem: try f?["readOnlyRootFilesystem"]?.bool() ?? false, runAsUser: user?.value,
            runAsGroup: group?.value, runAsNonRoot: nonRoot?.value ?? false, addCapabilities: capabilities.map(\.value),
            seccompProfile: try f?["seccompProfile"].map(readSeccompProfile) ?? "RuntimeDefault")
    }

    /// `capabilities`: `add` holds Linux capability names with or without `CAP_` (upper case, as
    /// the runtimes take them), normalised to without and deduplicated; `ALL` adds every one.
    /// `drop` takes only `[ALL]`: an aegis container starts with no capabilities, so that is the
    /// default, and dropping from nothing means nothing.
    static func readCapabilities(_ field: Field) throws -> [Located<String>] {
        let f = try field.object(.capabilities)
        if let drop = f["drop"] {
            let names = try drop.stringList("a list of capability names")
            guard names.count == 1, names[0].uppercased() == "ALL" else {
                throw drop.error(
                    "only drop: [ALL] is accepted: aegis containers start with no capabilities (that is the default); "
                        + "list what a container needs in capabilities.add")
            }
        }
        var out: [Located<String>] = []
        var seen = Set<String>()
        for item in try f["add"]?.items("a list of capability names") ?? [] {
            let raw = try item.string("a capability name")
            let names = raw.uppercased() == "ALL" ? LinuxCapabilities.knownNames : [raw.hasPrefix("CAP_") ? raw : "CAP_" + raw]
            for name in names {
                guard LinuxCapabilities.number(of: name) != nil else {
                    throw item.error("\(Quantity.quoted(raw)) is not a Linux capability (e.g. NET_BIND_SERVICE, NET_ADMIN, SYS_PTRACE)")
                }
                let short = String(name.dropFirst(4))
                if seen.insert(short).inserted { out.append(Located(value: short, field: item)) }
            }
        }
        return out
    }

    /// `seccompProfile.type`: RuntimeDefault (the default profile of AegisSeccomp) or Unconfined;
    /// Localhost is not supported.
    static func readSeccompProfile(_ field: Field) throws -> String {
        let f = try field.object(.seccompProfile)
        let type = try f.required("type", hint: " (RuntimeDefault or Unconfined)")
        if try type.string("a seccomp profile type") == "Localhost" {
            throw type.error("Localhost is not supported by aegis pod run (RuntimeDefault, Unconfined)")
        }
        return try type.oneOf(["RuntimeDefault", "Unconfined"], "a seccomp profile type")
    }
}
