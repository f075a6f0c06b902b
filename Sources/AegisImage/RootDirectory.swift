// RootDirectory.swift — file operations inside an image rootfs that is being unpacked, with the
// rootfs as "/" for every lookup (openat2 RESOLVE_IN_ROOT): "..", absolute paths and symlinks planted
// by earlier entries resolve inside it, so no entry can reach a file outside. The final component
// of a path is never followed: it is created, replaced or removed in its parent's descriptor.
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

/// A directory treated as the root of every path given to it.
final class RootDirectory {
    let path: String
    let fd: Int32
    /// The last parent directory opened (path → descriptor); not reused once anything is removed
    /// (a removal can replace a directory on that path), closed when the next one is opened.
    private var cachedParent: (path: String, fd: Int32, valid: Bool)?

    /// Directories may be at most this deep below the root (counted on the resolved directory,
    /// so symlinks do not add depth unnoticed): keeps removal and path lengths bounded.
    let maxDepth: Int
    /// Directories this root created (explicit entries and missing parents): they count as entries.
    private(set) var directoriesCreated = 0
    /// Depth below the root of every directory created here, by inode (the root is 0).
    private var depths: [ino_t: Int] = [:]

    init(path: String, maxDepth: Int) throws(ImageError) {
        self.path = path
        self.maxDepth = maxDepth
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError(.io, "open rootfs", underlying: SystemError("open", path)) }
        depths[Self.inode(fd)] = 0
    }

    static func inode(_ fd: Int32) -> ino_t {
        var st = stat()
        return fstat(fd, &st) == 0 ? st.st_ino : 0
    }

    /// Records `child` (a directory just created in `parent`) one level below it; throws
    /// `.limitExceeded` past `maxDepth`.
    func recordCreated(_ child: Int32, in parent: Int32, _ name: String) throws(ImageError) {
        let depth = (depths[Self.inode(parent)] ?? maxDepth) + 1
        guard depth <= maxDepth else {
            throw ImageError(.limitExceeded, "directory \(name) would be \(depth) levels deep in the rootfs (at most \(maxDepth))")
        }
        depths[Self.inode(child)] = depth
        directoriesCreated += 1
    }

    deinit {
        if let c = cachedParent { close(c.fd) }
        close(fd)
    }

    /// Stops reusing the cached parent (its descriptor stays valid for the entry being handled).
    func invalidateCache() { cachedParent?.valid = false }

    /// The directory `components` (relative to the root), created (mode 0755, owned by root) where
    /// missing. The descriptor belongs to the cache: do not close it.
    func directory(_ components: ArraySlice<String>) throws(ImageError) -> Int32 {
        guard !components.isEmpty else { return fd }
        let joined = components.joined(separator: "/")
        if let c = cachedParent, c.valid, c.path == joined { return c.fd }
        let opened = try openOrCreateDirectory(components)
        if let c = cachedParent { close(c.fd) }
        cachedParent = (joined, opened, true)
        return opened
    }

    private func openOrCreateDirectory(_ components: ArraySlice<String>) throws(ImageError) -> Int32 {
        let joined = components.joined(separator: "/")
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC
        let d = Syscall.openat2(fd, joined, flags: flags, resolve: [.inRoot, .noMagicLinks])
        if d >= 0 { return d }
        guard errno == ENOENT else {
            throw ImageError(.unsafeLayer, "directory /\(joined) in the rootfs", underlying: SystemError("openat2", joined))
        }
        // Create what is missing, one component at a time, each resolved in the root again.
        var parent = fd
        var ownsParent = false
        defer { if ownsParent { close(parent) } }
        for i in components.indices {
            let name = components[i]
            let sub = components[components.startIndex...i].joined(separator: "/")
            let created = mkdirat(parent, name, 0o755) == 0
            if !created && errno != EEXIST {
                throw ImageError(.io, "create /\(sub) in the rootfs", underlying: SystemError("mkdirat", sub))
            }
            let next = Syscall.openat2(fd, sub, flags: flags, resolve: [.inRoot, .noMagicLinks])
            guard next >= 0 else {
                throw ImageError(.unsafeLayer, "/\(sub) in the rootfs is not a directory", underlying: SystemError("openat2", sub))
            }
            if created {
                do { try recordCreated(next, in: parent, sub) } catch {
                    close(next)
                    throw error
                }
            }
            if ownsParent { close(parent) }
            parent = next
            ownsParent = true
        }
        ownsParent = false
        return parent
    }

    /// Opens an existing entry at `components` without following its last component (O_PATH).
    func openNoFollow(_ components: [String]) -> Int32 {
        Syscall.openat2(
            fd, components.joined(separator: "/"), flags: Syscall.O_PATH | O_NOFOLLOW | O_CLOEXEC, resolve: [.inRoot, .noMagicLinks])
    }

    /// Removes `name` in `parent` (a whole tree for a directory; never following a link).
    func remove(_ name: String, in parent: Int32) throws(ImageError) {
        invalidateCache()
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw ImageError(.io, "remove \(name) in the rootfs", underlying: SystemError("fstatat", name))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let child = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw ImageError(.io, "remove \(name) in the rootfs", underlying: SystemError("openat", name)) }
            try removeChildren(of: child, keeping: { _ in false })
            guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else {
                throw ImageError(.io, "remove \(name) in the rootfs", underlying: SystemError("unlinkat", name))
            }
        } else if unlinkat(parent, name, 0) != 0 && errno != ENOENT {
            throw ImageError(.io, "remove \(name) in the rootfs", underlying: SystemError("unlinkat", name))
        }
    }

    /// Removes every child of the directory `dir` (which it closes) for which `keeping` is false.
    func removeChildren(of dir: Int32, keeping: (String) -> Bool) throws(ImageError) {
        guard let stream = fdopendir(dir) else {
            close(dir)
            throw ImageError(.io, "list a directory of the rootfs", underlying: SystemError("fdopendir"))
        }
        defer { closedir(stream) }
        for name in FileSystem.entryNames(stream) where !keeping(name) { try remove(name, in: dirfd(stream)) }
    }
}
