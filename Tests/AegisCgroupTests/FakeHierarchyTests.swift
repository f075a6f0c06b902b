import Glibc
import XCTest
@testable import AegisCgroup

/// Controller enabling, limit writing, EBUSY handling and the prepare() decision on an in-memory
/// hierarchy (this host's cgroup2 has no memory/cpu/pids controllers, and the test process must
/// never be moved for real).
final class FakeHierarchyTests: XCTestCase {
    private let fastRetry = BusyRetry(attempts: 5, initialDelay: .milliseconds(1))
    private let allLimits = CgroupLimits(
        memoryMax: 1 << 30, memorySwapMax: 256 << 20,
        cpuMax: .init(quota: 50_000, period: 100_000), cpuWeight: 100, pidsMax: 64)

    private func manager(_ fake: FakeHierarchy, parent: String? = "svc/aegis") throws -> Cgroup2Manager {
        try Cgroup2Manager(
            root: fake.root, parent: parent, busyRetry: fastRetry, fileSystem: fake,
            ownCgroup: { () throws(CgroupError) -> String in fake.cgroupOf(getpid()) })
    }

    func testEnablesControllersInEveryAncestorButNotTheLeaf() throws {
        let fake = FakeHierarchy(controllers: ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"])
        let leaf = try manager(fake).create(id: "s1", limits: allLimits)
        XCTAssertEqual(leaf.path, "/fake/svc/aegis/s1")
        for dir in ["/fake", "/fake/svc", "/fake/svc/aegis"] {
            XCTAssertEqual(Set(words(try fake.read(dir + "/cgroup.subtree_control"))), ["memory", "cpu", "pids"], dir)
        }
        XCTAssertEqual(try fake.read(leaf.path + "/cgroup.subtree_control"), "", "never enable in the leaf")
        XCTAssertEqual(fake.writes(to: "/cgroup.subtree_control").map(\.value), Array(repeating: "+memory +cpu +pids", count: 3))
        XCTAssertEqual(try fake.read(leaf.path + "/memory.max"), "1073741824")
        XCTAssertEqual(try fake.read(leaf.path + "/memory.swap.max"), "268435456")
        XCTAssertEqual(try fake.read(leaf.path + "/cpu.max"), "50000 100000")
        XCTAssertEqual(try fake.read(leaf.path + "/cpu.weight"), "100")
        XCTAssertEqual(try fake.read(leaf.path + "/pids.max"), "64")
        XCTAssertEqual(leaf.readLimits(), allLimits)
        XCTAssertEqual(leaf.memoryEvents()["oom_kill"], 0)

        // A second leaf finds the controllers already enabled and writes no subtree_control again.
        _ = try manager(fake).create(id: "s2", limits: CgroupLimits(pidsMax: -1))
        XCTAssertEqual(fake.writes(to: "/cgroup.subtree_control").count, 3)
        XCTAssertEqual(try fake.read("/fake/svc/aegis/s2/pids.max"), "max")
    }

    func testOnlyTheNeededControllersAreEnabled() throws {
        let fake = FakeHierarchy(controllers: ["cpu", "memory", "pids"])
        _ = try manager(fake, parent: "p").create(id: "a", limits: CgroupLimits(pidsMax: 5))
        XCTAssertEqual(words(try fake.read("/fake/p/cgroup.subtree_control")), ["pids"])
        let opportunistic = try Cgroup2Manager(
            root: "/fake", parent: "q", opportunisticControllers: ["memory", "rdma"],
            busyRetry: fastRetry, fileSystem: fake)
        let b = try opportunistic.create(id: "b", limits: CgroupLimits(pidsMax: 5))
        XCTAssertEqual(
            Set(words(try fake.read("/fake/q/cgroup.subtree_control"))), ["pids", "memory"],
            "available opportunistic controllers are enabled, missing ones (rdma) skipped")
        XCTAssertNotNil(b.memoryCurrent())
    }

    func testTransientEBUSYIsRetried() throws {
        let fake = FakeHierarchy(controllers: ["memory"])
        fake.injectedBusy["/fake/svc"] = 2
        let leaf = try manager(fake).create(id: "x", limits: CgroupLimits(memoryMax: 1 << 20))
        let attempts = fake.writes(to: "/fake/svc/cgroup.subtree_control")
        XCTAssertEqual(attempts.map(\.errno), [EBUSY, EBUSY, 0])
        XCTAssertEqual(try fake.read(leaf.path + "/memory.max"), "1048576")
    }

    func testPersistentEBUSYFailsAndLeavesNothing() throws {
        let fake = FakeHierarchy(controllers: ["memory"])
        fake.injectedBusy["/fake/svc"] = 100
        let error = assertCgroupError { try self.manager(fake).create(id: "x", limits: CgroupLimits(memoryMax: 1 << 20)) }
        XCTAssertEqual(error?.errno, EBUSY)
        XCTAssertEqual(error?.path, "/fake/svc/cgroup.subtree_control")
        XCTAssertTrue(error?.description.hasPrefix("write /fake/svc/cgroup.subtree_control: EBUSY (16) — ") ?? false)
        XCTAssertTrue(error?.description.contains("No Internal Process Constraint") ?? false)
        XCTAssertEqual(fake.writes(to: "/fake/svc/cgroup.subtree_control").count, fastRetry.attempts)
        XCTAssertEqual(fake.directories, [], "svc and svc/aegis were created by this call and must be gone")
    }

    func testMissingControllerNamesItAndLeavesNothing() throws {
        let fake = FakeHierarchy(controllers: ["cpu", "hugetlb"])
        let error = assertCgroupError { try self.manager(fake).create(id: "x", limits: self.allLimits) }
        XCTAssertEqual(error?.code, .controllerUnavailable)
        XCTAssertEqual(
            error?.description,
            "cgroup: memory limit requested but the memory controller is not available in /fake/cgroup.controllers (available: cpu hugetlb)"
        )
        XCTAssertEqual(fake.directories, [])
        XCTAssertEqual(fake.writes(to: "subtree_control").count, 0)
    }

    func testFailedLimitWriteRemovesTheLeafAndNewAncestors() throws {
        let fake = FakeHierarchy(controllers: ["memory"])
        fake.swapAccounting = false
        fake.mkdirs("svc")  // pre-existing ancestor: must survive
        let error = assertCgroupError { try self.manager(fake).create(id: "x", limits: CgroupLimits(memoryMax: 1 << 20, memorySwapMax: 0)) }
        XCTAssertEqual(error?.errno, ENOENT)
        XCTAssertTrue(
            error?.description.hasPrefix("write /fake/svc/aegis/x/memory.swap.max: ENOENT (2) — memory.swap.max does not exist") ?? false,
            error?.description ?? "")
        XCTAssertEqual(fake.directories, ["/fake/svc"])
    }

    // MARK: prepare()

    func testPlanDecisions() throws {
        let me = getpid()
        let fake = FakeHierarchy(controllers: ["memory", "cpu", "pids"])
        // Root: exempt from the no-internal-processes rule.
        fake.setProcsRoot([me, 1])
        guard case .nothingToDo = try manager(fake, parent: nil).plan() else { return XCTFail("root must be exempt") }

        // Non-root own cgroup holding processes, controllers available → move only ourselves.
        fake.mkdirs("svc")
        fake.setProcs("svc", [me, 4242])
        let m = try manager(fake, parent: nil)
        XCTAssertEqual(m.parent, "svc/aegis")
        XCTAssertEqual(try m.plan(), .moveSelf(from: "/svc", to: "/svc/supervisor"))

        // Parent configured outside the own cgroup: nothing to move.
        XCTAssertNotEqual(try manager(fake, parent: "elsewhere").plan(), .moveSelf(from: "/svc", to: "/svc/supervisor"))

        // No controller to enable: nothing to move.
        let bare = FakeHierarchy(controllers: ["hugetlb"])
        bare.mkdirs("svc")
        bare.setProcs("svc", [me])
        guard case .nothingToDo(let reason) = try manager(bare, parent: nil).plan() else { return XCTFail("nothing to enable") }
        XCTAssertTrue(reason.contains("/fake/cgroup.controllers"), reason)
    }

    func testPrepareMovesOnlyItselfThenLeavesCanGetControllers() throws {
        let me = getpid()
        let fake = FakeHierarchy(controllers: ["memory", "cpu", "pids"])
        fake.mkdirs("svc")
        fake.setProcs("svc", [me])
        let m = try manager(fake, parent: nil)

        let before = assertCgroupError { try m.create(id: "early", limits: CgroupLimits(pidsMax: 8)) }
        XCTAssertEqual(before?.errno, EBUSY, "svc holds the runtime: no internal processes")
        XCTAssertEqual(fake.directories, ["/fake/svc"])

        XCTAssertEqual(try m.prepare(), .moveSelf(from: "/svc", to: "/svc/supervisor"))
        XCTAssertEqual(fake.cgroupOf(me), "/svc/supervisor")
        XCTAssertEqual(fake.writes(to: "/cgroup.procs").map(\.value), [String(me)], "exactly one move: ourselves")
        guard case .nothingToDo = try m.prepare() else { return XCTFail("prepare must be idempotent") }
        XCTAssertEqual(fake.writes(to: "/cgroup.procs").count, 1)

        let leaf = try m.create(id: "late", limits: CgroupLimits(pidsMax: 8))
        XCTAssertEqual(leaf.path, "/fake/svc/aegis/late")
        XCTAssertEqual(try fake.read("/fake/svc/aegis/late/pids.max"), "8")

        // A manager built after the move (same process) keeps the same layout.
        XCTAssertEqual(try manager(fake, parent: nil).parent, "svc/aegis")
    }

    func testPrepareRefusesToMoveForeignProcesses() throws {
        let me = getpid()
        let fake = FakeHierarchy(controllers: ["memory"])
        fake.mkdirs("svc")
        fake.setProcs("svc", [me, 4242, 4343])
        let error = assertCgroupError { try self.manager(fake, parent: nil).prepare() }
        XCTAssertEqual(error?.errno, EBUSY)
        XCTAssertTrue(error?.description.contains("pids 4242, 4343") ?? false, error?.description ?? "")
        XCTAssertEqual(fake.cgroupOf(me), "/svc/supervisor", "the runtime itself was moved")
        XCTAssertEqual(fake.cgroupOf(4242), "/svc", "foreign processes stay where they were")
    }

    func testDefaultParentDerivation() {
        XCTAssertEqual(Cgroup2Manager.defaultParent(forOwnCgroup: "/"), "/aegis")
        XCTAssertEqual(Cgroup2Manager.defaultParent(forOwnCgroup: "/system.slice/a.service"), "/system.slice/a.service/aegis")
        XCTAssertEqual(Cgroup2Manager.defaultParent(forOwnCgroup: "/system.slice/a.service/supervisor"), "/system.slice/a.service/aegis")
        XCTAssertEqual(Cgroup2Manager.defaultParent(forOwnCgroup: "/supervisor"), "/aegis")
    }
}
