// ImageUser.swift — the image config's `User` as ids: `""` (root), `UID`, `UID:GID`, `NAME`,
// `NAME:GROUP` (names looked up in the image's own /etc/passwd and /etc/group, read beneath its
// rootfs: a symlinked /etc/passwd resolves inside the image, never on the host). As Docker and
// podman read it: a user without a group takes its passwd entry's primary group, or 0.
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

public struct ImageUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// Longest /etc/passwd or /etc/group read from an image, bytes.
    static let maxDatabaseBytes = 4 << 20

    /// Resolves `user` (nil or empty: root) against the image unpacked at `rootfs`.
    /// - Throws: `.invalidManifest` naming the user and what is missing or malformed.
    public static func resolve(_ user: String?, rootfs: String) throws(ImageError) -> ImageUser {
        guard let user, !user.isEmpty else { return ImageUser(uid: 0, gid: 0) }
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let what = "image User \"\(user)\""
        var uid: UInt32
        var gid: UInt32?
        if let n = UInt32(parts[0]) {
            uid = n
            gid = try entries(rootfs, "passwd").first { $0.count > 3 && UInt32($0[2]) == n }.flatMap { UInt32($0[3]) }
        } else {
            guard let entry = try entries(rootfs, "passwd").first(where: { $0.count > 3 && $0[0] == parts[0] }),
                let u = UInt32(entry[2]), let g = UInt32(entry[3])
            else { throw ImageError(.invalidManifest, "\(what): no user \"\(parts[0])\" in the image's /etc/passwd") }
            uid = u
            gid = g
        }
        if parts.count == 2 {
            if let n = UInt32(parts[1]) {
                gid = n
            } else {
                guard let entry = try entries(rootfs, "group").first(where: { $0.count > 2 && $0[0] == parts[1] }), let g = UInt32(entry[2])
                else { throw ImageError(.invalidManifest, "\(what): no group \"\(parts[1])\" in the image's /etc/group") }
                gid = g
            }
        }
        return ImageUser(uid: uid, gid: gid ?? 0)
    }

    /// The colon-separated fields of each line of the image's /etc/`name` (none when it has none).
    static func entries(_ rootfs: String, _ name: String) throws(ImageError) -> [[String]] {
        let root = open(rootfs, O_PATH_DIRECTORY)
        guard root >= 0 else { throw ImageError(.io, "open image rootfs \(rootfs)", underlying: SystemError("open", rootfs)) }
        defer { close(root) }
        // Symlinks resolve inside the image; O_NONBLOCK: a FIFO there must not hang the worker.
        let fd = Syscall.openat2(root, "etc/" + name, flags: O_RDONLY | O_CLOEXEC | O_NONBLOCK, resolve: [.inRoot, .noMagicLinks])
        guard fd >= 0 else {
            if errno == ENOENT { return [] }
            throw ImageError(.io, "open /etc/\(name) of the image", underlying: SystemError("openat2", rootfs + "/etc/" + name))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ImageError(.invalidManifest, "/etc/\(name) of the image is not a regular file")
        }
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(fd: fd, path: "/etc/\(name)", limit: maxDatabaseBytes) } catch {
            throw ImageError(.io, "read /etc/\(name) of the image", underlying: error)
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }

    private static let O_PATH_DIRECTORY = Syscall.O_PATH | O_DIRECTORY | O_CLOEXEC
}
