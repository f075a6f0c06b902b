// PodRunner+Containers.swift — pulling the pod's images, preparing its volumes, and creating one
// container attempt as a sandbox.
#if canImport(Glibc)
import Glibc
#endif
import AegisImage
import AegisOCI
import AegisSandbox
import AegisSystem

extension PodRunner {
    /// Resolves every container's image by its `imagePullPolicy` (Always: pulled; IfNotPresent:
    /// pulled when missing; Never: must be in the store) and prepares the volumes, before anything
    /// starts. Restarts reuse the resolved image (the kubelet pulls again for Always).
    /// - Throws: `PodError(.image)` naming the container and image; `.volume`.
    func pullImages() async throws(PodError) {
        try prepareVolumes()
        var byReference: [String: ImageRecord] = [:]
        for c in allContainers {
            if let done = byReference[c.image + "\u{0}" + c.imagePullPolicy] {
                pulled[c.name] = done
                continue
            }
            let image: ImageRecord
            do {
                if c.imagePullPolicy != "Always", let found = try images.find(c.image) {
                    image = found
                } else if c.imagePullPolicy == "Never" {
                    throw ImageError(.notFound, "not in the image store (\(options.imageRoot)) and imagePullPolicy is Never")
                } else {
                    event("pulling image \(c.image) for container \(c.name)")
                    image = try await images.pull(c.image, options: options.registry)
                }
            } catch {
                record.message = "container \(c.name): image \(c.image): \(error)"
                try? save()
                throw PodError(.image, "container \(c.name): image \(c.image): \(error)", underlying: error)
            }
            byReference[c.image + "\u{0}" + c.imagePullPolicy] = image
            pulled[c.name] = image
        }
    }

    /// emptyDir volumes as directories of the pod (mode 0777, as Kubernetes makes them), hostPath
    /// volumes checked or created by their `type`.
    /// - Throws: `PodError(.volume)` naming the volume.
    func prepareVolumes() throws(PodError) {
        for v in manifest.spec.volumes {
            switch v.source {
            case .emptyDir:
                let dir = paths.volume(v.name)
                do {
                    try FileSystem.makeDirectories(dir, mode: 0o777)
                    guard chmod(dir, 0o777) == 0 else { throw SystemError("chmod", dir) }
                } catch {
                    throw PodError(.volume, "volume \(v.name) (emptyDir): \(error)", underlying: error)
                }
            case let .hostPath(path, type):
                try Self.checkHostPath(volume: v.name, path: path, type: type)
            }
        }
    }

    /// Kubernetes' HostPathType checks (and the creation the *OrCreate types do).
    static func checkHostPath(volume: String, path: String, type: String) throws(PodError) {
        var st = stat()
        let exists = stat(path, &st) == 0
        let kind = st.st_mode & S_IFMT
        let what = "volume \(volume) (hostPath \(path), type \(type.isEmpty ? "\"\"" : type))"
        switch type {
        case "DirectoryOrCreate":
            if !exists {
                do { try FileSystem.makeDirectories(path, mode: 0o755) } catch {
                    throw PodError(.volume, "\(what): \(error)", underlying: error)
                }
            } else if kind != S_IFDIR {
                throw PodError(.volume, "\(what): exists and is not a directory")
            }
        case "Directory":
            guard exists, kind == S_IFDIR else { throw PodError(.volume, "\(what): no such directory") }
        case "FileOrCreate":
            if !exists {
                let fd = open(path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw PodError(.volume, "\(what): \(SystemError("create", path))") }
                close(fd)
            } else if kind != S_IFREG {
                throw PodError(.volume, "\(what): exists and is not a regular file")
            }
        case "File":
            guard exists, kind == S_IFREG else { throw PodError(.volume, "\(what): no such regular file") }
        case "Socket":
            guard exists, kind == S_IFSOCK else { throw PodError(.volume, "\(what): no such unix socket") }
        default:
            break
        }
    }

    /// Host directory (or file) of each volume by name.
    var volumeSources: [String: String] {
        var out: [String: String] = [:]
        for v in manifest.spec.volumes {
            switch v.source {
            case .emptyDir: out[v.name] = paths.volume(v.name)
            case let .hostPath(path, _): out[v.name] = path
            }
        }
        return out
    }

    /// The uid/gid the container runs as: runAsUser/runAsGroup, else the image's `User` resolved
    /// in its own /etc/passwd and /etc/group (root when it names none).
    /// - Throws: `PodError(.sandbox)` when the user can't be resolved, or is root under
    ///   runAsNonRoot (the kubelet's CreateContainerConfigError).
    func user(of c: ContainerSpec, image: ImageRecord, rootfs: String) throws(PodError) -> ImageUser {
        let s = c.securityContext
        var text = image.config.config?.User
        if let uid = s.runAsUser { text = "\(uid)" + (s.runAsGroup.map { ":\($0)" } ?? "") }
        var user: ImageUser
        do { user = try ImageUser.resolve(text, rootfs: rootfs) } catch {
            throw PodError(.sandbox, "container \(c.name): \(error)", underlying: error)
        }
        if let gid = s.runAsGroup { user.gid = gid }
        if s.runAsNonRoot && user.uid == 0 {
            throw PodError(.sandbox, "container \(c.name): securityContext.runAsNonRoot is true and it would run as root (uid 0)")
        }
        return user
    }

    /// Creates and starts attempt `attempt` of `c`.
    /// - Throws: `PodError` naming the container and the cause; nothing of the attempt is left.
    func createContainer(_ c: ContainerSpec, attempt: Int) throws(PodError) {
        guard let image = pulled[c.name] else { throw PodError(.image, "container \(c.name): image \(c.image) was not resolved") }
        guard let namespaces = infraNamespaces() else { throw PodError(.sandbox, "container \(c.name): the infra is not running") }
        let rootfs = images.rootfsPath(image)
        let config = image.config.config
        _ = try PodContainerProfile.argv(c, entrypoint: config?.Entrypoint, cmd: config?.Cmd)
        let runAs = try user(of: c, image: image, rootfs: rootfs)
        let sources = volumeSources
        var fileMounts = Set<String>()
        for m in c.volumeMounts {
            var st = stat()
            if let src = sources[m.name], stat(src, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR { fileMounts.insert(m.mountPath) }
        }
        try PodContainerProfile.prepareSkeleton(c, at: paths.skeleton(c.name), fileMounts: fileMounts)
        let scratch = paths.scratch(c.name, attempt: attempt)
        let root = ImageRoot(
            imageRootfs: rootfs, skeleton: paths.skeleton(c.name), scratch: scratch,
            mode: c.securityContext.readOnlyRootFilesystem ? .readOnly : .overlay,
            env: config?.Env ?? [], workingDir: config?.WorkingDir.flatMap { $0.hasPrefix("/") ? $0 : nil })
        let inputs = PodContainerInputs(
            image: image, imageRootfs: rootfs, skeleton: paths.skeleton(c.name), scratch: scratch, infraNamespaces: namespaces,
            hostNetwork: manifest.spec.hostNetwork, volumes: sources, hostname: manifest.spec.hostname ?? paths.name)
        var spec = PodContainerProfile.spec(c, inputs, user: runAs, root: root)
        try checkLimits(c, &spec)
        do {
            try root.prepare()
            try FileSystem.makeDirectories(paths.logs(c.name), mode: 0o700)
            try sandboxes.create(
                id: paths.sandboxID(c.name, attempt: attempt), spec: spec, bundle: scratch,
                options: SandboxCreateOptions(
                    stdio: .cappedLogs(directory: paths.logs(c.name), capBytes: options.logCapBytes), useInit: true))
        } catch {
            FileSystem.removeTree(scratch)
            throw PodError(.sandbox, "container \(c.name): \(error)", underlying: error)
        }
    }

    /// `resources.limits` the host's cgroup v2 can't enforce (no memory or cpu controller where
    /// the pod's cgroup is): an error, or with `allowUnenforcedLimits` dropped from the spec.
    func checkLimits(_ c: ContainerSpec, _ spec: inout Spec) throws(PodError) {
        let available = sandboxes.cgroups.availableControllers()
        var missing: [String] = []
        if c.resources.limitMemoryBytes != nil && !available.contains("memory") { missing.append("memory") }
        if c.resources.limitCPUMillis != nil && !available.contains("cpu") { missing.append("cpu") }
        guard !missing.isEmpty else { return }
        let fields = missing.map { "resources.limits.\($0)" }.joined(separator: ", ")
        guard options.allowUnenforcedLimits else {
            throw PodError(
                .unenforceable,
                "container \(c.name): \(fields): this host's cgroup v2 has no \(missing.joined(separator: "/")) controller for the pod (aegis pod run --allow-unenforced-limits starts it without)"
            )
        }
        if missing.contains("memory") { spec.linux?.resources?.memory = nil }
        if missing.contains("cpu") { spec.linux?.resources?.cpu = nil }
        event("container \(c.name): \(fields) not enforced (no controller; --allow-unenforced-limits)")
    }
}
