// Duration+Units.swift — Duration as the integer and floating units system calls and wire
// formats take (poll's ms, timespec, seconds as Double).
#if canImport(Glibc)
import Glibc
#endif

extension Duration {
    /// Whole milliseconds, truncated toward zero; saturates at Int64's bounds.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = ms.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }

    /// Seconds with fraction (attosecond precision down to Double's).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Milliseconds with fraction.
    public var inMilliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// A poll(2)/epoll_wait(2) timeout in ms: whole ms clamped to 0…Int32.max; nil means -1 (forever).
    public static func pollTimeout(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        return Int32(clamping: max(0, duration.wholeMilliseconds))
    }

    /// As a timespec (seconds and nanoseconds, truncated to ns), for nanosleep and friends.
    public var timespec: Glibc.timespec {
        let (seconds, attoseconds) = components
        return Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }
}
