// SandboxExecConfig.swift — exec.json: what `exec` needs of the spec a sandbox was created with, so
// that an exec'd process is confined exactly as the container's own process (runc keeps the whole
// config for the same purpose). The spec itself is not kept: a bundle's config.json may change or
// go away after `create`, and an agent's spec is generated. Written at create before the container
// process exists, atomically, mode 0600 (the environment may hold secrets).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSeccomp
import AegisSystem

/// The container process's confinement and defaults, as `create` resolved them (exec.json).
struct SandboxExecConfig: Codable, Sendable, Equatable {
    static let fileName = "exec.json"
    static let currentVersion = 1

    /// The compiled seccomp program the container installed, byte for byte.
    struct Seccomp: Codable, Sendable, Equatable {
        /// `SECCOMP_FILTER_FLAG_*` passed to seccomp(2).
        var flags: UInt32
        /// Base64 of the `struct sock_filter` array (8 bytes per instruction, host byte order).
        var program: String
    }

    var version: Int
    /// process.user (uid, gid, additionalGids) in the container's user namespace.
    var user: User
    /// process.env and process.cwd: the defaults of an exec'd process (runc exec without --process).
    var env: [String]
    var cwd: String
    /// process.capabilities: all five sets, by name.
    var capabilities: LinuxCapabilities?
    var noNewPrivileges: Bool
    var rlimits: [POSIXRlimit]
    var seccomp: Seccomp?
    /// True when the container has no mount namespace of its own and was only chroot'ed into its
    /// rootfs: an exec'd process is chroot'ed into the container process's root as well.
    var chroot: Bool

    /// What `plan` (built from `spec`) gives the container process.
    init(spec: Spec, plan: LaunchPlan) {
        let process = spec.process ?? Process()
        version = Self.currentVersion
        user = process.user
        env = process.env ?? []
        cwd = process.cwd
        capabilities = process.capabilities
        noNewPrivileges = process.noNewPrivileges == true
        rlimits = process.rlimits ?? []
        seccomp = plan.seccomp.map { Seccomp(flags: $0.installFlags, program: Data($0.bytes).base64EncodedString()) }
        chroot = plan.config.chroot_rootfs != 0
    }

    /// The seccomp program, decoded.
    func seccompProgram() throws -> SeccompProgram? {
        guard let seccomp else { return nil }
        guard let data = Data(base64Encoded: seccomp.program), !data.isEmpty else {
            throw SandboxError(.system, "\(Self.fileName): seccomp.program is not a base64 BPF program")
        }
        do { return try SeccompProgram(bytes: Array(data), installFlags: seccomp.flags) } catch {
            throw SandboxError(.system, "\(Self.fileName): seccomp.program: \(error)", underlying: error)
        }
    }

    /// Writes `<directory>/exec.json` atomically, mode 0600.
    func write(directory: String) throws {
        let bytes = Array(try JSONEncoder().encode(self))
        try SandboxError.os(try FileSystem.writeAtomically(directory + "/" + Self.fileName, bytes, mode: 0o600, syncDirectory: false))
    }

    /// Reads `<directory>/exec.json`. - Throws: `.unsupported` when the sandbox has none (created by
    /// a runtime without exec), `.system` when it is unreadable or of another version.
    static func read(directory: String, id: String) throws -> SandboxExecConfig {
        let path = directory + "/" + fileName
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch {
            if error.errno.code == ENOENT {
                throw SandboxError(
                    .unsupported, "cannot exec in container \"\(id)\": it has no \(fileName) (created by a runtime without exec)")
            }
            throw SandboxError(error)
        }
        let config: SandboxExecConfig
        do { config = try JSONDecoder().decode(SandboxExecConfig.self, from: Data(bytes)) } catch {
            throw SandboxError(.system, "\(path): unreadable: \(error)", underlying: error)
        }
        guard config.version == currentVersion else {
            throw SandboxError(.unsupported, "\(path): version \(config.version), this runtime reads version \(currentVersion)")
        }
        return config
    }
}
