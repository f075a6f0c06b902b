import Foundation
import Glibc
import XCTest
@testable import AegisCgroup

/// Tests against this host's real cgroup2 hierarchy, each under its own parent
/// `aegis-test-<pid>-<n>` directly below the mount point, removed in tearDown whatever happens.
final class HostCgroupTests: XCTestCase {
    private static let counter = NSLock()
    nonisolated(unsafe) private static var next = 0
    private var root = ""
    private var parentName = ""
    private var manager: Cgroup2Manager!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("cgroup creation needs root") }
        root = try Cgroup2Hierarchy.find()
        Self.counter.lock()
        Self.next += 1
        parentName = "aegis-test-\(getpid())-\(Self.next)"
        Self.counter.unlock()
        manager = try Cgroup2Manager(root: root, parent: parentName, busyRetry: .init(attempts: 5, initialDelay: .milliseconds(2)))
    }

    override func tearDown() {
        if !parentName.isEmpty { forceRemoveCgroupTree(root + "/" + parentName) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/" + parentName), "test parent left behind")
    }

    private var parentPath: String { root + "/" + parentName }

    private func rootControllers() throws -> Set<String> {
        Set(words(try String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8)))
    }

    func testCreateMoveKillRemoveWithARealProcess() throws {
        let leaf = try manager.create(id: "box1")
        XCTAssertEqual(leaf.path, parentPath + "/box1")
        XCTAssertEqual(leaf.id, "box1")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: leaf.path, isDirectory: &isDir) && isDir.boolValue)
        XCTAssertEqual(try leaf.pids(), [])
        XCTAssertFalse(try leaf.isPopulated())

        let child = try Child(["/bin/sleep", "100"])
        try String(child.pid).write(toFile: leaf.procsPath, atomically: false, encoding: .utf8)
        XCTAssertEqual(child.cgroupPath, "/\(parentName)/box1")
        XCTAssertEqual(try leaf.pids(), [child.pid])
        XCTAssertTrue(try leaf.isPopulated())

        try leaf.kill()
        XCTAssertEqual(Child.termSignal(child.wait()), SIGKILL)
        XCTAssertTrue(try leaf.waitEmpty(timeout: .seconds(5)))
        try leaf.remove()
        XCTAssertFalse(FileManager.default.fileExists(atPath: leaf.path))
        XCTAssertNoThrow(try leaf.remove(), "remove is idempotent")
    }

    /// remove() alone kills a live process, waits for the leaf to empty, and deletes it.
    func testRemoveKillsWhatIsLeft() throws {
        let leaf = try manager.create(id: "busy")
        let child = try Child(["/bin/sleep", "100"])
        try String(child.pid).write(toFile: leaf.procsPath, atomically: false, encoding: .utf8)
        try leaf.remove()
        XCTAssertEqual(Child.termSignal(child.wait()), SIGKILL)
        XCTAssertFalse(leaf.exists)
    }

    /// Without cgroup.kill (kernel < 5.14, simulated) kill() signals every listed pid itself.
    func testKillFallbackWithoutCgroupKill() throws {
        let fallback = try Cgroup2Manager(
            root: root, parent: parentName,
            fileSystem: FailingWritesFileSystem(failName: "cgroup.kill", errno: ENOENT))
        let leaf = try fallback.create(id: "old-kernel")
        let children = try (0..<3).map { _ in try Child(["/bin/sleep", "100"]) }
        for c in children { try String(c.pid).write(toFile: leaf.procsPath, atomically: false, encoding: .utf8) }
        XCTAssertEqual(Set(try leaf.pids()), Set(children.map(\.pid)))
        try leaf.kill()
        for c in children { XCTAssertEqual(Child.termSignal(c.wait()), SIGKILL) }
        XCTAssertTrue(try leaf.waitEmpty(timeout: .seconds(5)))
        XCTAssertEqual(leaf.events()["frozen"], 0, "the fallback thaws the leaf again")
        try leaf.remove()
        XCTAssertFalse(leaf.exists)
    }

    /// Limits whose controller this host lacks fail with a message naming controller and file, and
    /// leave no directory; where the controller exists the value is written and read back.
    func testLimitsNeedTheirControllers() throws {
        let available = try rootControllers()
        let nested = try Cgroup2Manager(root: root, parent: parentName + "/inner")
        let cases: [(String, CgroupLimits, (CgroupLimits) -> Bool)] = [
            ("memory", CgroupLimits(memoryMax: 256 << 20), { $0.memoryMax == 256 << 20 }),
            ("cpu", CgroupLimits(cpuMax: .init(quota: 20_000, period: 100_000)), { $0.cpuMax == .init(quota: 20_000, period: 100_000) }),
            ("pids", CgroupLimits(pidsMax: 32), { $0.pidsMax == 32 }),
        ]
        for (controller, limits, check) in cases {
            if available.contains(controller) {
                let leaf = try nested.create(id: "with-\(controller)", limits: limits)
                XCTAssertTrue(check(leaf.readLimits()), "\(controller): \(leaf.readLimits())")
                try leaf.remove()
            } else {
                let error = assertCgroupError { try nested.create(id: "with-\(controller)", limits: limits) }
                XCTAssertEqual(error?.code, .controllerUnavailable)
                XCTAssertEqual(error?.path, root + "/cgroup.controllers")
                let listed =
                    available.isEmpty
                    ? "none"
                    : try String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8)
                        .split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: " ")
                XCTAssertEqual(
                    error?.description,
                    "cgroup: \(controller) limit requested but the \(controller) controller is not available in \(root)/cgroup.controllers (available: \(listed))"
                )
                XCTAssertFalse(FileManager.default.fileExists(atPath: parentPath), "\(controller): parent left behind")
            }
        }
    }

    func testDuplicateIdIsRefusedAndOriginalKept() throws {
        let first = try manager.create(id: "dup")
        let error = assertCgroupError { try manager.create(id: "dup") }
        XCTAssertEqual(error?.code, .duplicate)
        XCTAssertEqual(error?.path, first.path)
        XCTAssertTrue(first.exists)
        for bad in ["", ".", "..", "a/b", "cgroup.procs", String(repeating: "x", count: 256)] {
            XCTAssertEqual(assertCgroupError { try manager.create(id: bad) }?.code, .invalidArgument, bad)
        }
    }

    func testOpenExistingPathReadopts() throws {
        let created = try manager.create(id: "adopt")
        let child = try Child(["/bin/sleep", "100"])
        try String(child.pid).write(toFile: created.procsPath, atomically: false, encoding: .utf8)

        // A fresh manager (as after a restart) finds the same leaf and its process.
        let restarted = try Cgroup2Manager(root: root, parent: parentName)
        let adopted = try restarted.open(existingPath: created.path + "/")
        XCTAssertEqual(adopted.path, created.path)
        XCTAssertEqual(try adopted.pids(), [child.pid])
        try adopted.remove()
        XCTAssertEqual(Child.termSignal(child.wait()), SIGKILL)

        XCTAssertEqual(assertCgroupError { try restarted.open(existingPath: "/tmp") }?.code, .notACgroup)
        XCTAssertEqual(assertCgroupError { try restarted.open(existingPath: self.parentPath + "/nope") }?.code, .notFound)
        XCTAssertEqual(assertCgroupError { try restarted.open(existingPath: created.path) }?.code, .notFound, "removed leaf")
        XCTAssertEqual(assertCgroupError { try restarted.open(existingPath: self.parentPath + "/../etc") }?.code, .invalidArgument)
    }

    func testDirectoryFDRefersToTheLeaf() throws {
        let leaf = try manager.create(id: "fd")
        let fd = try leaf.openDirectoryFD()
        defer { close(fd) }
        XCTAssertNotEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0)
        var a = stat(), b = stat()
        XCTAssertEqual(fstat(fd, &a), 0)
        XCTAssertEqual(stat(leaf.path, &b), 0)
        XCTAssertEqual(a.st_ino, b.st_ino)
        XCTAssertEqual(a.st_mode & S_IFMT, S_IFDIR)
    }

    /// cpu.stat exists without the cpu controller and accounts the CPU a member burns.
    func testCPUStatCountsWorkDoneInTheLeaf() throws {
        let leaf = try manager.create(id: "cpu")
        XCTAssertEqual(leaf.cpuStat()["usage_usec"], 0, "fresh leaf has used no CPU")
        let child = try Child(["/bin/sh", "-c", "read x; i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done"], gated: true)
        try String(child.pid).write(toFile: leaf.procsPath, atomically: false, encoding: .utf8)
        child.release()
        XCTAssertNil(Child.termSignal(child.wait()))
        let stat = leaf.cpuStat()
        XCTAssertGreaterThan(stat["usage_usec"] ?? 0, 10_000, "\(stat)")
        XCTAssertNotNil(stat["user_usec"])
        XCTAssertNotNil(stat["system_usec"])
        try leaf.remove()
    }

    /// Stats of controllers that are not enabled come back empty / nil rather than failing.
    func testStatsWithoutControllersAreEmpty() throws {
        let leaf = try manager.create(id: "stats")
        let enabled = Set(words(try String(contentsOfFile: parentPath + "/cgroup.controllers", encoding: .utf8)))
        XCTAssertEqual(leaf.memoryEvents().isEmpty, !enabled.contains("memory"))
        XCTAssertEqual(leaf.memoryCurrent() == nil, !enabled.contains("memory"))
        XCTAssertEqual(leaf.pidsCurrent() == nil, !enabled.contains("pids"))
        if !enabled.contains("memory") { XCTAssertNil(leaf.memoryPeak()) }
        XCTAssertEqual(leaf.readLimits() == .none, enabled.isDisjoint(with: ["memory", "cpu", "pids"]))
    }

    func testFreezeAndThaw() throws {
        let leaf = try manager.create(id: "ice")
        let child = try Child(["/bin/sleep", "100"])
        try String(child.pid).write(toFile: leaf.procsPath, atomically: false, encoding: .utf8)
        try leaf.freeze()
        XCTAssertEqual(leaf.events()["frozen"], 1)
        let status = try String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("State:\tS") || status.contains("State:\tD"), status)
        try leaf.thaw()
        XCTAssertEqual(leaf.events()["frozen"], 0)
        try leaf.remove()
        XCTAssertFalse(child.isRunning)
    }

    func testAvailableControllersOfTheParent() throws {
        XCTAssertEqual(manager.availableControllers(), try rootControllers(), "parent missing: nearest ancestor is the root")
        _ = try manager.create(id: "x")
        let parentList = Set(words(try String(contentsOfFile: parentPath + "/cgroup.controllers", encoding: .utf8)))
        XCTAssertEqual(manager.availableControllers(), parentList)
    }

    /// On this host the runtime (the test process) sits in the cgroup it was started in; plan()
    /// must never propose moving it when that is the root, and never any other process.
    func testPlanOnThisHost() throws {
        let own = try Cgroup2Hierarchy.ownCgroup()
        let plan = try Cgroup2Manager(root: root).plan()
        if own == "/" {
            guard case .nothingToDo = plan else { return XCTFail("root cgroup must be exempt, got \(plan)") }
        } else if case .moveSelf(let from, let to) = plan {
            XCTAssertEqual(from, own)
            XCTAssertEqual(to, own + "/supervisor")
        }
    }
}
