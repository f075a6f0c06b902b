// OCI runtime spec v1.0–1.2, runtime.md § State: the JSON printed by `state <id>`.

/// The lifecycle status of a container (runtime.md § State, `status`).
public enum ContainerStatus: String, Codable, Sendable, Equatable, CaseIterable {
    /// The runtime is executing `create` and has not finished.
    case creating
    /// `create` finished; the user process has not run yet (it waits for `start`).
    case created
    /// The user program has been executed and has not exited.
    case running
    /// The container process has exited.
    case stopped

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let raw = try c.decode(String.self)
        guard let status = ContainerStatus(rawValue: raw) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "unknown status \"\(raw)\" (expected creating, created, running or stopped)"))
        }
        self = status
    }
}

/// The state of a container (runtime.md § State), with the spec's exact keys.
public struct ContainerState: Codable, Sendable, Equatable {
    /// The spec version the state follows.
    public var ociVersion: String
    /// The container ID, unique on this host.
    public var id: String
    public var status: ContainerStatus
    /// Host PID of the container process; REQUIRED while created or running, absent when stopped.
    public var pid: Int32?
    /// Absolute path of the bundle directory.
    public var bundle: String
    /// The annotations of the container's config.json.
    public var annotations: [String: String]?

    public init(
        ociVersion: String = Spec.currentVersion, id: String, status: ContainerStatus, pid: Int32? = nil,
        bundle: String, annotations: [String: String]? = nil
    ) {
        self.ociVersion = ociVersion
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.annotations = annotations
    }

    /// Decodes state JSON; errors are `SpecLoadError`s naming `file`, as for `Spec.decode`.
    public static func decode(_ bytes: [UInt8], file: String = "state.json") throws -> ContainerState {
        try decodeDocument(ContainerState.self, bytes, file: file)
    }

    /// The state as JSON, keys sorted; `pretty` adds indentation.
    public func jsonBytes(pretty: Bool = false) throws -> [UInt8] {
        try encodeDocument(self, pretty: pretty)
    }
}
