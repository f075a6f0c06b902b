import XCTest
import Glibc
@testable import AegisOCI

final class MountOptionsTests: XCTestCase {
    private let rdonly = UInt(MS_RDONLY), nosuid = UInt(MS_NOSUID), nodev = UInt(MS_NODEV)
    private let noexec = UInt(MS_NOEXEC), bind = UInt(MS_BIND), rec = UInt(MS_REC), remount = UInt(MS_REMOUNT)

    func testProc() throws {
        let p = try LinuxMountParameters.parse(type: "proc", options: [])
        XCTAssertEqual(p, LinuxMountParameters())
        XCTAssertFalse(p.isBind)
        XCTAssertFalse(p.needsRemount)
    }

    func testDevTmpfs() throws {
        let p = try LinuxMountParameters.parse(type: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"])
        XCTAssertEqual(p.flags, nosuid | UInt(MS_STRICTATIME))
        XCTAssertEqual(p.data, "mode=755,size=65536k")
        XCTAssertFalse(p.isBind)
        XCTAssertFalse(p.needsRemount)
        XCTAssertEqual(p.propagation, 0)
    }

    func testDevpts() throws {
        let p = try LinuxMountParameters.parse(
            type: "devpts",
            options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        XCTAssertEqual(p.flags, nosuid | noexec)
        XCTAssertEqual(p.data, "newinstance,ptmxmode=0666,mode=0620,gid=5", "bare unknown words are data, in order")
    }

    func testCgroupReadOnly() throws {
        let ro = try LinuxMountParameters.parse(type: "cgroup", options: ["ro"])
        XCTAssertEqual(ro.flags, rdonly)
        XCTAssertEqual(ro.data, "")
        let runc = try LinuxMountParameters.parse(type: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"])
        XCTAssertEqual(runc.flags, nosuid | noexec | nodev | UInt(MS_RELATIME) | rdonly)
        XCTAssertFalse(runc.needsRemount, "only bind mounts need a remount")
    }

    func testRecursiveReadOnlyBind() throws {
        let p = try LinuxMountParameters.parse(type: nil, options: ["rbind", "ro", "nosuid"])
        XCTAssertTrue(p.isBind)
        XCTAssertEqual(p.flags & (bind | rec), bind | rec)
        XCTAssertTrue(p.needsRemount)
        XCTAssertNotEqual(p.flags & rdonly, 0)
        XCTAssertEqual(p.remountFlags, remount | bind | rdonly | nosuid, "remount drops MS_REC, adds MS_REMOUNT|MS_BIND")
    }

    func testPlainBindHasNoRemount() throws {
        let p = try LinuxMountParameters.parse(type: "bind", options: ["rprivate"])
        XCTAssertTrue(p.isBind)
        XCTAssertEqual(p.flags, bind)
        XCTAssertFalse(p.needsRemount)
        XCTAssertEqual(p.propagation, UInt(MS_PRIVATE) | rec)
    }

    func testLaterWordsOverrideEarlierOnes() throws {
        let p = try LinuxMountParameters.parse(type: nil, options: ["bind", "ro", "rw", "nosuid", "suid", "nodev"])
        XCTAssertEqual(p.flags, bind | nodev)
        XCTAssertEqual(p.clearFlags, rdonly | nosuid)
        XCTAssertTrue(p.needsRemount)
        let again = try LinuxMountParameters.parse(type: nil, options: ["bind", "rw", "ro"])
        XCTAssertEqual(again.flags, bind | rdonly)
        XCTAssertEqual(again.clearFlags, 0)
        // A bind that only clears a flag still needs the remount to make it take effect.
        XCTAssertTrue(try LinuxMountParameters.parse(type: nil, options: ["rbind", "rw"]).needsRemount)
    }

    func testEveryFlagWordMapsToItsGlibcConstant() throws {
        let expected: [String: (set: UInt, clear: UInt)] = [
            "ro": (rdonly, 0), "rw": (0, rdonly), "nosuid": (nosuid, 0), "suid": (0, nosuid),
            "nodev": (nodev, 0), "dev": (0, nodev), "noexec": (noexec, 0), "exec": (0, noexec),
            "sync": (UInt(MS_SYNCHRONOUS), 0), "async": (0, UInt(MS_SYNCHRONOUS)), "dirsync": (UInt(MS_DIRSYNC), 0),
            "remount": (remount, 0), "mand": (UInt(MS_MANDLOCK), 0), "nomand": (0, UInt(MS_MANDLOCK)),
            "noatime": (UInt(MS_NOATIME), 0), "atime": (0, UInt(MS_NOATIME)),
            "nodiratime": (UInt(MS_NODIRATIME), 0), "diratime": (0, UInt(MS_NODIRATIME)),
            "relatime": (UInt(MS_RELATIME), 0), "norelatime": (0, UInt(MS_RELATIME)),
            "strictatime": (UInt(MS_STRICTATIME), 0), "nostrictatime": (0, UInt(MS_STRICTATIME)),
            "nosymfollow": (UInt(MS_NOSYMFOLLOW), 0), "symfollow": (0, UInt(MS_NOSYMFOLLOW)), "defaults": (0, 0),
        ]
        for (word, want) in expected {
            let p = try LinuxMountParameters.parse(type: "tmpfs", options: [word])
            XCTAssertEqual(p.flags, want.set, word)
            XCTAssertEqual(p.clearFlags, want.clear, word)
            XCTAssertEqual(p.data, "", word)
        }
    }

    func testPropagationWords() throws {
        let cases: [String: UInt] = [
            "private": UInt(MS_PRIVATE), "rprivate": UInt(MS_PRIVATE) | rec, "shared": UInt(MS_SHARED),
            "rshared": UInt(MS_SHARED) | rec, "slave": UInt(MS_SLAVE), "rslave": UInt(MS_SLAVE) | rec,
            "unbindable": UInt(MS_UNBINDABLE), "runbindable": UInt(MS_UNBINDABLE) | rec,
        ]
        for (word, flag) in cases {
            let p = try LinuxMountParameters.parse(type: "tmpfs", options: [word])
            XCTAssertEqual(p.propagation, flag, word)
            XCTAssertEqual(p.flags, 0, word)
        }
        XCTAssertEqual(
            try LinuxMountParameters.parse(type: "tmpfs", options: ["shared", "rslave"]).propagation,
            UInt(MS_SLAVE) | rec, "last propagation word wins")
    }

    func testUnsupportedWordsAndMissingType() {
        for (word, index) in [("tmpcopyup", 1), ("idmap", 1), ("ridmap", 1), ("rro", 1), ("rnosuid", 1), ("", 1)] {
            XCTAssertThrowsError(try LinuxMountParameters.parse(type: "tmpfs", options: ["nosuid", word])) { error in
                let e = error as? MountOptionError
                XCTAssertEqual(e?.index, index, word)
                XCTAssertEqual(e?.option, word)
                XCTAssertTrue(e?.description.hasPrefix("options[1]: ") ?? false, "\(error)")
            }
        }
        XCTAssertThrowsError(try LinuxMountParameters.parse(type: nil, options: ["nosuid"])) { error in
            XCTAssertEqual((error as? MountOptionError)?.index, nil)
            XCTAssertTrue("\(error)".contains("mount type is required"))
        }
        XCTAssertThrowsError(try LinuxMountParameters.parse(type: "", options: []))
    }

    // <sys/statvfs.h> defines these only under _GNU_SOURCE, which Swift's Glibc module lacks; they
    // equal the kernel's MS_* bits (statfs(2)).
    private let stNodev: UInt = 4, stNoexec: UInt = 8

    /// The translation is what the kernel accepts: mount a tmpfs with /dev-like options in a private
    /// mount namespace of a child process and check mode, flags and size through stat/statvfs.
    func testKernelAcceptsTranslatedTmpfsOptions() throws {
        let p = try LinuxMountParameters.parse(type: "tmpfs", options: ["nosuid", "nodev", "noexec", "mode=751", "size=1m"])
        XCTAssertEqual(p.data, "mode=751,size=1m")
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let cdir = strdup(dir)!, cdata = strdup(p.data)!
        defer { free(cdir); free(cdata) }
        let want = UInt(ST_NOSUID) | stNodev | stNoexec
        let result = try runInPrivateMountNamespace {
            guard mount("tmpfs", cdir, "tmpfs", p.flags, cdata) == 0 else { return 10 }
            var st = stat()
            guard stat(cdir, &st) == 0 else { return 11 }
            guard st.st_mode & 0o7777 == 0o751 else { return 12 }
            var vfs = statvfs()
            guard statvfs(cdir, &vfs) == 0 else { return 13 }
            guard UInt(vfs.f_flag) & want == want else { return 14 }
            guard UInt(vfs.f_blocks) * UInt(vfs.f_frsize) == 1 << 20 else { return 15 }
            return 0
        }
        XCTAssertEqual(result, 0, "child step failed (10 mount, 11 stat, 12 mode, 13 statvfs, 14 flags, 15 size)")
    }

    /// A read-only recursive bind needs the second, remount call: the bind alone stays writable.
    func testKernelBindRemountMakesReadOnly() throws {
        let p = try LinuxMountParameters.parse(type: nil, options: ["rbind", "ro", "nosuid"])
        let src = try makeTempDir(), dst = try makeTempDir()
        defer { removeTree(src); removeTree(dst) }
        let csrc = strdup(src)!, cdst = strdup(dst)!
        defer { free(csrc); free(cdst) }
        let result = try runInPrivateMountNamespace {
            guard mount(csrc, cdst, nil, p.flags, nil) == 0 else { return 10 }
            var vfs = statvfs()
            guard statvfs(cdst, &vfs) == 0, UInt(vfs.f_flag) & UInt(ST_RDONLY) == 0 else { return 11 }
            guard mount(nil, cdst, nil, p.remountFlags, nil) == 0 else { return 12 }
            guard statvfs(cdst, &vfs) == 0, UInt(vfs.f_flag) & UInt(ST_RDONLY) != 0,
                UInt(vfs.f_flag) & UInt(ST_NOSUID) != 0
            else { return 13 }
            return 0
        }
        XCTAssertEqual(result, 0, "child step failed (10 bind, 11 bind already ro, 12 remount, 13 not ro/nosuid)")
    }

    /// Forks a child that unshares its mount namespace, makes / private (so nothing propagates to the
    /// host) and runs `body`; returns the child's exit status. The child makes system calls only.
    private func runInPrivateMountNamespace(_ body: () -> Int32) throws -> Int32 {
        // unshare(2) is declared by <sched.h> only under _GNU_SOURCE: look it up in libc.
        typealias Unshare = @convention(c) (Int32) -> Int32
        let sym = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare"), "dlsym unshare")
        let unshareFn = unsafeBitCast(sym, to: Unshare.self)
        let newns = Int32(try XCTUnwrap(LinuxNamespace(type: "mount").cloneFlag))
        let pid = fork()
        if pid == 0 {
            guard unshareFn(newns) == 0 else { _exit(2) }
            guard mount(nil, "/", nil, UInt(MS_REC | MS_PRIVATE), nil) == 0 else { _exit(3) }
            _exit(body())
        }
        XCTAssertGreaterThan(pid, 0)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        XCTAssertEqual(status & 0x7F, 0, "child killed by signal \(status & 0x7F)")  // WIFEXITED
        return (status >> 8) & 0xFF  // WEXITSTATUS
    }
}
