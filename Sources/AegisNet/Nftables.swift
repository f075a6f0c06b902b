// Nftables.swift — Debian's libnftables (libnftables1), loaded with dlopen so a node without it still
// starts (it then advertises no egress, naming the missing library). Each `run` is one nft script,
// applied by the kernel as one atomic transaction (nft(8) "-f" semantics): all of it or none.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An nft script the kernel refused; `description` has nft's own message (with the failing line).
public struct NftError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "nftables: " + message }
}

public final class Nftables: Sendable {
    private typealias NewFn = @convention(c) (UInt32) -> OpaquePointer?
    private typealias FreeFn = @convention(c) (OpaquePointer?) -> Void
    private typealias IntFn = @convention(c) (OpaquePointer?) -> Int32
    private typealias GetFn = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    private typealias RunFn = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32

    private struct Ctx: @unchecked Sendable { let ptr: OpaquePointer }
    private let ctx: Mutex<Ctx>
    private let free: FreeFn
    private let run: RunFn
    private let getOut: GetFn
    private let getErr: GetFn

    /// Loads libnftables.so.1 and creates a context (NFT_CTX_DEFAULT) with buffered output and errors.
    /// - Throws: `NftError` when the library or a symbol is missing ("apt-get install libnftables1").
    public init() throws {
        guard let h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else {
            throw NftError(message: "libnftables.so.1 not loadable (\(String(cString: dlerror()))); install Debian's libnftables1")
        }
        func sym<T>(_ name: String, _: T.Type) throws -> T {
            guard let p = dlsym(h, name) else { throw NftError(message: "libnftables.so.1 has no \(name)") }
            return unsafeBitCast(p, to: T.self)
        }
        let new = try sym("nft_ctx_new", NewFn.self)
        free = try sym("nft_ctx_free", FreeFn.self)
        run = try sym("nft_run_cmd_from_buffer", RunFn.self)
        getOut = try sym("nft_ctx_get_output_buffer", GetFn.self)
        getErr = try sym("nft_ctx_get_error_buffer", GetFn.self)
        let bufOut = try sym("nft_ctx_buffer_output", IntFn.self)
        let bufErr = try sym("nft_ctx_buffer_error", IntFn.self)
        guard let c = new(0) else { throw NftError(message: "nft_ctx_new failed") }
        _ = bufOut(c)
        _ = bufErr(c)
        ctx = Mutex(Ctx(ptr: c))
    }

    deinit { ctx.withLock { free($0.ptr) } }

    /// Runs an nft script atomically and returns what it printed (for `list` commands).
    /// - Throws: `NftError` with nft's error text.
    @discardableResult
    public func run(_ script: String) throws -> String {
        try ctx.withLock { c in
            let rc = run(c.ptr, script)
            let out = getOut(c.ptr).map { String(cString: $0) } ?? ""
            if rc != 0 {
                let err = getErr(c.ptr).map { String(cString: $0) } ?? ""
                throw NftError(message: err.isEmpty ? "nft_run_cmd_from_buffer returned \(rc)" : err.trimmingTrailingNewlines())
            }
            return out
        }
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while s.last == "\n" { s.removeLast() }
        return String(s)
    }
}
