// ProcFS.swift — what the modules read from /proc (proc(5)): a process's start time (to tell it
// from a later one that reused its pid), MemAvailable, the load average, cap_last_cap.

/// Readers of /proc files. Each takes the file's path (tests point them at fixtures) and returns
/// nil when the file or the value is missing.
public enum ProcFS {
    /// Field 22 of /proc/PID/stat, `starttime`: clock ticks since boot when `pid` started. nil when
    /// there is no such process or it is a zombie (Z) or dead (X).
    public static func startTime(of pid: Int32, procRoot: String = "/proc") -> UInt64? {
        guard pid > 0, let text = try? FileSystem.readText("\(procRoot)/\(pid)/stat") else { return nil }
        return parseStartTime(stat: text)
    }

    /// The start time from the text of a /proc/PID/stat file (nil for a zombie or dead process).
    public static func parseStartTime(stat text: String) -> UInt64? {
        // comm (field 2) may hold spaces and parentheses: split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    /// True when `pid` runs and is the process that had `startTime` (not a later one with its pid).
    public static func isAlive(_ pid: Int32, startTime expected: UInt64) -> Bool {
        startTime(of: pid) == expected
    }

    /// MemAvailable of /proc/meminfo in bytes (the kernel's estimate of memory available for new
    /// work without swapping).
    public static func memoryAvailableBytes(meminfo path: String = "/proc/meminfo") -> Int64? {
        guard let text = try? FileSystem.readText(path) else { return nil }
        return meminfoValueBytes(text, key: "MemAvailable")
    }

    /// A "Key:   N kB" line of /proc/meminfo's text, in bytes.
    public static func meminfoValueBytes(_ meminfo: String, key: String) -> Int64? {
        let prefix = key + ":"
        guard let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
            let kib = Int64(line.dropFirst(prefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        else {
            return nil
        }
        let (bytes, overflow) = kib.multipliedReportingOverflow(by: 1024)
        return overflow ? nil : bytes
    }

    /// The 1-minute load average (first field of /proc/loadavg).
    public static func loadAverage1m(loadavg path: String = "/proc/loadavg") -> Double? {
        guard let text = try? FileSystem.readText(path) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).
    public static func lastCapability(path: String = "/proc/sys/kernel/cap_last_cap") -> Int32? {
        guard let text = try? FileSystem.readText(path, limit: 64) else { return nil }
        return Int32(text.filter(\.isNumber))
    }
}
