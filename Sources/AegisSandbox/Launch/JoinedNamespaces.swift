// JoinedNamespaces.swift — opening the namespaces a spec joins by path (linux.namespaces[].path).
//
// A joined namespace counts as the container's own everywhere (mount set-up and pivot_root,
// namespaced sysctls, hostname). So it must not be the runtime's own namespace or the host's (PID
// 1's): "joining" /proc/self/ns/mnt would pivot the host's root, /proc/self/ns/net would let a
// sysctl change the host's network settings. Sharing the runtime's namespace is spelled by not
// listing the type at all (OCI: unlisted namespaces are inherited).
#if canImport(Glibc)
import Glibc
#endif
import CAegisShim

enum JoinedNamespaces {
    /// /proc/PID/ns/ names of the CLONE_NEW* types.
    static let procNames: [UInt64: String] = [
        UInt64(CLONE_NEWNS): "mnt", UInt64(CLONE_NEWPID): "pid", UInt64(CLONE_NEWNET): "net", UInt64(CLONE_NEWIPC): "ipc",
        UInt64(CLONE_NEWUTS): "uts", UInt64(CLONE_NEWUSER): "user", UInt64(CLONE_NEWCGROUP): "cgroup",
    ]

    /// Opens each namespace (O_CLOEXEC; appended to `opened` for the caller to close) and checks it by
    /// its nsfs identity (st_dev, st_ino of the open descriptor, so a path swapped afterwards changes
    /// nothing). - Throws: `SandboxError(.invalidSpec)` naming the path when it is the runtime's own
    /// or PID 1's namespace of that type, `.system` when it can't be opened.
    static func open(_ joins: [(type: UInt64, path: String)], opened: inout [Int32]) throws -> [Int32] {
        var fds: [Int32] = []
        for (type, path) in joins {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SandboxError.system("open namespace (linux.namespaces path)", path) }
            opened.append(fd)
            fds.append(fd)
            let name = procNames[type] ?? "?"
            var joined = stat()
            guard fstat(fd, &joined) == 0 else { throw SandboxError.system("fstat namespace", path) }
            for holder in ["self", "1"] {
                var other = stat()
                // pid: a process's pid_for_children is what a child would join.
                let candidates = type == UInt64(CLONE_NEWPID) ? ["pid", "pid_for_children"] : [name]
                for c in candidates
                where stat("/proc/\(holder)/ns/\(c)", &other) == 0
                    && other.st_dev == joined.st_dev && other.st_ino == joined.st_ino
                {
                    let whose = holder == "self" ? "the runtime's own" : "the host's (PID 1's)"
                    throw SandboxError(
                        .invalidSpec,
                        "linux.namespaces: path \(path) is \(whose) \(name) namespace; a joined namespace must be the container's (to share the runtime's, leave the type out)"
                    )
                }
            }
        }
        return fds
    }
}
