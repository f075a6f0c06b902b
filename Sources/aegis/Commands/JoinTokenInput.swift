// JoinTokenInput.swift — where a join token comes from: --token-file FILE (the first line), the
// environment (AEGIS_JOIN_TOKEN, as the systemd units set it from their environment file), or
// --token on the command line, which every local user can read in /proc/PID/cmdline and `ps`
// for as long as the process runs — so it is warned about.
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

enum JoinTokenInput {
    /// The token, or nil when none was given. - Throws: `ValidationError` naming the file and errno.
    static func resolve(flag: String?, file: String?) throws -> String? {
        if flag != nil && file != nil { throw ValidationError("--token and --token-file: give one") }
        if let file {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ValidationError("--token-file \(file): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buf, buf.count)
            guard n >= 0 else { throw ValidationError("--token-file \(file): \(String(cString: strerror(errno)))") }
            let text = String(decoding: buf[0..<n], as: UTF8.self)
            let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !token.isEmpty else { throw ValidationError("--token-file \(file): the file holds no token") }
            return token
        }
        if let flag {
            let warning = "warning: --token on the command line is readable by every local user (ps, /proc/PID/cmdline) while this runs; use --token-file FILE or AEGIS_JOIN_TOKEN\n"
            _ = warning.withCString { write(2, $0, strlen($0)) }
            return flag
        }
        if let env = getenv("AEGIS_JOIN_TOKEN"), env.pointee != 0 { return String(cString: env) }
        return nil
    }
}
