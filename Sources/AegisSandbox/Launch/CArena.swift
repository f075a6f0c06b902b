// CArena.swift — C memory for one aegis_spawn call: strings and arrays that must stay put while
// the shim forks (the child reads its copy-on-write image of them). Freed together on deinit.
#if canImport(Glibc)
import Glibc
#endif

final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for b in blocks { free(b) } }

    /// A NUL-terminated copy of `s`, or nil.
    func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        guard let p = strdup(s) else { fatalError("strdup: out of memory") }
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    /// A NULL-terminated array of C strings (argv/envp shape).
    func stringArray(_ items: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let p = allocate(UnsafePointer<CChar>?.self, count: items.count + 1)
        for (i, s) in items.enumerated() { p[i] = string(s) }
        p[items.count] = nil
        return UnsafePointer(p)
    }

    /// A copy of `items` (nil when empty).
    func array<T>(_ items: [T]) -> UnsafePointer<T>? {
        guard !items.isEmpty else { return nil }
        let p = allocate(T.self, count: items.count)
        for (i, v) in items.enumerated() { (p + i).initialize(to: v) }
        return UnsafePointer(p)
    }

    private func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let size = max(1, MemoryLayout<T>.stride * count)
        guard let raw = malloc(size) else { fatalError("malloc: out of memory") }
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }
}
