// Compile-once cache of seccomp programs keyed by profile value.
import Synchronization
import AegisOCI

/// A thread-safe cache of compiled seccomp programs. Compiling a Docker-size profile with
/// libseccomp costs milliseconds (≈ 15 ms); sandboxes of the same profile reuse one program.
///
/// The key is the whole profile value (every field, compared with `==`) plus the
/// `enosysForNewSyscalls` option. Compilation happens outside the lock; when two threads compile
/// the same profile at once, the first stored program wins and both get it.
/// At most `capacity` programs are kept; inserting beyond that evicts an arbitrary entry.
public final class SeccompProgramCache: Sendable {
    /// A process-wide cache.
    public static let shared = SeccompProgramCache()

    public let capacity: Int
    private let storage = Mutex<[Key: SeccompProgram]>([:])

    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
    }

    /// The program for `profile`, compiled by `SeccompCompiler.compile` on first use.
    /// `warn` is called only when the profile is actually compiled; the warnings are also kept in
    /// `SeccompProgram.warnings`. Throws `SeccompError` (compile errors are not cached).
    public func program(
        for profile: LinuxSeccomp, enosysForNewSyscalls: Bool = true,
        warn: (String) -> Void = { _ in }
    ) throws -> SeccompProgram {
        try program(for: profile, enosysForNewSyscalls: enosysForNewSyscalls) {
            try SeccompCompiler.compile(profile, enosysForNewSyscalls: enosysForNewSyscalls, warn: warn)
        }
    }

    /// The cached program for `profile`, or the one `produce` returns (which is then cached) —
    /// for callers with a second-level cache (e.g. compiled programs kept on disk).
    public func program(
        for profile: LinuxSeccomp, enosysForNewSyscalls: Bool = true,
        produce: () throws -> SeccompProgram
    ) throws -> SeccompProgram {
        let key = Key(profile: profile, enosys: enosysForNewSyscalls)
        if let cached = storage.withLock({ $0[key] }) { return cached }
        let compiled = try produce()
        return storage.withLock { table in
            if let winner = table[key] { return winner }
            if table.count >= capacity, let victim = table.keys.first { table.removeValue(forKey: victim) }
            table[key] = compiled
            return compiled
        }
    }

    /// Number of cached programs.
    public var count: Int { storage.withLock { $0.count } }

    /// Drops every cached program.
    public func removeAll() { storage.withLock { $0.removeAll() } }

    /// Hashable wrapper: equality is `LinuxSeccomp ==`; the hash covers every field.
    struct Key: Hashable, Sendable {
        let profile: LinuxSeccomp
        let enosys: Bool

        func hash(into h: inout Hasher) {
            h.combine(enosys)
            h.combine(profile.defaultAction)
            h.combine(profile.defaultErrnoRet)
            h.combine(profile.architectures)
            h.combine(profile.flags)
            h.combine(profile.listenerPath)
            h.combine(profile.listenerMetadata)
            h.combine(profile.syscalls?.count ?? -1)
            for s in profile.syscalls ?? [] {
                h.combine(s.names)
                h.combine(s.action)
                h.combine(s.errnoRet)
                h.combine(s.args?.count ?? -1)
                for a in s.args ?? [] {
                    h.combine(a.index)
                    h.combine(a.value)
                    h.combine(a.valueTwo)
                    h.combine(a.op)
                }
            }
        }
    }
}
