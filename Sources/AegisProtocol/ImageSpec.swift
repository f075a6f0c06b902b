// ImageSpec.swift — a workload that runs from an OCI image (manifest fields `image`,
// `imagePullPolicy`, `rootfs`; `aegis run --image`).

/// When a worker pulls the image (Kubernetes' `imagePullPolicy`, same names and default).
public enum ImagePullPolicy: String, Codable, Sendable, CaseIterable {
    /// Pull only when the node holds no image of that reference.
    case ifNotPresent = "IfNotPresent"
    /// Pull at every start (unchanged layers and an unchanged rootfs are reused).
    case always = "Always"
    /// Never pull: the node must hold the image (`aegis image pull` there first).
    case never = "Never"

    /// Kubernetes' default: `Always` for a reference with tag `latest` or without tag or digest,
    /// else `IfNotPresent`. Local sources (`oci:`, `oci-archive:`) are files: `IfNotPresent`.
    public static func defaultPolicy(for reference: String) -> ImagePullPolicy {
        if reference.hasPrefix("oci:") || reference.hasPrefix("oci-archive:") { return .ifNotPresent }
        if reference.contains("@") { return .ifNotPresent }
        let lastComponent = reference.split(separator: "/").last.map(String.init) ?? reference
        guard let colon = lastComponent.lastIndex(of: ":") else { return .always }
        return lastComponent[lastComponent.index(after: colon)...] == "latest" ? .always : .ifNotPresent
    }
}

/// How writable an image sandbox's root is.
public enum ImageRootfsMode: String, Codable, Sendable, CaseIterable {
    /// Read-only; /work and /tmp writable (the default).
    case readOnly = "read-only"
    /// A private writable upper layer over the image, discarded with the sandbox.
    case overlay
}

/// The image a workload runs from.
public struct ImageSpec: Codable, Sendable, Equatable {
    /// As `aegis image pull` takes it: `[registry/]repository[:tag][@digest]`, `oci:DIR[:TAG]`,
    /// `oci-archive:FILE[:TAG]`.
    public var reference: String
    public var pullPolicy: ImagePullPolicy
    public var rootfs: ImageRootfsMode
    /// The image's `Entrypoint` runs, followed by the workload's `args` or, when it has none, the
    /// image's `Cmd` (Kubernetes: `args` without `command`). False: `args` is the whole argv.
    public var useEntrypoint: Bool
    /// Replaces the image config's `WorkingDir` (absolute); nil: the image's, else /work.
    public var workingDir: String?
    /// Replaces the image config's `User` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`, resolved in the
    /// image): whose files become the agent's. The agent always runs as its tenant's uid.
    public var user: String?

    public init(reference: String, pullPolicy: ImagePullPolicy? = nil, rootfs: ImageRootfsMode = .readOnly, useEntrypoint: Bool = false) {
        self.reference = reference
        self.pullPolicy = pullPolicy ?? .defaultPolicy(for: reference)
        self.rootfs = rootfs
        self.useEntrypoint = useEntrypoint
    }

    /// The argv of a sandbox from an image whose config says `entrypoint` and `cmd`.
    public func argv(args: [String], entrypoint: [String]?, cmd: [String]?) -> [String] {
        guard useEntrypoint else { return args }
        return (entrypoint ?? []) + (args.isEmpty ? (cmd ?? []) : args)
    }
}
