#if canImport(Glibc)
import Glibc
#endif

/// What `Cgroup2Manager.prepare()` does (or did). Cgroup paths are in `/proc/self/cgroup` form
/// (leading slash, relative to the cgroup2 mount point).
public enum CgroupPreparePlan: Sendable, Equatable {
    /// No process has to move; `reason` says why (root cgroup, already moved, nothing to enable…).
    case nothingToDo(reason: String)
    /// Move the calling process (only it) from `from` into the leaf `to` = `from` + "/supervisor".
    case moveSelf(from: String, to: String)
}

/// Creates and adopts one cgroup v2 leaf per sandbox under a parent cgroup.
///
/// Layout (default): the runtime's own cgroup `<own>` gets two children, `<own>/aegis/<id>` for
/// sandboxes and, when needed, `<own>/supervisor` holding the runtime process itself.
///
/// Rules (kernel Documentation/admin-guide/cgroup-v2.rst):
/// - "No Internal Process Constraint": a non-root cgroup can enable controllers in
///   `cgroup.subtree_control` only while it has no processes of its own. The root cgroup is exempt.
///   `prepare()` therefore moves the calling process — and never any other process — into a leaf.
/// - "Enabling and Disabling": a controller can be enabled in a cgroup's `cgroup.subtree_control`
///   only if listed in its `cgroup.controllers`, so `create` enables controllers top-down in every
///   ancestor from the hierarchy root to the leaf's parent (never in the leaf itself).
/// - "Delegation Containment" / "Processes": the leaf is the unit of kill (`cgroup.kill`, ≥ 5.14),
///   freeze (`cgroup.freeze`) and membership (`cgroup.procs`, CLONE_INTO_CGROUP).
public final class Cgroup2Manager: Sendable {
    /// Mount point of the cgroup2 hierarchy, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`.
    public let root: String
    /// The sandboxes' parent cgroup relative to `root`, without leading slash ("" = the root).
    public let parent: String
    /// Controllers enabled for every leaf when available (for accounting files such as
    /// memory.events or memory.peak), without being required; empty by default.
    public let opportunisticControllers: [String]
    /// EBUSY retries for `cgroup.subtree_control`, limit writes and rmdir.
    public let busyRetry: BusyRetry
    let fs: any CgroupFileSystem
    let ownCgroupReader: @Sendable () throws(CgroupError) -> String

    /// Name of the sandboxes' parent under the runtime's own cgroup.
    public static let defaultParentName = "aegis"
    /// Name of the leaf the runtime process moves into (see `prepare()`).
    public static let supervisorLeafName = "supervisor"
    /// Controllers whose files this module writes.
    public static let limitControllers = ["memory", "cpu", "pids"]

    /// - Parameters:
    ///   - root: the cgroup2 mount point (see `Cgroup2Hierarchy.find`).
    ///   - parent: sandboxes' parent relative to `root`; nil = `<own cgroup>/aegis`, where a trailing
    ///     `/supervisor` of the own cgroup (left by an earlier `prepare()`) is dropped first.
    ///   - ownCgroup: reads the calling process's cgroup path (`/proc/self/cgroup` by default);
    ///     injectable for tests of `plan()`.
    /// - Throws: `CgroupError` when `parent` contains "." or "..", or the own cgroup cannot be read.
    public init(
        root: String,
        parent: String? = nil,
        opportunisticControllers: [String] = [],
        busyRetry: BusyRetry = .default,
        fileSystem: any CgroupFileSystem = SystemCgroupFileSystem(),
        ownCgroup: @escaping @Sendable () throws(CgroupError) -> String = { () throws(CgroupError) -> String in
            try Cgroup2Hierarchy.ownCgroup()
        }
    ) throws(CgroupError) {
        var trimmedRoot = root
        while trimmedRoot.count > 1 && trimmedRoot.hasSuffix("/") { trimmedRoot.removeLast() }
        self.root = trimmedRoot
        if let parent {
            self.parent = try CgroupPath.relative(parent)
        } else {
            self.parent = try CgroupPath.relative(Self.defaultParent(forOwnCgroup: try ownCgroup()))
        }
        self.opportunisticControllers = opportunisticControllers
        self.busyRetry = busyRetry
        self.fs = fileSystem
        self.ownCgroupReader = ownCgroup
    }

    /// A manager on this host's cgroup2 mount (from /proc/self/mountinfo) with the default parent.
    public static func system(parent: String? = nil) throws(CgroupError) -> Cgroup2Manager {
        try Cgroup2Manager(root: try Cgroup2Hierarchy.find(), parent: parent)
    }

    /// `<own>/aegis`, or `<base>/aegis` when `own` is `<base>/supervisor`. Leading-slash form.
    public static func defaultParent(forOwnCgroup own: String) -> String {
        var base = own
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/" + supervisorLeafName) {
            base.removeLast(supervisorLeafName.count + 1)
            if base.isEmpty { base = "/" }
        }
        return base == "/" ? "/" + defaultParentName : base + "/" + defaultParentName
    }

    /// Absolute path of the parent cgroup.
    public var parentPath: String { CgroupPath.join(root, parent) }

    /// Absolute path the leaf for `id` has (whether or not it exists).
    public func leafPath(id: String) -> String { CgroupPath.join(parentPath, id) }

    /// Controllers that leaves under `parent` could use: the `cgroup.controllers` of the parent, or
    /// of its nearest existing ancestor when the parent does not exist yet. Empty if unreadable.
    public func availableControllers() -> Set<String> {
        var rel = parent
        while true {
            let dir = CgroupPath.join(root, rel)
            if fs.exists(dir) {
                guard let text = try? fs.read(dir + "/cgroup.controllers") else { return [] }
                return Set(words(text))
            }
            if rel.isEmpty { return [] }
            rel = CgroupPath.parent(rel)
        }
    }

    // MARK: - prepare

    /// Decides whether the calling process must leave its own cgroup so controllers can be enabled
    /// below it. It must when all hold: the own cgroup is not the root (exempt), it is an ancestor
    /// of (or equal to) `parent`, its `cgroup.procs` is non-empty, and one of memory/cpu/pids (or an
    /// opportunistic controller) is listed in the hierarchy root's `cgroup.controllers` (`create`
    /// enables controllers top-down from there, so any of them may be needed below the own cgroup).
    public func plan() throws(CgroupError) -> CgroupPreparePlan {
        let own = try CgroupPath.relative(try ownCgroupReader())
        if own.isEmpty {
            return .nothingToDo(reason: "the runtime is in the root cgroup, which is exempt from the no-internal-processes rule")
        }
        guard parent == own || parent.hasPrefix(own + "/") else {
            return .nothingToDo(reason: "own cgroup /\(own) is not an ancestor of the sandbox parent /\(parent)")
        }
        let ownPath = CgroupPath.join(root, own)
        let procs = parsePids(try fs.read(ownPath + "/cgroup.procs"))
        if procs.isEmpty {
            return .nothingToDo(reason: "own cgroup /\(own) holds no processes")
        }
        // create() enables controllers top-down from the hierarchy root, so whatever the root offers
        // may have to be enabled in the own cgroup's subtree_control.
        let rootList = (root == "/" ? "" : root) + "/cgroup.controllers"
        let available = Set(words(try fs.read(rootList)))
        let wanted = Self.limitControllers + opportunisticControllers
        if !wanted.contains(where: available.contains) {
            return .nothingToDo(reason: "none of \(wanted.joined(separator: ", ")) is available in \(rootList)")
        }
        return .moveSelf(from: "/" + own, to: "/" + own + "/" + Self.supervisorLeafName)
    }

    /// Carries out `plan()`: creates `<own>/supervisor` and writes the calling process's pid to its
    /// `cgroup.procs`. Idempotent: once moved, the own cgroup is no longer an ancestor of `parent`.
    /// - Throws: `CgroupError` on mkdir/write failures, and `.syscall` with errno EBUSY when the own
    ///   cgroup still holds processes this runtime did not start after the move (they are never moved;
    ///   their pids are listed).
    @discardableResult
    public func prepare() throws(CgroupError) -> CgroupPreparePlan {
        let plan = try plan()
        guard case .moveSelf(let from, let to) = plan else { return plan }
        let dest = CgroupPath.join(root, try CgroupPath.relative(to))
        if !fs.exists(dest) {
            do { try fs.makeDirectory(dest) } catch  where error.errno == EEXIST {}
        }
        let me = String(getpid())
        try busyRetry.run { () throws(CgroupError) in try fs.write(dest + "/cgroup.procs", me) }
        let ownPath = CgroupPath.join(root, try CgroupPath.relative(from))
        let others = parsePids(try fs.read(ownPath + "/cgroup.procs")).filter { $0 != getpid() }
        if !others.isEmpty {
            let list = others.map(String.init).joined(separator: ", ")
            throw CgroupError(
                code: .syscall, path: ownPath, errno: EBUSY,
                description:
                    "cgroup: moved the runtime into \(dest), but \(ownPath) still holds processes it did not start (pids \(list)); controllers cannot be enabled below it (cgroup-v2.rst \"No Internal Process Constraint\") and those processes are not moved"
            )
        }
        return plan
    }

    // MARK: - create / open

    /// Creates the leaf `<parent>/<id>` and writes `limits` into it.
    ///
    /// Steps: validate; refuse an existing leaf; for each ancestor from the hierarchy root to
    /// `parent` create it if missing, check every required controller is listed in its
    /// `cgroup.controllers`, and enable the missing ones in its `cgroup.subtree_control` (EBUSY is
    /// retried per `busyRetry`); mkdir the leaf; write memory.max, memory.swap.max, cpu.max,
    /// cpu.weight, pids.max (those that are set). On any failure every directory this call created is
    /// removed (controllers it enabled in pre-existing ancestors stay enabled).
    /// - Throws: `.invalidArgument` (id, limit values), `.duplicate`, `.controllerUnavailable` naming
    ///   the controller and the `cgroup.controllers` file, `.syscall` naming file and errno.
    /// - Parameter path: the leaf's path below `parent` instead of `id` (OCI `linux.cgroupsPath`,
    ///   leading slash optional); every component is checked as an id, so ".." can't leave `parent`.
    ///   Missing directories on the way are created (and removed again on failure).
    public func create(id: String, path: String? = nil, limits: CgroupLimits = .none) throws(CgroupError) -> SandboxCgroup {
        try Self.validate(id: id)
        let sub = try path.map { (p: String) throws(CgroupError) -> [String] in try Self.validate(subpath: p) } ?? [id]
        try limits.validate()
        let leafUnderParent = sub.joined(separator: "/")
        let leafRel = parent.isEmpty ? leafUnderParent : parent + "/" + leafUnderParent
        let leaf = CgroupPath.join(root, leafRel)
        if fs.exists(leaf) { throw duplicate(leaf) }

        let required = limits.requiredControllers
        var ancestors = [""]
        var prefix = ""
        for part in try CgroupPath.components(parent) + sub.dropLast() {
            prefix = prefix.isEmpty ? part : prefix + "/" + part
            ancestors.append(prefix)
        }

        var created: [String] = []
        do throws(CgroupError) {
            for rel in ancestors {
                let dir = CgroupPath.join(root, rel)
                if !rel.isEmpty && !fs.exists(dir) {
                    do throws(CgroupError) {
                        try fs.makeDirectory(dir)
                        created.append(dir)
                    } catch  where error.errno == EEXIST {}
                }
                try enableControllers(in: dir, required: required)
            }
            do throws(CgroupError) {
                try fs.makeDirectory(leaf)
            } catch  where error.errno == EEXIST {
                throw duplicate(leaf)
            }
            created.append(leaf)
            for setting in limits.settings {
                let file = leaf + "/" + setting.file
                do throws(CgroupError) {
                    try busyRetry.run { () throws(CgroupError) in try fs.write(file, setting.value) }
                } catch  where error.errno == ENOENT {
                    throw error.adding(
                        hint:
                            "\(setting.file) does not exist: the \(setting.controller) controller is not enabled for this cgroup or the kernel lacks this interface file"
                    )
                }
            }
        } catch {
            for dir in created.reversed() { try? fs.removeDirectory(dir) }
            throw error
        }
        return SandboxCgroup(path: leaf, fileSystem: fs, busyRetry: busyRetry)
    }

    /// Re-adopts an existing leaf by absolute path (after a runtime restart). The path must lie
    /// below `root` and contain `cgroup.procs`.
    /// - Throws: `.notFound` when the directory does not exist (already removed), `.notACgroup` when
    ///   the path is outside `root` or not a cgroup, `.invalidArgument` for "." / ".." components.
    public func open(existingPath: String) throws(CgroupError) -> SandboxCgroup {
        var path = existingPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let prefix = root == "/" ? "/" : root + "/"
        guard path.hasPrefix(prefix), path.count > prefix.count else {
            throw CgroupError(
                code: .notACgroup, path: existingPath,
                description: "cgroup: \(existingPath) is not below the cgroup2 hierarchy \(root)")
        }
        let rel = try CgroupPath.relative(String(path.dropFirst(prefix.count)))
        let normalized = CgroupPath.join(root, rel)
        guard fs.exists(normalized) else {
            throw CgroupError(
                code: .notFound, path: normalized, errno: ENOENT,
                description: "cgroup: \(normalized) does not exist")
        }
        guard fs.exists(normalized + "/cgroup.procs") else {
            throw CgroupError(
                code: .notACgroup, path: normalized,
                description: "cgroup: \(normalized) is not a cgroup (no cgroup.procs)")
        }
        return SandboxCgroup(path: normalized, fileSystem: fs, busyRetry: busyRetry)
    }

    // MARK: - helpers

    private func enableControllers(in dir: String, required: [String]) throws(CgroupError) {
        if required.isEmpty && opportunisticControllers.isEmpty { return }
        let controllersFile = dir + "/cgroup.controllers"
        let available = words(try fs.read(controllersFile))
        for controller in required where !available.contains(controller) {
            let listed = available.isEmpty ? "none" : available.joined(separator: " ")
            throw CgroupError(
                code: .controllerUnavailable, path: controllersFile,
                description:
                    "cgroup: \(controller) limit requested but the \(controller) controller is not available in \(controllersFile) (available: \(listed))"
            )
        }
        var wanted = required
        for c in opportunisticControllers where available.contains(c) && !wanted.contains(c) { wanted.append(c) }
        let subtreeFile = dir + "/cgroup.subtree_control"
        let enabled = Set(words(try fs.read(subtreeFile)))
        let missing = wanted.filter { !enabled.contains($0) }
        if missing.isEmpty { return }
        let value = missing.map { "+" + $0 }.joined(separator: " ")
        do {
            try busyRetry.run { () throws(CgroupError) in try fs.write(subtreeFile, value) }
        } catch  where error.errno == EBUSY {
            throw error.adding(
                hint:
                    "enabling \"\(value)\": \(dir) holds processes (cgroup-v2.rst \"No Internal Process Constraint\"); call prepare() or use a parent whose ancestors hold no processes"
            )
        }
    }

    private func duplicate(_ leaf: String) -> CgroupError {
        CgroupError(code: .duplicate, path: leaf, description: "cgroup: a cgroup already exists at \(leaf) (duplicate sandbox id)")
    }

    /// `linux.cgroupsPath` below the parent: 1...32 components, each a valid id (so no "." or ".."),
    /// no systemd "slice:prefix:name" form.
    static func validate(subpath: String) throws(CgroupError) -> [String] {
        let parts = subpath.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        func bad(_ why: String) -> CgroupError {
            CgroupError(code: .invalidArgument, path: nil, description: "cgroup: invalid cgroups path \"\(subpath)\": \(why)")
        }
        if parts.isEmpty || parts.count > 32 { throw bad("must have 1...32 components") }
        if subpath.contains(":") && !subpath.hasPrefix("/") {
            throw bad("the systemd \"slice:prefix:name\" form is not supported (AEGIS manages cgroupfs paths below its parent)")
        }
        for part in parts {
            do throws(CgroupError) { try validate(id: part) } catch { throw bad("component \"\(part)\": \(error.description)") }
        }
        return parts
    }

    /// Removes the empty directories between `leafPath` (already removed) and `parentPath`, which
    /// `create(id:path:)` may have made for a nested cgroups path. Directories still in use stay.
    public func removeEmptyAncestors(of leafPath: String) {
        var dir = leafPath
        let stop = parentPath
        while let slash = dir.lastIndex(of: "/") {
            dir = String(dir[..<slash])
            guard dir.count > stop.count, dir.hasPrefix(stop + "/") else { return }
            do throws(CgroupError) { try fs.removeDirectory(dir) } catch { return }
        }
    }

    /// Ids become directory names: 1...255 bytes, no "/", NUL or newline, not "." / "..", and not
    /// starting with "cgroup." (the kernel's core interface files).
    static func validate(id: String) throws(CgroupError) {
        func bad(_ why: String) -> CgroupError {
            CgroupError(code: .invalidArgument, path: nil, description: "cgroup: invalid sandbox id \"\(id)\": \(why)")
        }
        if id.isEmpty || id.utf8.count > 255 { throw bad("must be 1...255 bytes") }
        if id == "." || id == ".." { throw bad("\".\" and \"..\" are not names") }
        if id.contains("/") || id.contains("\0") || id.contains("\n") { throw bad("must not contain '/', NUL or newline") }
        if id.hasPrefix("cgroup.") { throw bad("the \"cgroup.\" prefix is reserved for interface files") }
    }
}

/// Pids listed in a `cgroup.procs` text.
func parsePids(_ text: String) -> [Int32] {
    text.split(separator: "\n").compactMap { Int32(trimmed(String($0))) }
}
