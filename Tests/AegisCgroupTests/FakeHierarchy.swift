import Foundation
import Glibc
@testable import AegisCgroup

/// An in-memory cgroup2 hierarchy that follows the kernel rules the manager depends on
/// (cgroup-v2.rst): a child's `cgroup.controllers` is its parent's `cgroup.subtree_control`;
/// "+c" needs `c` in the cgroup's own `cgroup.controllers` (else ENOENT); a non-root cgroup
/// holding processes refuses subtree_control changes (EBUSY); interface files of a controller
/// exist only while it is enabled for the cgroup; writing a pid to `cgroup.procs` moves it.
final class FakeHierarchy: CgroupFileSystem, @unchecked Sendable {
    let root: String
    private let lock = NSLock()
    private var dirs: Set<String>
    private var files: [String: String] = [:]
    /// Every successful or failed write, in order: (path, value, errno or 0).
    private(set) var writeLog: [(path: String, value: String, errno: Int32)] = []
    /// Number of upcoming subtree_control writes to refuse with EBUSY, per directory.
    var injectedBusy: [String: Int] = [:]
    /// When false, memory.swap.max does not exist (kernel without swap accounting).
    var swapAccounting = true

    init(root: String = "/fake", controllers: [String]) {
        self.root = root
        dirs = [root]
        files[root + "/cgroup.controllers"] = controllers.joined(separator: " ")
        for name in ["cgroup.subtree_control", "cgroup.procs", "cgroup.kill", "cgroup.freeze"] { files[root + "/" + name] = "" }
    }

    private func parentDir(_ path: String) -> String {
        String(path[..<path.lastIndex(of: "/")!])
    }

    private func controllersLocked(_ dir: String) -> [String] {
        if dir == root { return words(files[root + "/cgroup.controllers"] ?? "") }
        return words(files[parentDir(dir) + "/cgroup.subtree_control"] ?? "")
    }

    private func interfaceFiles(for controller: String) -> [String: String] {
        switch controller {
        case "memory":
            var f = ["memory.max": "max\n", "memory.current": "0\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"]
            if swapAccounting { f["memory.swap.max"] = "max\n" }
            return f
        case "cpu": return ["cpu.max": "max 100000\n", "cpu.weight": "100\n"]
        case "pids": return ["pids.max": "max\n", "pids.current": "0\n"]
        default: return [:]
        }
    }

    /// Adds interface files of controllers newly enabled for the children of `dir`.
    private func refreshChildrenLocked(of dir: String) {
        for child in dirs where child != dir && parentDir(child) == dir {
            for c in controllersLocked(child) {
                for (name, value) in interfaceFiles(for: c) where files[child + "/" + name] == nil {
                    files[child + "/" + name] = value
                }
            }
        }
    }

    // MARK: CgroupFileSystem

    func read(_ path: String) throws(CgroupError) -> String {
        lock.lock(); defer { lock.unlock() }
        if path.hasSuffix("/cgroup.controllers") {
            let dir = parentDir(path)
            guard dirs.contains(dir) else { throw CgroupError.syscall("open", path, errno: ENOENT) }
            return controllersLocked(dir).joined(separator: " ") + "\n"
        }
        guard let value = files[path] else { throw CgroupError.syscall("open", path, errno: ENOENT) }
        return value
    }

    func write(_ path: String, _ value: String) throws(CgroupError) {
        lock.lock(); defer { lock.unlock() }
        func fail(_ e: Int32) -> CgroupError {
            writeLog.append((path, value, e))
            return CgroupError.syscall("write", path, errno: e)
        }
        guard files[path] != nil else { throw fail(ENOENT) }
        let dir = parentDir(path)
        if path.hasSuffix("/cgroup.subtree_control") {
            if let n = injectedBusy[dir], n > 0 { injectedBusy[dir] = n - 1; throw fail(EBUSY) }
            if dir != root && !(files[dir + "/cgroup.procs"] ?? "").isEmpty { throw fail(EBUSY) }
            var enabled = words(files[path]!)
            for token in words(value) {
                let name = String(token.dropFirst())
                guard controllersLocked(dir).contains(name) else { throw fail(ENOENT) }
                if token.hasPrefix("+") && !enabled.contains(name) { enabled.append(name) }
                if token.hasPrefix("-") { enabled.removeAll { $0 == name } }
            }
            files[path] = enabled.joined(separator: " ")
            refreshChildrenLocked(of: dir)
        } else if path.hasSuffix("/cgroup.procs") {
            let pid = trimmed(value)
            for (key, content) in files where key.hasSuffix("/cgroup.procs") {
                files[key] = content.split(separator: "\n").filter { $0 != pid }.map { $0 + "\n" }.joined()
            }
            files[path]! += pid + "\n"
        } else {
            files[path] = value
        }
        writeLog.append((path, value, 0))
    }

    func makeDirectory(_ path: String) throws(CgroupError) {
        lock.lock(); defer { lock.unlock() }
        guard dirs.contains(parentDir(path)) else { throw CgroupError.syscall("mkdir", path, errno: ENOENT) }
        guard !dirs.contains(path) && files[path] == nil else { throw CgroupError.syscall("mkdir", path, errno: EEXIST) }
        dirs.insert(path)
        for name in ["cgroup.subtree_control", "cgroup.procs", "cgroup.kill", "cgroup.freeze"] { files[path + "/" + name] = "" }
        files[path + "/cgroup.events"] = "populated 0\nfrozen 0\n"
        for c in controllersLocked(path) {
            for (name, value) in interfaceFiles(for: c) { files[path + "/" + name] = value }
        }
    }

    func removeDirectory(_ path: String) throws(CgroupError) {
        lock.lock(); defer { lock.unlock() }
        guard dirs.contains(path) else { throw CgroupError.syscall("rmdir", path, errno: ENOENT) }
        if dirs.contains(where: { $0 != path && $0.hasPrefix(path + "/") }) || !(files[path + "/cgroup.procs"] ?? "").isEmpty {
            throw CgroupError.syscall("rmdir", path, errno: EBUSY)
        }
        dirs.remove(path)
        for key in files.keys where key.hasPrefix(path + "/") { files.removeValue(forKey: key) }
    }

    func exists(_ path: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return dirs.contains(path) || files[path] != nil || path.hasSuffix("/cgroup.controllers") && dirs.contains(parentDir(path))
    }

    // MARK: test helpers

    /// Directories other than the root.
    var directories: [String] {
        lock.lock(); defer { lock.unlock() }
        return dirs.filter { $0 != root }.sorted()
    }

    /// Puts exactly `pids` into the cgroup `relative` ("" = root), taking them out of any other.
    func setProcs(_ relative: String, _ pids: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        let names = Set(pids.map(String.init))
        for (key, content) in files where key.hasSuffix("/cgroup.procs") {
            files[key] = content.split(separator: "\n").filter { !names.contains(String($0)) }.map { $0 + "\n" }.joined()
        }
        let dir = relative.isEmpty ? root : root + "/" + relative
        files[dir + "/cgroup.procs"] = pids.map { "\($0)\n" }.joined()
    }

    func setProcsRoot(_ pids: [Int32]) { setProcs("", pids) }

    func mkdirs(_ relative: String) {
        var path = root
        for part in relative.split(separator: "/") {
            path += "/" + part
            try? makeDirectory(path)
        }
    }

    /// The cgroup (leading-slash form) whose cgroup.procs lists `pid`, as /proc/<pid>/cgroup would say.
    func cgroupOf(_ pid: Int32) -> String {
        lock.lock(); defer { lock.unlock() }
        for (key, content) in files where key.hasSuffix("/cgroup.procs") && content.split(separator: "\n").contains(Substring(String(pid)))
        {
            let dir = parentDir(key)
            return dir == root ? "/" : String(dir.dropFirst(root.count))
        }
        return "/"
    }

    func writes(to suffix: String) -> [(path: String, value: String, errno: Int32)] {
        lock.lock(); defer { lock.unlock() }
        return writeLog.filter { $0.path.hasSuffix(suffix) }
    }
}
