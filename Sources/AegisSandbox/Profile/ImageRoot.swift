// ImageRoot.swift — an agent sandbox whose root is an unpacked OCI image instead of the host's
// system directories.
//
// The root is an overlay mounted inside the sandbox's own mount namespace (never on the host's):
// the lower layers are a small skeleton of mount points (/proc, /dev, /sys, /tmp, /work,
// /etc/resolv.conf) above the image's unpacked rootfs, which the image store shares read-only
// between every sandbox using it and which no sandbox ever writes. Mode `readOnly` has no upper
// layer (a read-only overlay); mode `overlay` adds a private upper of the sandbox's own, so writes
// outside /work and /tmp land there and vanish with the sandbox. The skeleton sits above the
// image: a hostile image's /tmp or /work symlink is hidden behind a plain directory before any
// mount point is resolved (the shim also resolves every mount point beneath the root).
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSystem

public struct ImageRoot: Sendable, Equatable {
    /// How writable the image's root is (manifest field `rootfs`).
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Read-only; only /work and /tmp are writable (the default, as for the host profile).
        case readOnly = "read-only"
        /// A private writable upper layer in a tmpfs of the sandbox's own (`upperSizeBytes`,
        /// charged to its memory cgroup), gone with the sandbox.
        case overlay
    }

    /// The image's unpacked rootfs (the store's; shared, never written).
    public var imageRootfs: String
    /// The skeleton of mount points (`AgentProfile.prepareImageSkeleton`), shared by all sandboxes.
    public var skeleton: String
    /// A directory of this sandbox's own: `root` (the mount point of the overlay) and, in mode
    /// `overlay`, `rw` (where the sandbox mounts the tmpfs holding `upper` and `work`). Created by
    /// `prepare()`.
    public var scratch: String
    public var mode: Mode
    /// The image config's `Env` (`KEY=VALUE`), below the request's own entries.
    public var env: [String]
    /// The image config's `WorkingDir` (absolute), or nil: /work.
    public var workingDir: String?
    /// Whose files in the image become the agent's: through an ID-mapped mount of the image layer
    /// (in the sandbox's mount namespace only), files the image gives to `imageUID`/`imageGID` (its
    /// `User`; 0 when it names none) appear owned by `uid`/`gid`, the agent's; root stays root when
    /// the image user is not root; every other owner appears as the overflow id (65534). Nil: the
    /// image's owners unchanged.
    public var owner: Owner?
    /// Mode `overlay`: the size of the tmpfs holding the upper layer, bytes (everything the agent
    /// writes outside /work and /tmp).
    public var upperSizeBytes: Int64
    /// Default `upperSizeBytes`: 1 GiB (as /tmp's).
    public static let defaultUpperSizeBytes: Int64 = 1 << 30

    /// The image user's ids and the agent's.
    public struct Owner: Sendable, Equatable {
        public var imageUID: UInt32, imageGID: UInt32, uid: UInt32, gid: UInt32
        public init(imageUID: UInt32, imageGID: UInt32, uid: UInt32, gid: UInt32) {
            self.imageUID = imageUID
            self.imageGID = imageGID
            self.uid = uid
            self.gid = gid
        }

        /// "image id → agent id", plus root → root when the image id is not root.
        static func mappings(image: UInt32, agent: UInt32) -> [LinuxIDMapping] {
            let mine = LinuxIDMapping(containerID: image, hostID: agent, size: 1)
            return image == 0 || agent == 0 ? [mine] : [LinuxIDMapping(containerID: 0, hostID: 0, size: 1), mine]
        }
    }

    public init(
        imageRootfs: String, skeleton: String, scratch: String, mode: Mode = .readOnly, env: [String] = [], workingDir: String? = nil,
        owner: Owner? = nil, upperSizeBytes: Int64 = ImageRoot.defaultUpperSizeBytes
    ) {
        self.owner = owner
        self.upperSizeBytes = upperSizeBytes
        self.imageRootfs = imageRootfs
        self.skeleton = skeleton
        self.scratch = scratch
        self.mode = mode
        self.env = env
        self.workingDir = workingDir
    }

    /// The overlay's mount point, the spec's `root.path`.
    public var mountPoint: String { scratch + "/root" }

    /// Checks the paths and creates the scratch directories (mode 0700, root's: the agent never
    /// sees them as such).
    /// - Throws: `SandboxError` naming the directory, or a path holding a character overlayfs gives
    ///   a meaning to (`,` `:` `\`), which would change the layers it stacks.
    public func prepare() throws {
        for p in [imageRootfs, skeleton, scratch] where p.contains(where: { $0 == "," || $0 == ":" || $0 == "\\" }) {
            throw SandboxError(.invalidSpec, "image root: \(p) holds ',', ':' or '\\', which overlayfs options cannot carry")
        }
        var dirs = [scratch, mountPoint]
        if mode == .overlay { dirs.append(upperFileSystem) }
        for d in dirs {
            try SandboxError.os(try FileSystem.makeDirectories(d, mode: 0o700))
        }
    }

    /// Mode `overlay`: where the sandbox mounts the tmpfs holding `upper` and `work`.
    var upperFileSystem: String { scratch + "/rw" }

    /// The spec's first mount: the overlay at "/" (see `LaunchPlan`'s root mount); `prepare()`
    /// checked its paths.
    public func rootMount() -> Mount {
        var options = ["nosuid", "nodev", "lowerdir=\(skeleton):\(imageRootfs)"]
        if mode == .overlay {
            options += [
                "upperdir=\(upperFileSystem)/upper", "workdir=\(upperFileSystem)/work",
                "\(LaunchPlan.tmpfsUpperOption)=\(upperSizeBytes)",
            ]
        }
        guard let owner else { return Mount(destination: "/", type: "overlay", source: "overlay", options: options) }
        return Mount(
            destination: "/", type: "overlay", source: "overlay", options: options,
            uidMappings: Owner.mappings(image: owner.imageUID, agent: owner.uid),
            gidMappings: Owner.mappings(image: owner.imageGID, agent: owner.gid))
    }
}

extension AgentProfile {
    /// Mount points every image sandbox needs, whatever the image holds (or hides there).
    static let skeletonDirectories = ["/proc", "/dev", "/sys", "/tmp", workMount, "/etc"]
    /// Files mounted over (egress's resolver configuration).
    static let skeletonFiles = ["/etc/resolv.conf"]

    /// Creates (once) the skeleton layer of image sandboxes at `path` (see `ImageRoot`).
    /// - Throws: `SandboxError` naming the entry that can't be created.
    public static func prepareImageSkeleton(at path: String) throws {
        try SandboxError.os(try FileSystem.makeDirectories(path, mode: 0o755))
        for dir in skeletonDirectories where mkdir(path + dir, 0o755) != 0 && errno != EEXIST {
            throw SandboxError.system("mkdir", path + dir)
        }
        for file in skeletonFiles {
            let fd = open(path + file, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw SandboxError.system("open", path + file) }
            close(fd)
        }
    }
}
