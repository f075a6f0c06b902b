// PodPaths.swift — where a pod lives on disk, under the runner's root (default
// /var/lib/aegis/pods, as the kubelet keeps /var/lib/kubelet/pods):
//
//   <root>/<pod>/pod.yaml          the manifest as given (re-read by `describe`)
//   <root>/<pod>/state.json        PodRecord: runner, infra, each container's attempt and history
//   <root>/<pod>/runner.lock       flock(2) of the one runner process serving the pod
//   <root>/<pod>/sandboxes/        SandboxRuntime state of the infra and every container attempt
//   <root>/<pod>/logs/<container>/ stdout.log, stderr.log, capped, kept across restarts
//   <root>/<pod>/volumes/<volume>/ emptyDir volumes (removed with the pod)
//   <root>/<pod>/infra-root/       the infra sandbox's root: /pause (aegis-init) and mount points
//   <root>/<pod>/roots/<container>.<attempt>/  image overlay scratch of one attempt
//   <root>/<pod>/skeletons/<container>/        mount-point layer above the container's image
//   <root>/.image-skeleton         unused by pods (agents' shared skeleton lives with the node)

/// The paths of one pod.
public struct PodPaths: Sendable, Equatable {
    /// The runner's root directory (all pods).
    public var root: String
    public var name: String

    public init(root: String, name: String) {
        self.root = root
        self.name = name
    }

    public var directory: String { root + "/" + name }
    public var manifest: String { directory + "/pod.yaml" }
    public var state: String { directory + "/state.json" }
    public var lock: String { directory + "/runner.lock" }
    public var sandboxes: String { directory + "/sandboxes" }
    public var infraRoot: String { directory + "/infra-root" }
    public func logs(_ container: String) -> String { directory + "/logs/" + container }
    public func volume(_ name: String) -> String { directory + "/volumes/" + name }
    public func scratch(_ container: String, attempt: Int) -> String { directory + "/roots/\(container).\(attempt)" }
    public func skeleton(_ container: String) -> String { directory + "/skeletons/" + container }

    /// The sandbox id of a container's attempt (`<pod>.<container>.<attempt>`) and of the infra
    /// (`<pod>.infra.<generation>`): pod and container names are DNS-1123 labels, so the dots
    /// separate them unambiguously.
    public func sandboxID(_ container: String, attempt: Int) -> String { "\(name).\(container).\(attempt)" }
    public func infraID(generation: Int) -> String { "\(name).infra.\(generation)" }
}
