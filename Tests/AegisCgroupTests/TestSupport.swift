import Foundation
import Glibc
import XCTest
@testable import AegisCgroup

// MARK: - Child processes (test-only: the tests start them, then move them into test leaves)

/// A child started with posix_spawn. With `gated`, its stdin is a pipe and the program is expected
/// to block on `read` until `release()`, so it can be moved into a cgroup before doing any work.
final class Child {
    let pid: pid_t
    private var gateFD: Int32
    private var reaped = false

    init(_ argv: [String], gated: Bool = false) throws {
        var fds: [Int32] = [-1, -1]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if gated {
            guard pipe(&fds) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, nil, cargs, environ)
        if gated { close(fds[0]) }
        guard rc == 0 else {
            if gated { close(fds[1]) }
            throw POSIXError(.init(rawValue: rc)!)
        }
        pid = child
        gateFD = gated ? fds[1] : -1
    }

    /// Lets a gated child proceed (closes the pipe: its `read` returns).
    func release() {
        if gateFD >= 0 { close(gateFD); gateFD = -1 }
    }

    /// waitpid; returns the raw status.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        return status
    }

    /// Terminating signal of a raw wait status, or nil when the child exited normally.
    static func termSignal(_ status: Int32) -> Int32? {
        let sig = status & 0x7f
        return (sig != 0 && sig != 0x7f) ? sig : nil
    }

    /// Whether the process exists and is not a zombie.
    var isRunning: Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// The `0::` path from /proc/<pid>/cgroup.
    var cgroupPath: String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        return try? Cgroup2Hierarchy.parseProcCgroup(text)
    }

    deinit {
        release()
        if !reaped {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

// MARK: - Forced cleanup of a test subtree on the real hierarchy

/// Kills every process below `path` (cgroup.kill on the subtree top, else SIGKILL per pid) and
/// removes all directories depth-first. Used in tearDown so a failed test leaves nothing behind.
func forceRemoveCgroupTree(_ path: String) {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return }
    if let h = FileHandle(forWritingAtPath: path + "/cgroup.kill") {
        try? h.write(contentsOf: Data("1".utf8))
        try? h.close()
    }
    func removeDepthFirst(_ dir: String) {
        let entries = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
        for name in entries {
            var sub: ObjCBool = false
            let full = dir + "/" + name
            if fm.fileExists(atPath: full, isDirectory: &sub), sub.boolValue { removeDepthFirst(full) }
        }
        for _ in 0..<200 {
            if let procs = try? String(contentsOfFile: dir + "/cgroup.procs", encoding: .utf8) {
                for line in procs.split(separator: "\n") { if let p = Int32(line) { Glibc.kill(p, SIGKILL) } }
            }
            if rmdir(dir) == 0 || errno == ENOENT { return }
            usleep(10_000)
        }
    }
    removeDepthFirst(path)
}

// MARK: - Wrapping file system for failure injection on the real hierarchy

/// Delegates to the real file system but fails writes to files with the given name.
struct FailingWritesFileSystem: CgroupFileSystem {
    let base = SystemCgroupFileSystem()
    let failName: String
    let errno: Int32

    func read(_ path: String) throws(CgroupError) -> String { try base.read(path) }
    func write(_ path: String, _ value: String) throws(CgroupError) {
        if path.hasSuffix("/" + failName) { throw CgroupError.syscall("open", path, errno: errno) }
        try base.write(path, value)
    }
    func makeDirectory(_ path: String) throws(CgroupError) { try base.makeDirectory(path) }
    func removeDirectory(_ path: String) throws(CgroupError) { try base.removeDirectory(path) }
    func exists(_ path: String) -> Bool { base.exists(path) }
}

/// Asserts that `body` throws a `CgroupError` and returns it.
func assertCgroupError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> CgroupError? {
    do {
        _ = try body()
        XCTFail("expected a CgroupError, got success", file: file, line: line)
        return nil
    } catch let error as CgroupError {
        return error
    } catch {
        XCTFail("expected a CgroupError, got \(error)", file: file, line: line)
        return nil
    }
}
