// CgroupView.swift — where the calling process sits in the cgroup hierarchies, read (never written)
// from <root>/proc/self/mountinfo and <root>/proc/self/cgroup.
//
// Sources: kernel Documentation/admin-guide/cgroup-v2.rst ("Mounting"; "Processes": the `0::$PATH`
// line; "CPU Interface Files" cpu.max; "Memory Interface Files" memory.max; "Core Interface Files"
// cgroup.controllers), Documentation/filesystems/proc.rst §3.5 (mountinfo fields), and for hybrid
// hosts the v1 files Documentation/admin-guide/cgroup-v1/memory.rst (memory.limit_in_bytes) and
// Documentation/scheduler/sched-bwc.rst (cpu.cfs_quota_us / cpu.cfs_period_us).

/// One cgroup file-system mount from mountinfo.
struct CgroupMount: Sendable, Equatable {
    /// Mount point ("/sys/fs/cgroup" or "/sys/fs/cgroup/unified").
    var mountPoint: String
    /// The mount's root within the hierarchy (field 4; "/" unless a subtree is bind-mounted).
    var mountRoot: String
    /// "cgroup2" or "cgroup".
    var fsType: String
    /// Super options (v1: the controllers bound to the hierarchy, e.g. "rw,cpu,cpuacct").
    var superOptions: [String]
}

struct CgroupView: Sendable {
    /// The cgroup2 mount, if any.
    var v2: CgroupMount?
    /// The own cgroup v2 path ("/" or "/kubepods.slice/pod1"), from the `0::` line.
    var v2Path: String?
    /// v1 controller → (mount, own path in that hierarchy).
    var v1: [String: (mount: CgroupMount, path: String)] = [:]

    /// Parses mountinfo lines: `id parent maj:min root mountpoint options [optional…] - fstype source superopts`.
    static func parseMounts(_ text: String) -> [CgroupMount] {
        var mounts: [CgroupMount] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 10, let dash = f[6...].firstIndex(of: "-"), dash + 3 < f.count else { continue }
            let type = f[dash + 1]
            guard type == "cgroup2" || type == "cgroup" else { continue }
            mounts.append(
                CgroupMount(
                    mountPoint: unescapeOctal(f[4]), mountRoot: unescapeOctal(f[3]), fsType: type,
                    superOptions: f[dash + 3].split(separator: ",").map(String.init)))
        }
        return mounts
    }

    /// Decodes mountinfo's `\ooo` escapes (`\040` = space).
    static func unescapeOctal(_ field: String) -> String {
        let b = Array(field.utf8)
        var out: [UInt8] = []
        var i = 0
        func oct(_ x: UInt8) -> UInt8? { x >= 0x30 && x <= 0x37 ? x - 0x30 : nil }
        while i < b.count {
            if b[i] == 0x5C, i + 3 < b.count, let x = oct(b[i + 1]), let y = oct(b[i + 2]), let z = oct(b[i + 3]),
                Int(x) * 64 + Int(y) * 8 + Int(z) <= 255
            {
                out.append(x * 64 + y * 8 + z)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads the view under `files.root`; problems are appended to `warnings`.
    static func read(_ files: HostFiles, warnings: inout [String]) -> CgroupView {
        var view = CgroupView()
        var mounts: [CgroupMount] = []
        do {
            mounts = parseMounts(try files.read("/proc/self/mountinfo"))
        } catch {
            warnings.append("cgroup: cannot read mounts: \(error)")
        }
        var lines: [Substring] = []
        do {
            lines = try files.read("/proc/self/cgroup").split(separator: "\n")
        } catch {
            warnings.append("cgroup: cannot read own cgroup: \(error)")
        }
        view.v2 = mounts.first { $0.fsType == "cgroup2" }
        for line in lines {
            // hierarchy-id:controller-list:path
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2].hasPrefix("/"), !parts[2].hasSuffix(" (deleted)") else { continue }
            let path = String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                view.v2Path = path
                continue
            }
            for controller in parts[1].split(separator: ",").map(String.init) {
                if let m = mounts.first(where: { $0.fsType == "cgroup" && $0.superOptions.contains(controller) }) {
                    view.v1[controller] = (m, path)
                }
            }
        }
        if view.v2 == nil {
            warnings.append("cgroup: no cgroup2 file system in /proc/self/mountinfo; controllers and cgroup limits unknown")
        } else if view.v2Path == nil {
            warnings.append("cgroup: no \"0::/path\" line in /proc/self/cgroup; own cgroup v2 unknown")
        }
        return view
    }

    /// `path` relative to the mount's root: a bind-mounted subtree (mount root "/kubepods/pod1")
    /// shows `/proc/self/cgroup` paths with that prefix, which is not part of the mounted tree.
    static func relativeComponents(_ mount: CgroupMount, _ path: String) -> [String] {
        var rel = path
        if mount.mountRoot != "/" && (rel == mount.mountRoot || rel.hasPrefix(mount.mountRoot + "/")) {
            rel.removeFirst(mount.mountRoot.count)
        }
        return rel.split(separator: "/").map(String.init).filter { $0 != "." && $0 != ".." && !$0.isEmpty }
    }

    /// Host directory of `path` in `mount`.
    static func directory(_ mount: CgroupMount, _ path: String) -> String {
        join(mount, relativeComponents(mount, path))
    }

    static func join(_ mount: CgroupMount, _ parts: [String]) -> String {
        let base = mount.mountPoint == "/" ? "" : mount.mountPoint
        return parts.isEmpty ? (base.isEmpty ? "/" : base) : base + "/" + parts.joined(separator: "/")
    }

    /// The own cgroup directory and each ancestor up to the mount point, innermost first
    /// (ancestors above a bind-mounted subtree are not visible and not included).
    static func chain(_ mount: CgroupMount, _ path: String) -> [String] {
        var parts = relativeComponents(mount, path)
        var dirs = [join(mount, parts)]
        while !parts.isEmpty {
            parts.removeLast()
            dirs.append(join(mount, parts))
        }
        return dirs
    }

    /// The tightest cpu limit in CPUs×1000 (millicores) over the own cgroup and its ancestors:
    /// v2 `cpu.max` ("$MAX $PERIOD", "max" = none) and v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`
    /// (-1 = none). nil when no level limits CPU.
    func cpuQuotaMillis(_ files: HostFiles) -> Int64? {
        var best: Int64?
        func take(_ quota: Int64, _ period: Int64) {
            guard quota > 0, period > 0 else { return }
            let m = quota * 1000 / period
            best = min(best ?? m, m)
        }
        if let v2, let v2Path {
            for dir in Self.chain(v2, v2Path) {
                guard let text = files.readTrimmed(dir + "/cpu.max") else { continue }
                let w = words(text)
                if w.count >= 1, w[0] != "max", let q = Int64(w[0]) {
                    take(q, w.count >= 2 ? Int64(w[1]) ?? 100_000 : 100_000)
                }
            }
        }
        if let (mount, path) = v1["cpu"] {
            for dir in Self.chain(mount, path) {
                if let q = files.readTrimmed(dir + "/cpu.cfs_quota_us").flatMap({ Int64($0) }),
                    let p = files.readTrimmed(dir + "/cpu.cfs_period_us").flatMap({ Int64($0) })
                {
                    take(q, p)
                }
            }
        }
        return best
    }

    /// The tightest memory limit in bytes over the own cgroup and its ancestors: v2 `memory.max`
    /// ("max" = none) and v1 `memory.limit_in_bytes`. nil when no level limits memory.
    func memoryLimitBytes(_ files: HostFiles) -> Int64? {
        var best: Int64?
        if let v2, let v2Path {
            for dir in Self.chain(v2, v2Path) {
                if let v = files.readTrimmed(dir + "/memory.max").flatMap({ Int64($0) }), v >= 0 {
                    best = min(best ?? v, v)
                }
            }
        }
        if let (mount, path) = v1["memory"] {
            for dir in Self.chain(mount, path) {
                // "Unlimited" is reported as a page-rounded LLONG_MAX; min() with MemTotal ignores it.
                if let v = files.readTrimmed(dir + "/memory.limit_in_bytes").flatMap({ Int64($0) }), v >= 0 {
                    best = min(best ?? v, v)
                }
            }
        }
        return best
    }

    /// Controllers usable by sandboxes: the `cgroup.controllers` of the sandboxes' default parent
    /// `<own>/aegis` (a trailing `/supervisor` of the own cgroup dropped first, as AegisCgroup's
    /// Cgroup2Manager does), or of its nearest existing ancestor. nil when there is no cgroup2.
    func usableControllers(_ files: HostFiles) -> (controllers: [String], directory: String)? {
        guard let v2 else { return nil }
        var own = v2Path ?? "/"
        if own.hasSuffix("/supervisor") { own.removeLast("/supervisor".count) }
        let parent = (own == "/" || own.isEmpty ? "" : own) + "/aegis"
        for dir in Self.chain(v2, parent) where files.isDirectory(dir) {
            guard let text = try? files.read(dir + "/cgroup.controllers") else { continue }
            return (words(text), dir)
        }
        return nil
    }
}
