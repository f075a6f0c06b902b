// CappedLog.swift — stdout.log / stderr.log capped as they are written (SandboxStdio.cappedLogs).
// The container writes into pipes whose read ends belong to the sandbox's supervisor: its log pump
// (CAegisShim/logcap.c) appends to the files and, before a write would pass the cap, replaces a
// file by its newest half behind the line "[aegis: N earlier bytes dropped]". The pipes outlive
// the caller (a restarted node daemon loses no output), and the supervisor reports the outcome only
// after it drained them.
//
// Readers address a capped log by *logical* offsets: positions in everything the process wrote,
// dropped bytes included. They never go back, so a follower can tell a cut (its offset was
// dropped) from new output, however often the file was replaced between two reads.
#if canImport(Glibc)
import Glibc
#endif
import CAegisShim

/// Bytes of a capped log from a logical offset.
public struct CappedLogChunk: Sendable, Equatable {
    /// The bytes, from logical offset `start` on.
    public var bytes: [UInt8]
    /// Logical offset of `bytes[0]`: beyond the offset asked for when what lay between was dropped.
    public var start: Int64
    /// Logical size: every byte written to the log so far, dropped ones included.
    public var size: Int64

    public init(bytes: [UInt8], start: Int64, size: Int64) {
        self.bytes = bytes
        self.start = start
        self.size = size
    }
}

public enum CappedLog {
    /// The smallest cap, bytes (the pump writes at most half the cap at a time).
    public static let minimumCapBytes = 4096

    /// Sets up `.cappedLogs` for one spawn: two pipes (their write ends become the container's
    /// stdout and stderr, the read ends the supervisor's), the directory fd, the cap.
    /// - Returns: the descriptors the caller closes after the spawn.
    /// - Throws: `SandboxError.invalidSpec` for a cap under `minimumCapBytes`, `.system` when the
    ///   directory can't be opened or the pipes can't be made.
    static func attach(_ c: inout aegis_spawn_config, directory: String, capBytes: Int) throws -> [Int32] {
        guard capBytes >= minimumCapBytes else {
            throw SandboxError(.invalidSpec, "log cap \(capBytes) bytes: must be at least \(minimumCapBytes)")
        }
        var fds: [Int32] = []
        do {
            let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw SandboxError.system("open log directory", directory) }
            fds.append(dir)
            for name in ["stdout.log", "stderr.log"] {  // there (maybe empty) from the start, for readers
                let fd = openat(dir, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o640)
                guard fd >= 0 else { throw SandboxError.system("open", directory + "/" + name) }
                close(fd)
            }
            var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
            guard aegis_log_pipe(&out) == 0 else { throw SandboxError.system("pipe2 for stdout.log in", directory) }
            fds += out
            guard aegis_log_pipe(&err) == 0 else { throw SandboxError.system("pipe2 for stderr.log in", directory) }
            fds += err
            (c.stdin_fd, c.stdout_fd, c.stderr_fd) = (-1, out[1], err[1])
            (c.log_stdout_fd, c.log_stderr_fd, c.log_dir_fd) = (out[0], err[0], dir)
            c.log_cap_bytes = Int64(capBytes)
            return fds
        } catch {
            for fd in fds { close(fd) }
            throw error
        }
    }

    /// Up to `maxBytes` of the capped log at `path` from logical offset `offset`; nil when there is
    /// no such file. Bytes dropped before `offset` are skipped (`start` says how far). A log whose
    /// logical size is below `offset` was replaced or removed: the caller starts again from 0.
    public static func read(path: String, offset: Int64, maxBytes: Int) -> CappedLogChunk? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // One descriptor, one file: the pump renames a new file over the path but never writes
        // into a file it replaced, so the marker and the bytes read here belong together.
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let fileSize = Int64(st.st_size)
        var head = [CChar](repeating: 0, count: Int(AEGIS_LOG_MARKER_MAX))
        let headCount = pread(fd, &head, head.count, 0)
        var markerLen: Int64 = 0
        var dropped = headCount > 0 ? aegis_log_marker_parse(head, Int64(headCount), &markerLen) : -1
        if dropped < 0 { (dropped, markerLen) = (0, 0) }
        let size = dropped + fileSize - markerLen
        guard offset <= size else { return CappedLogChunk(bytes: [], start: offset, size: size) }
        let start = max(offset, dropped)
        let position = markerLen + (start - dropped)
        var buf = [UInt8](repeating: 0, count: max(0, min(maxBytes, Int(fileSize - position))))
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
        return CappedLogChunk(bytes: n > 0 ? Array(buf[0..<n]) : [], start: start, size: size)
    }
}
