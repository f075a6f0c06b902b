// PodSpec.swift — the part of a Kubernetes `v1` Pod that `aegis pod run` honours, after parsing
// and validation (`PodManifestParser`). Field names and defaults are Kubernetes' (core/v1 types,
// kubelet behaviour); a field of the YAML that is not modelled here is refused by the parser, never
// ignored. Quantities are already converted (millicores, bytes) and probe defaults applied.

/// A validated Pod manifest (`apiVersion: v1`, `kind: Pod`).
public struct PodManifest: Sendable, Equatable {
    public var metadata: PodMetadata
    public var spec: PodSpec

    public init(metadata: PodMetadata, spec: PodSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `metadata`: the pod's name (a DNS-1123 label) and its labels and annotations.
public struct PodMetadata: Sendable, Equatable {
    public var name: String
    /// Kept for the operator's eye only (a bare host has no namespaces); default "default".
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]

    public init(name: String, namespace: String = "default", labels: [String: String] = [:], annotations: [String: String] = [:]) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

/// `spec.restartPolicy` (Kubernetes default `Always`).
public enum PodRestartPolicy: String, Sendable, Equatable, CaseIterable {
    case always = "Always", onFailure = "OnFailure", never = "Never"
}

/// `spec`.
public struct PodSpec: Sendable, Equatable {
    /// `hostNetwork`: the containers share the host's network namespace (kubeadm's control-plane
    /// static pods do); false: the pod's own namespace with loopback only.
    public var hostNetwork: Bool
    /// `hostname`: the UTS name in the pod's namespace; default the pod's name.
    public var hostname: String?
    /// `initContainers`, in order. Those with `restartPolicy: Always` are sidecars (KEP-753): they
    /// start in order before the main containers, each gating the next until started, and keep
    /// running; the others run to completion, in order, before anything after them.
    public var initContainers: [ContainerSpec]
    /// `containers`: the main containers, started together once every init container is done.
    public var containers: [ContainerSpec]
    public var volumes: [VolumeSpec]
    public var restartPolicy: PodRestartPolicy
    /// `terminationGracePeriodSeconds` (default 30): SIGTERM, then SIGKILL after this long.
    public var terminationGracePeriodSeconds: Int

    public init(
        hostNetwork: Bool = false, hostname: String? = nil, initContainers: [ContainerSpec] = [],
        containers: [ContainerSpec], volumes: [VolumeSpec] = [], restartPolicy: PodRestartPolicy = .always,
        terminationGracePeriodSeconds: Int = 30
    ) {
        self.hostNetwork = hostNetwork
        self.hostname = hostname
        self.initContainers = initContainers
        self.containers = containers
        self.volumes = volumes
        self.restartPolicy = restartPolicy
        self.terminationGracePeriodSeconds = terminationGracePeriodSeconds
    }

    /// The sidecars (`initContainers` with `restartPolicy: Always`), in start order.
    public var sidecars: [ContainerSpec] { initContainers.filter(\.isSidecar) }
}

/// One container of the pod.
public struct ContainerSpec: Sendable, Equatable {
    public var name: String
    /// An image reference as `aegis image pull` takes it.
    public var image: String
    /// `imagePullPolicy`: "Always", "IfNotPresent" or "Never" (Kubernetes' default: Always for
    /// `:latest` or no tag, IfNotPresent otherwise — applied by the parser).
    public var imagePullPolicy: String
    /// `command`: replaces the image's Entrypoint; nil keeps it.
    public var command: [String]?
    /// `args`: replaces the image's Cmd; nil keeps it.
    public var args: [String]?
    public var workingDir: String?
    /// `env` (`name` + `value`; `valueFrom` is refused), in order.
    public var env: [EnvVar]
    public var ports: [ContainerPort]
    public var volumeMounts: [VolumeMount]
    public var resources: ContainerResources
    public var securityContext: ContainerSecurityContext
    public var startupProbe: Probe?
    public var readinessProbe: Probe?
    public var livenessProbe: Probe?
    /// Only on init containers, only `Always` (a sidecar).
    public var restartPolicy: String?

    public init(
        name: String, image: String, imagePullPolicy: String = "IfNotPresent", command: [String]? = nil,
        args: [String]? = nil, workingDir: String? = nil, env: [EnvVar] = [], ports: [ContainerPort] = [],
        volumeMounts: [VolumeMount] = [], resources: ContainerResources = ContainerResources(),
        securityContext: ContainerSecurityContext = ContainerSecurityContext(), startupProbe: Probe? = nil,
        readinessProbe: Probe? = nil, livenessProbe: Probe? = nil, restartPolicy: String? = nil
    ) {
        self.name = name
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.command = command
        self.args = args
        self.workingDir = workingDir
        self.env = env
        self.ports = ports
        self.volumeMounts = volumeMounts
        self.resources = resources
        self.securityContext = securityContext
        self.startupProbe = startupProbe
        self.readinessProbe = readinessProbe
        self.livenessProbe = livenessProbe
        self.restartPolicy = restartPolicy
    }

    /// An init container that keeps running (KEP-753 native sidecar).
    public var isSidecar: Bool { restartPolicy == "Always" }
}

public struct EnvVar: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `ports[]`: informational except that probes may name them and `hostPort` needs `hostNetwork`
/// (then it must equal `containerPort`, as Kubernetes requires).
public struct ContainerPort: Sendable, Equatable {
    public var name: String?
    public var containerPort: Int
    /// "TCP" (default), "UDP" or "SCTP".
    public var `protocol`: String
    public var hostPort: Int?

    public init(name: String? = nil, containerPort: Int, protocol: String = "TCP", hostPort: Int? = nil) {
        self.name = name
        self.containerPort = containerPort
        self.protocol = `protocol`
        self.hostPort = hostPort
    }
}

/// `volumeMounts[]`.
public struct VolumeMount: Sendable, Equatable {
    public var name: String
    /// Absolute path in the container.
    public var mountPath: String
    public var readOnly: Bool
    /// A relative path inside the volume to mount instead of its root (no `..`, not absolute).
    public var subPath: String?

    public init(name: String, mountPath: String, readOnly: Bool = false, subPath: String? = nil) {
        self.name = name
        self.mountPath = mountPath
        self.readOnly = readOnly
        self.subPath = subPath
    }
}

/// `resources`: limits become the container's cgroup limits; requests are kept for display
/// (a bare host does no admission). Each value is converted by `Quantity`.
public struct ContainerResources: Sendable, Equatable {
    public var limitCPUMillis: Int64?
    public var limitMemoryBytes: Int64?
    public var requestCPUMillis: Int64?
    public var requestMemoryBytes: Int64?

    public init(
        limitCPUMillis: Int64? = nil, limitMemoryBytes: Int64? = nil, requestCPUMillis: Int64? = nil,
        requestMemoryBytes: Int64? = nil
    ) {
        self.limitCPUMillis = limitCPUMillis
        self.limitMemoryBytes = limitMemoryBytes
        self.requestCPUMillis = requestCPUMillis
        self.requestMemoryBytes = requestMemoryBytes
    }
}

/// `securityContext` of a container (with the pod-level `securityContext`'s `runAsUser`,
/// `runAsGroup` and `runAsNonRoot` merged in as Kubernetes does: the container's own win).
/// AEGIS's default is stricter than Docker's: no capabilities at all, no_new_privs, the default
/// seccomp profile.
public struct ContainerSecurityContext: Sendable, Equatable {
    public var privileged: Bool
    /// false (the default here) sets no_new_privs.
    public var allowPrivilegeEscalation: Bool
    public var readOnlyRootFilesystem: Bool
    public var runAsUser: UInt32?
    public var runAsGroup: UInt32?
    public var runAsNonRoot: Bool
    /// `capabilities.add`, as Linux names without the `CAP_` prefix ("NET_BIND_SERVICE").
    public var addCapabilities: [String]
    /// `seccompProfile.type`: "RuntimeDefault" (default) or "Unconfined".
    public var seccompProfile: String

    public init(
        privileged: Bool = false, allowPrivilegeEscalation: Bool = false, readOnlyRootFilesystem: Bool = false,
        runAsUser: UInt32? = nil, runAsGroup: UInt32? = nil, runAsNonRoot: Bool = false, addCapabilities: [String] = [],
        seccompProfile: String = "RuntimeDefault"
    ) {
        self.privileged = privileged
        self.allowPrivilegeEscalation = allowPrivilegeEscalation
        self.readOnlyRootFilesystem = readOnlyRootFilesystem
        self.runAsUser = runAsUser
        self.runAsGroup = runAsGroup
        self.runAsNonRoot = runAsNonRoot
        self.addCapabilities = addCapabilities
        self.seccompProfile = seccompProfile
    }
}

/// A probe with Kubernetes' fields and defaults (core/v1 Probe).
public struct Probe: Sendable, Equatable {
    public enum Handler: Sendable, Equatable {
        /// GET `scheme://host:port/path`; success is a status in 200..<400. `host` nil: the pod's
        /// address (loopback here).
        case httpGet(path: String, port: Int, host: String?, scheme: String, headers: [EnvVar])
        /// A TCP connect to `host:port` succeeds.
        case tcpSocket(port: Int, host: String?)
        /// `command` run in the container exits 0.
        case exec(command: [String])
    }

    public var handler: Handler
    /// Seconds after the container started before the first probe (default 0).
    public var initialDelaySeconds: Int
    /// Seconds between probes (default 10, minimum 1).
    public var periodSeconds: Int
    /// Seconds one probe may take (default 1, minimum 1).
    public var timeoutSeconds: Int
    /// Successes in a row that count as passing after a failure (default 1; must be 1 for
    /// liveness and startup probes).
    public var successThreshold: Int
    /// Failures in a row that count as failing (default 3).
    public var failureThreshold: Int

    public init(
        handler: Handler, initialDelaySeconds: Int = 0, periodSeconds: Int = 10, timeoutSeconds: Int = 1,
        successThreshold: Int = 1, failureThreshold: Int = 3
    ) {
        self.handler = handler
        self.initialDelaySeconds = initialDelaySeconds
        self.periodSeconds = periodSeconds
        self.timeoutSeconds = timeoutSeconds
        self.successThreshold = successThreshold
        self.failureThreshold = failureThreshold
    }
}

/// `volumes[]`.
public struct VolumeSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A directory of the pod's own, empty at pod start, removed with the pod. `medium`
        /// "Memory": a tmpfs of `sizeLimitBytes` (default 64 MiB); "" (default): on disk.
        case emptyDir(medium: String, sizeLimitBytes: Int64?)
        /// A path of the host. `type` is Kubernetes' HostPathType: "" (no check),
        /// "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket".
        case hostPath(path: String, type: String)
    }

    public var name: String
    public var source: Source

    public init(name: String, source: Source) {
        self.name = name
        self.source = source
    }
}
