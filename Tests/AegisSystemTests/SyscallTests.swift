// SyscallTests.swift — openat2's RESOLVE_BENEATH, pidfds, memfd seals, /proc readers.
import AegisSystem
import Glibc
import XCTest

final class SyscallTests: XCTestCase {
    var temp: TempDirectory!

    override func setUpWithError() throws { temp = try TempDirectory() }
    override func tearDown() { temp.remove() }

    /// Opens `path` beneath `root` with `resolve`; the fd or the errno.
    func openBeneath(_ root: Int32, _ path: String, _ resolve: ResolveFlags) -> Result<Int32, Errno> {
        let fd = Syscall.openat2(root, path, flags: O_RDONLY | O_CLOEXEC, resolve: resolve)
        if fd < 0 { return .failure(.current) }
        close(fd)
        return .success(fd)
    }

    func testOpenat2BeneathRefusesDotDotAndSymlinksOut() throws {
        let outside = try TempDirectory()
        defer { outside.remove() }
        try outside.write("secret", "s")
        try FileSystem.makeDirectories(temp.file("root/sub"))
        try temp.write("root/sub/ok", "fine")
        XCTAssertEqual(symlink(outside.file("secret"), temp.file("root/abs-out")), 0)
        XCTAssertEqual(symlink("../../" + outside.path.split(separator: "/").last! + "/secret", temp.file("root/rel-out")), 0)
        XCTAssertEqual(symlink("sub/ok", temp.file("root/rel-in")), 0)
        let root = open(temp.file("root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(root, 0)
        defer { close(root) }

        XCTAssertNoThrow(try openBeneath(root, "sub/ok", .beneath).get())
        XCTAssertNoThrow(try openBeneath(root, "rel-in", .beneath).get(), "a symlink that stays inside is followed")
        for escape in ["../secret", "sub/../../root/sub/ok", "/etc/passwd", "abs-out", "rel-out"] {
            XCTAssertThrowsError(try openBeneath(root, escape, .beneath).get(), escape) { error in
                XCTAssertEqual(error as? Errno, Errno(EXDEV), escape)
            }
        }
        XCTAssertThrowsError(try openBeneath(root, "rel-in", .strictlyBeneath).get()) { error in
            XCTAssertEqual(error as? Errno, Errno(ELOOP), "no symlinks at all with noSymlinks")
        }
    }

    func testPidfdSignalsTheProcessAndReportsItsExit() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { argv.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ), 0)
        let fd = Syscall.pidfdOpen(pid)
        XCTAssertGreaterThanOrEqual(fd, 0, "\(Errno.current)")
        defer { close(fd) }
        XCTAssertNotNil(ProcFS.startTime(of: pid))
        XCTAssertTrue(ProcFS.isAlive(pid, startTime: ProcFS.startTime(of: pid) ?? 0))
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&ready, 1, 0), 0, "readable only once the process exits")
        XCTAssertEqual(Syscall.pidfdSendSignal(fd, SIGKILL), 0)
        XCTAssertEqual(poll(&ready, 1, Duration.pollTimeout(.seconds(10))), 1)
        XCTAssertNil(ProcFS.startTime(of: pid), "a zombie has no start time")
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        XCTAssertEqual(status & 0x7f, SIGKILL)
        let again = Syscall.pidfdSendSignal(fd, SIGKILL)
        let error = Errno.current
        XCTAssertEqual(again, -1)
        XCTAssertEqual(error, Errno(ESRCH), "the process is gone")
    }

    func testMemfdSeals() throws {
        let fd = Syscall.memfdCreate("aegis-test", allowSealing: true)
        XCTAssertGreaterThanOrEqual(fd, 0, "\(Errno.current)")
        defer { close(fd) }
        XCTAssertEqual(write(fd, "abc", 3), 3)
        XCTAssertFalse(Syscall.memfdIsSealed(fd))
        XCTAssertEqual(Syscall.memfdSeal(fd), 0)
        XCTAssertTrue(Syscall.memfdIsSealed(fd))
        let written = write(fd, "x", 1)
        let error = Errno.current
        XCTAssertEqual(written, -1)
        XCTAssertEqual(error, Errno(EPERM), "a sealed memfd refuses writes")
        let unsealable = Syscall.memfdCreate("aegis-test", allowSealing: false)
        defer { close(unsealable) }
        XCTAssertEqual(Syscall.memfdSeal(unsealable), -1)
    }

    func testProcReaders() throws {
        try temp.write("meminfo", "MemTotal:       16318264 kB\nMemFree:  1 kB\nMemAvailable:    8000000 kB\n")
        XCTAssertEqual(ProcFS.memoryAvailableBytes(meminfo: temp.file("meminfo")), 8_000_000 * 1024)
        try temp.write("loadavg", "0.52 0.40 0.33 2/512 12345\n")
        XCTAssertEqual(ProcFS.loadAverage1m(loadavg: temp.file("loadavg")), 0.52)
        XCTAssertNil(ProcFS.memoryAvailableBytes(meminfo: temp.file("missing")))
        // comm with spaces and parentheses; state S; starttime (field 22) 4242.
        let fields = "1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10"
        XCTAssertEqual(ProcFS.parseStartTime(stat: "77 (a (b) c) S " + fields), 4242)
        XCTAssertNil(ProcFS.parseStartTime(stat: "77 (a (b) c) Z " + fields), "a zombie")
        // The real host's files parse.
        XCTAssertNotNil(ProcFS.memoryAvailableBytes())
        XCTAssertNotNil(ProcFS.loadAverage1m())
        XCTAssertEqual(ProcFS.startTime(of: getpid()), ProcFS.startTime(of: getpid()))
        XCTAssertGreaterThanOrEqual(ProcFS.lastCapability() ?? 0, 36)
    }
}
