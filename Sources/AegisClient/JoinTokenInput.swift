// JoinTokenInput.swift — where a join token comes from: --token-file FILE (the first line), the
// environment (AEGIS_JOIN_TOKEN, as the systemd units set it from their environment file), or
// --token on the command line, which every local user can read in /proc/PID/cmdline and `ps`
// for as long as the process runs — so the CLI warns about it (`commandLineWarning`).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

public enum JoinTokenInput {
    /// What the CLI prints when the token came from --token.
    public static let commandLineWarning =
        "warning: --token on the command line is readable by every local user (ps, /proc/PID/cmdline) while this runs; use --token-file FILE or AEGIS_JOIN_TOKEN\n"

    /// The token, or nil when none was given. - Throws: `ClientError` naming the flag, the file and errno.
    public static func resolve(flag: String?, file: String?) throws -> String? {
        if flag != nil && file != nil { throw ClientError("--token and --token-file: give one") }
        if let file {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ClientError("--token-file \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buf, buf.count)
            guard n >= 0 else { throw ClientError("--token-file \(file): \(String(cString: strerror(errno)))") }
            let text = String(decoding: buf[0..<n], as: UTF8.self)
            let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !token.isEmpty else { throw ClientError("--token-file \(file): the file holds no token") }
            return token
        }
        if let flag { return flag }
        if let env = getenv("AEGIS_JOIN_TOKEN"), env.pointee != 0 { return String(cString: env) }
        return nil
    }
}
