// SandboxInit.swift — the aegis-init executable that becomes PID 1 of agent sandboxes, held as a
// sealed memfd (memfd_create(2), fcntl(2) F_ADD_SEALS) for the shim to execveat(2).
//
// Why a memfd: PID 1 of a sandbox is exec'ed inside the container's mount namespace, after
// pivot_root, where the host's file is out of reach. Executing a sealed in-memory copy also means a
// process in the sandbox that can open /proc/1/exe can't write through it into a host binary
// (the runc CVE-2019-5736 class): the memfd refuses writes (F_SEAL_WRITE) and can't be resized.
#if canImport(Glibc)
import Glibc
#endif
import CAegisShim
import Synchronization
import AegisSystem

/// The sealed aegis-init image of one `SandboxRuntime`, made on first use and kept open
/// (`O_CLOEXEC`: only the shim's execveat uses it).
final class SandboxInitImage: Sendable {
    /// The aegis-init executable on the host, or nil when it wasn't found.
    let path: String?
    private let memfd = Mutex<Int32?>(nil)

    init(path: String?) { self.path = path }

    deinit { memfd.withLock { if let fd = $0 { close(fd) } } }

    /// The memfd holding aegis-init, created and sealed on the first call.
    /// - Throws: `SandboxError(.system)` naming the step, when aegis-init is missing or unreadable.
    func descriptor() throws -> Int32 {
        try memfd.withLock { cached in
            if let fd = cached { return fd }
            guard let path else {
                throw SandboxError(.system, "aegis-init not found next to this executable (set AEGIS_INIT to its path)")
            }
            let fd = try Self.sealedCopy(of: path)
            cached = fd
            return fd
        }
    }

    /// Copies `path` into a new memfd and seals it against writes, growth, shrinking and resealing.
    static func sealedCopy(of path: String) throws -> Int32 {
        let src = open(path, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw SandboxError.system("open aegis-init", path) }
        defer { close(src) }
        let fd = Syscall.memfdCreate("aegis-init", allowSealing: true)
        guard fd >= 0 else { throw SandboxError.system("memfd_create", "aegis-init") }
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; throw SandboxError.system("read aegis-init", path) }
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + off, n - off) }
                    if w < 0 { if errno == EINTR { continue }; throw SandboxError.system("write memfd", "aegis-init") }
                    off += w
                }
            }
            guard Syscall.memfdSeal(fd) == 0 else { throw SandboxError.system("seal memfd", "aegis-init") }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }
}
