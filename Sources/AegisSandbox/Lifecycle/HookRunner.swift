// HookRunner.swift — OCI lifecycle hooks (config.md § POSIX-platform Hooks, runtime.md § Lifecycle).
// Each hook gets the container's state JSON on stdin; prestart/createRuntime/poststart/poststop run
// in the runtime's namespaces, createContainer/startContainer in the container's (shim hooks.c).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import CAegisShim

/// The lifecycle points at which hooks run.
public enum HookPoint: String, Sendable, CaseIterable {
    case prestart, createRuntime, createContainer, startContainer, poststart, poststop

    /// Whether the hook runs inside the container's namespaces (else the runtime's).
    var inContainer: Bool { self == .createContainer || self == .startContainer }

    /// Whether a failure stops the lifecycle (an error) or is only a warning (poststart, poststop).
    var isFatal: Bool { self != .poststart && self != .poststop }

    func hooks(in h: Hooks) -> [Hook] {
        switch self {
        case .prestart: return h.prestart ?? []
        case .createRuntime: return h.createRuntime ?? []
        case .createContainer: return h.createContainer ?? []
        case .startContainer: return h.startContainer ?? []
        case .poststart: return h.poststart ?? []
        case .poststop: return h.poststop ?? []
        }
    }
}

enum HookRunner {
    /// Runs the hooks of `point` in order. A fatal point throws at the first failure, naming the
    /// hook ("hooks.prestart[1] /path: exit status 3"); poststart/poststop failures are warnings and
    /// the remaining hooks still run.
    static func run(_ point: HookPoint, of hooks: Hooks?, state: ContainerState, containerPid: Int32) throws {
        guard let hooks else { return }
        let list = point.hooks(in: hooks)
        guard !list.isEmpty else { return }
        let stateJSON = Array(try JSONEncoder().encode(state))
        for (i, hook) in list.enumerated() {
            let name = "hooks.\(point.rawValue)[\(i)] \(hook.path)"
            if let problem = runOne(hook, state: stateJSON, nsPid: point.inContainer ? containerPid : 0) {
                if point.isFatal { throw SandboxError(.step, "\(name): \(problem)", step: "hook \(point.rawValue)") }
                SandboxRuntime.warn("\(name): \(problem) (continuing)")
            }
        }
    }

    /// nil when the hook exited 0, else what went wrong.
    static func runOne(_ hook: Hook, state: [UInt8], nsPid: Int32) -> String? {
        let args = (hook.args?.isEmpty == false) ? hook.args! : [hook.path]
        let arena = CArena()
        var result = aegis_hook_result()
        let timeoutMs = hook.timeout.map { Int32(clamping: max(1, $0) * 1000) } ?? 0
        let rc = state.withUnsafeBytes { bytes in
            aegis_run_hook(
                hook.path, arena.stringArray(args), arena.stringArray(hook.env ?? []),
                bytes.baseAddress, bytes.count, nsPid, timeoutMs, &result)
        }
        withExtendedLifetime(arena) {}
        if rc != 0 { return SandboxError.shim(step: result.step, err: result.err, detail: result.detail).description }
        if result.timed_out != 0 { return "killed after its timeout of \(hook.timeout ?? 0) s" }
        let status = result.status
        if status & 0x7f != 0 { return "killed by signal \(status & 0x7f)" }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : "exit status \(code)"
    }
}
