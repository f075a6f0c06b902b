// Globals.swift — runc's global flags (--root, --log, --log-format, --debug) and error logging.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

struct Globals: Sendable {
    /// State root: one directory per container (runc: /run/runc).
    var root = "/run/aegis-runtime"
    var logFile: String?
    var logFormat = "text"
    var debug = false

    nonisolated(unsafe) static var shared = Globals()

    struct UsageError: Error, CustomStringConvertible { let description: String }

    /// Removes leading global flags from `args`.
    static func parse(_ args: inout [String]) throws -> Globals {
        var g = Globals()
        while let first = args.first, first.hasPrefix("--") {
            var name = first, value: String?
            if let eq = first.firstIndex(of: "=") {
                name = String(first[..<eq])
                value = String(first[first.index(after: eq)...])
            }
            func takeValue() throws -> String {
                if let value { return value }
                guard args.count > 1 else { throw UsageError(description: "\(name) needs a value") }
                args.removeFirst()
                return args[0]
            }
            switch name {
            case "--root": g.root = try takeValue()
            case "--log": g.logFile = try takeValue()
            case "--log-format":
                g.logFormat = try takeValue()
                guard g.logFormat == "text" || g.logFormat == "json" else {
                    throw UsageError(description: "--log-format: \"\(g.logFormat)\" is not text or json")
                }
            case "--debug": g.debug = true
            case "--systemd-cgroup":
                throw UsageError(description: "--systemd-cgroup is not supported (aegis-runtime manages cgroup v2 directly)")
            default: return g  // --help, --version, or a command's own flag
            }
            args.removeFirst()
        }
        return g
    }

    /// Logs `message` to --log (text or json, as runc writes it) and to stderr; exits 1.
    static func fail(_ message: String, code: Int32 = 1) -> Never {
        log(level: "error", message)
        let line = "aegis-runtime: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        exit(code)
    }

    static func log(level: String, _ message: String) {
        guard let path = shared.logFile else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tm = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &tm)
        let time =
            String(format4: Int(tm.tm_year) + 1900) + "-" + String(format2: Int(tm.tm_mon) + 1) + "-" + String(format2: Int(tm.tm_mday))
            + "T" + String(format2: Int(tm.tm_hour)) + ":" + String(format2: Int(tm.tm_min)) + ":" + String(format2: Int(tm.tm_sec)) + "Z"
        let line: String
        if shared.logFormat == "json" {
            struct Entry: Encodable { let level: String; let msg: String; let time: String }
            let data = (try? JSONEncoder().encode(Entry(level: level, msg: message, time: time))) ?? Data()
            line = String(decoding: data, as: UTF8.self) + "\n"
        } else {
            line = "time=\"\(time)\" level=\(level) msg=\"\(message.replacingQuotes())\"\n"
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

extension String {
    init(format2 v: Int) { self = pad(v, 2) }
    init(format4 v: Int) { self = pad(v, 4) }
    func replacingQuotes() -> String { split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\\\"") }
}

private func pad(_ v: Int, _ width: Int) -> String {
    let digits = String(v)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
