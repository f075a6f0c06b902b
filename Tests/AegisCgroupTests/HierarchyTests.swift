import Foundation
import Glibc
import XCTest
@testable import AegisCgroup
import AegisSystem

final class HierarchyTests: XCTestCase {
    /// The mount found from /proc/self/mountinfo is a cgroup2 root: it has the core interface files
    /// only cgroup2 has (cgroup.controllers, cgroup.subtree_control), and only the root lacks cgroup.events.
    func testFindsThisHostsCgroup2Mount() throws {
        let root = try Cgroup2Hierarchy.find()
        let fm = FileManager.default
        for name in ["cgroup.controllers", "cgroup.subtree_control", "cgroup.procs"] {
            XCTAssertTrue(fm.fileExists(atPath: root + "/" + name), "\(root)/\(name)")
        }
        XCTAssertFalse(fm.fileExists(atPath: root + "/cgroup.events"), "\(root) is not the hierarchy root")
    }

    /// The own cgroup names a directory of that hierarchy whose cgroup.procs lists this process.
    func testOwnCgroupListsThisProcess() throws {
        let root = try Cgroup2Hierarchy.find()
        let own = try Cgroup2Hierarchy.ownCgroup()
        XCTAssertTrue(own.hasPrefix("/"))
        let procs = try String(contentsOfFile: root + (own == "/" ? "" : own) + "/cgroup.procs", encoding: .utf8)
        XCTAssertTrue(procs.split(separator: "\n").contains(Substring(String(getpid()))))
    }

    func testParsesEscapedMountPointAndOptionalFields() throws {
        let sample = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu
            50 31 0:40 / /odd/a\\040-\\040b rw shared:11 master:2 - tmpfs none rw
            41 31 0:38 / /sys/fs/cgroup/my\\040unified\\011tab rw,nosuid shared:12 master:3 - cgroup2 cgroup2 rw,nsdelegate
            """
        XCTAssertEqual(try Cgroup2Hierarchy.parseMountinfo(sample), "/sys/fs/cgroup/my unified\ttab")
    }

    /// An escaped " - " inside a mount point must not be mistaken for the separator.
    func testSeparatorInsideEscapedPathIsIgnored() throws {
        let sample = "50 31 0:40 / /x\\040-\\040cgroup2 rw - tmpfs none rw\n"
        let error = assertCgroupError { try Cgroup2Hierarchy.parseMountinfo(sample) }
        XCTAssertEqual(error?.code, .noCgroup2Mount)
    }

    func testPureV2LayoutAndFileInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-cgroup-mi-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("mountinfo").path
        try "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Cgroup2Hierarchy.find(mountinfo: file), "/sys/fs/cgroup")

        let missing = assertCgroupError { try Cgroup2Hierarchy.find(mountinfo: dir.path + "/nope") }
        XCTAssertEqual(missing?.errno, ENOENT)
        XCTAssertEqual(missing?.description, "open \(dir.path)/nope: ENOENT (2)")
    }

    func testNoCgroup2MountIsAnError() {
        let v1Only = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            """
        let error = assertCgroupError { try Cgroup2Hierarchy.parseMountinfo(v1Only, source: "sample") }
        XCTAssertEqual(error?.code, .noCgroup2Mount)
        XCTAssertTrue(error?.description.contains("sample") ?? false)
    }

    func testUnescape() {
        XCTAssertEqual(Cgroup2Hierarchy.unescapeMountField("a\\134b\\012c"), "a\\b\nc")
        XCTAssertEqual(Cgroup2Hierarchy.unescapeMountField("trailing\\04"), "trailing\\04")
        XCTAssertEqual(Cgroup2Hierarchy.unescapeMountField("\\999"), "\\999")
    }

    func testProcSelfCgroupParsing() throws {
        let hybrid = "9:name=systemd:/\n4:memory:/x/y\n0::/\n"
        XCTAssertEqual(try Cgroup2Hierarchy.parseProcCgroup(hybrid), "/")
        XCTAssertEqual(try Cgroup2Hierarchy.parseProcCgroup("0::/user.slice/a:b.scope\n"), "/user.slice/a:b.scope")

        let v1 = assertCgroupError { try Cgroup2Hierarchy.parseProcCgroup("4:memory:/x\n1:cpu:/\n") }
        XCTAssertEqual(v1?.code, .noUnifiedEntry)
        let deleted = assertCgroupError { try Cgroup2Hierarchy.parseProcCgroup("0::/gone (deleted)\n") }
        XCTAssertEqual(deleted?.code, .notACgroup)
    }

    func testErrorDescriptionFormat() {
        let e = CgroupError.syscall("write", "/sys/fs/cgroup/unified/aegis/x/memory.max", errno: EACCES)
        XCTAssertEqual(e.description, "write /sys/fs/cgroup/unified/aegis/x/memory.max: EACCES (13)")
        XCTAssertEqual(Errno(EBUSY).name, "EBUSY")
        XCTAssertEqual(Errno(9999).name, "errno")
    }
}
