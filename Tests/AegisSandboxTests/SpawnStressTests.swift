// Spawning from a multithreaded process whose other threads allocate all the time: a glibc
// fork() between clone and execve could inherit a held malloc lock and hang forever (seen ~1 in
// 160 spawns before the agent was created with a raw clone). Every spawn must end within its
// deadline, and no state directory or cgroup leaf may outlive its sandbox.
import Foundation
import XCTest
@testable import AegisSandbox
import AegisOCI

final class SpawnStressTests: SandboxTestCase {
    func testTwoThousandSpawnsWhileOtherThreadsAllocate() throws {
        let total = Int(ProcessInfo.processInfo.environment["AEGIS_SPAWN_STRESS"] ?? "") ?? 2000
        let rootfs = tempDir + "/root-stress"
        try AgentProfile.prepareRootfs(at: rootfs)
        let work = try makeWorkDir()
        let spec = AgentProfile.spec(
            AgentSandboxRequest(args: ["/bin/true"], workDir: work, uid: Self.agentUID, gid: Self.agentUID),
            rootfs: rootfs)
        let stop = ManagedAtomicFlag()
        var allocators: [Thread] = []
        for _ in 0..<2 {
            let t = Thread {
                var keep: [[UInt8]] = []
                while !stop.isSet {
                    keep.append([UInt8](repeating: 1, count: Int.random(in: 16...65_536)))
                    if keep.count > 64 { keep.removeFirst(32) }
                }
            }
            t.start()
            allocators.append(t)
        }
        defer { stop.set() }
        let results = StressResults()
        let deadline: Duration = .seconds(20)
        let (runtime, bundle) = (self.runtime!, tempDir)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for i in stride(from: worker, to: total, by: 2) {
                let id = "stress-\(i)"
                let began = ContinuousClock.now
                do {
                    try runtime.create(id: id, spec: spec, bundle: bundle, options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
                    guard let outcome = try runtime.wait(id, timeout: deadline) else {
                        throw SandboxError(.system, "no outcome within \(deadline)")
                    }
                    if outcome.exitCode != 0 { throw SandboxError(.system, "exit \(outcome.exitCode)") }
                    try runtime.delete(id)
                } catch {
                    try? runtime.delete(id, force: true)
                    results.fail("\(id): \(error)")
                }
                let took = ContinuousClock.now - began
                results.took(took)
                if took > deadline { results.fail("\(id) took \(took)") }
            }
        }
        let (failures, slowest) = results.snapshot
        stop.set()
        XCTAssertEqual(failures, [], "\(failures.count) of \(total) spawns failed")
        print("spawn-stress: \(total) spawns, slowest create→wait→delete \(slowest)")
        let leftDirs = try FileManager.default.contentsOfDirectory(atPath: runtime.stateRoot).filter { $0.hasPrefix("stress-") }
        XCTAssertEqual(leftDirs, [], "state directories outlived their sandboxes")
        let leftLeaves = ((try? FileManager.default.contentsOfDirectory(atPath: runtime.cgroups.parentPath)) ?? []).filter {
            $0.hasPrefix("stress-")
        }
        XCTAssertEqual(leftLeaves, [], "cgroup leaves outlived their sandboxes")
    }
}

final class StressResults: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String] = []
    private var slowest: Duration = .zero
    func fail(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
    func took(_ d: Duration) { lock.lock(); slowest = max(slowest, d); lock.unlock() }
    var snapshot: ([String], Duration) { lock.lock(); defer { lock.unlock() }; return (failures, slowest) }
}

/// A flag set once, read from other threads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
