// Paths.swift — where a node keeps its data, and how local clients find it.
#if canImport(Glibc)
import Glibc
#endif

/// A node's data directory layout:
///   aegis.db        controller state (SQLite, WAL)
///   aegis.sock      the API on a unix socket (mode 0660)
///   admin.token     the admin token (mode 0600), written on first start
///   api.port        the TCP port of the 127.0.0.1 listener
///   sandboxes/      the worker's sandbox state directories
///   workloads/<id>/ working directory (inputs, outputs) and logs of each workload
///   images/         the image store (AegisImage.ImageStore)
public struct AegisPaths: Sendable, Equatable {
    public var dataDir: String

    public init(dataDir: String) { self.dataDir = dataDir }

    /// /var/lib/aegis as root; $XDG_DATA_HOME/aegis (default ~/.local/share/aegis) otherwise;
    /// AEGIS_DATA_DIR overrides both.
    public static func defaultDataDir() -> String {
        if let env = getenv("AEGIS_DATA_DIR"), env.pointee != 0 { return String(cString: env) }
        if geteuid() == 0 { return "/var/lib/aegis" }
        if let xdg = getenv("XDG_DATA_HOME"), xdg.pointee != 0 { return String(cString: xdg) + "/aegis" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.local/share/aegis"
    }

    public var database: String { dataDir + "/aegis.db" }
    public var socket: String { dataDir + "/aegis.sock" }
    /// The controller's socket behind the in-process gateway of `aegis up --listen` (0600; the
    /// gateway's identity headers are trusted there, so only root may connect).
    public var clusterSocket: String { dataDir + "/cluster.sock" }
    public var adminToken: String { dataDir + "/admin.token" }
    public var portFile: String { dataDir + "/api.port" }
    /// The running node's pid (for `aegis down`).
    public var pidFile: String { dataDir + "/aegis.pid" }
    public var sandboxes: String { dataDir + "/sandboxes" }
    public var workloads: String { dataDir + "/workloads" }
    /// The image store (blobs, unpacked rootfs, records).
    public var images: String { dataDir + "/images" }
    /// Pods run by `aegis pod run` (one directory each, see AegisPod's PodPaths).
    public var pods: String { dataDir + "/pods" }
    public func workloadDir(_ id: String) -> String { workloads + "/" + id }
}
