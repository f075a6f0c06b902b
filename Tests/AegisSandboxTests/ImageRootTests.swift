// Agent sandboxes whose root is an unpacked image (ImageRoot): the overlay inside the sandbox's
// mount namespace, read-only and overlay modes, the image's Env and WorkingDir, two sandboxes on
// one rootfs, a hostile rootfs's symlinked mount points, and the profile's isolation unchanged.
import Foundation
import Synchronization
import XCTest
@testable import AegisSandbox
import AegisOCI

final class ImageRootTests: SandboxTestCase {
    static let applets = ["sh", "cat", "ls", "touch", "echo", "id", "env", "pwd", "test", "mkdir", "wc", "head", "readlink", "stat"]

    /// A busybox image rootfs as the store unpacks one: /bin/busybox and applet links, a secret
    /// /etc/shadow, a world-writable /data, /opt/app, and a static probe at /usr/bin/aegis-probe.
    func makeImageRootfs(_ name: String = "image") throws -> String {
        let root = tempDir + "/" + name
        for d in ["bin", "etc", "data", "opt/app", "usr/bin"] {
            try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        for a in Self.applets { XCTAssertEqual(symlink("busybox", root + "/bin/" + a), 0) }
        try "image-secret\n".write(toFile: root + "/etc/shadow", atomically: false, encoding: .utf8)
        try "root:x:0:0::/root:/bin/sh\n".write(toFile: root + "/etc/passwd", atomically: false, encoding: .utf8)
        try "from the image\n".write(toFile: root + "/opt/app/README", atomically: false, encoding: .utf8)
        chmod(root + "/data", 0o1777)
        try FileManager.default.copyItem(atPath: Self.staticProbe, toPath: root + "/usr/bin/aegis-probe")
        chmod(root + "/usr/bin/aegis-probe", 0o755)
        return root
    }

    /// aegis-probe linked statically: an image without libc runs it.
    static let staticProbe: String = {
        let out = NSTemporaryDirectory() + "aegis-probe-static-\(getpid())"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        p.arguments = ["-O2", "-static", "-D_GNU_SOURCE", "-o", out, repoRoot + "/Sources/aegis-probe/probe.c"]
        try! p.run()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "compiling probe.c statically failed")
        return out
    }()

    /// Runs `script` (busybox sh) in a sandbox on `imageRootfs`; returns (outcome, stdout, stderr).
    func runInImage(
        _ script: String, imageRootfs: String, mode: ImageRoot.Mode = .readOnly, env: [String] = [],
        imageEnv: [String] = ["PATH=/bin:/usr/bin"], workingDir: String? = nil, scratch: String? = nil,
        owner: ImageRoot.Owner? = nil
    ) throws -> (SandboxOutcome, String, String) {
        let id = "img-\(UInt32.random(in: 0...UInt32.max))"
        let skeleton = tempDir + "/skeleton"
        try AgentProfile.prepareImageSkeleton(at: skeleton)
        let image = ImageRoot(
            imageRootfs: imageRootfs, skeleton: skeleton, scratch: scratch ?? tempDir + "/scratch-" + id, mode: mode,
            env: imageEnv, workingDir: workingDir, owner: owner)
        try image.prepare()
        let request = AgentSandboxRequest(
            args: ["/bin/sh", "-c", script], env: env, workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID,
            hostname: "image-test", image: image)
        createdIDs.append(id)
        try runtime.create(
            id: id, spec: AgentProfile.spec(request, rootfs: "/unused"), bundle: tempDir,
            options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        let dir = runtime.stateDirectory(id)
        return (
            outcome, (try? String(contentsOfFile: dir + "/stdout.log", encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: dir + "/stderr.log", encoding: .utf8)) ?? ""
        )
    }

    func testReadOnlyImageRootWithWritableWorkAndTmpAndTheImagesEnvAndWorkingDir() throws {
        let image = try makeImageRootfs()
        let script = """
            echo "cwd $(pwd)"
            echo "readme $(cat README)"
            echo "greeting $GREETING"
            echo "path $PATH"
            echo "home $HOME"
            echo "shadow $(cat /etc/shadow | wc -c)"
            touch /data/x 2>/dev/null && echo "data writable" || echo "data read-only"
            touch /bin/x 2>/dev/null && echo "bin writable" || echo "bin read-only"
            touch /work/x && touch /tmp/x && echo "work and tmp writable"
            test -e /usr/lib/os-release && echo "host visible" || echo "host hidden"
            """
        let (outcome, out, err) = try runInImage(
            script, imageRootfs: image, env: ["PATH=/bin"], imageEnv: ["PATH=/usr/bin", "GREETING=hello-from-image"],
            workingDir: "/opt/app")
        XCTAssertEqual(outcome.exitCode, 0, err)
        let r = parseProbe(out)
        XCTAssertEqual(r["cwd"], "/opt/app", out)
        XCTAssertEqual(r["readme"], "from the image", out)
        XCTAssertEqual(r["greeting"], "hello-from-image", "the image's Env applies")
        XCTAssertEqual(r["path"], "/bin", "the request's entry replaces the image's")
        XCTAssertEqual(r["home"], "/work", "defaults fill what neither sets")
        XCTAssertEqual(r["shadow"], "0", "the profile's masked paths apply to the image's /etc")
        XCTAssertEqual(r["data"], "read-only", "mode read-only: even a world-writable image dir is read-only")
        XCTAssertEqual(r["bin"], "read-only")
        XCTAssertEqual(r["work"], "and tmp writable", out + err)
        XCTAssertEqual(r["host"], "hidden", "the host's system directories are not in an image sandbox")
        XCTAssertFalse(FileManager.default.fileExists(atPath: image + "/work"), "the image's rootfs gained a mount point")
        XCTAssertFalse(FileManager.default.fileExists(atPath: image + "/data/x"))
    }

    func testOverlayModeWritesLandInTheSandboxesOwnUpperAndTheImageIsShared() throws {
        let image = try makeImageRootfs()
        let scratchA = tempDir + "/scratch-a"
        let (a, outA, errA) = try runInImage(
            "echo mine > /data/x && echo changed > /opt/app/README 2>/dev/null; cat /data/x", imageRootfs: image, mode: .overlay,
            scratch: scratchA)
        XCTAssertEqual(a.exitCode, 0, errA)
        XCTAssertEqual(outA, "mine\n")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: scratchA + "/rw"), [], "the upper is a tmpfs of the sandbox's own")
        XCTAssertFalse(FileManager.default.fileExists(atPath: image + "/data/x"), "the shared image rootfs was written")
        XCTAssertEqual(try String(contentsOfFile: image + "/opt/app/README", encoding: .utf8), "from the image\n")
        // A second sandbox on the same rootfs sees the image, not the first one's writes.
        let (b, outB, errB) = try runInImage(
            "test -e /data/x && echo seen || echo clean; cat /opt/app/README", imageRootfs: image, mode: .overlay)
        XCTAssertEqual(b.exitCode, 0, errB)
        XCTAssertEqual(outB, "clean\nfrom the image\n")
    }

    func testTheOverlaysUpperIsBoundedByItsTmpfs() throws {
        let image = try makeImageRootfs()
        let skeleton = tempDir + "/skeleton"
        try AgentProfile.prepareImageSkeleton(at: skeleton)
        let root = ImageRoot(
            imageRootfs: image, skeleton: skeleton, scratch: tempDir + "/scratch-full", mode: .overlay, upperSizeBytes: 4 << 20)
        try root.prepare()
        let script = "head -c 8388608 /dev/zero > /data/big; echo rc=$?; stat -c %s /data/big"
        let request = AgentSandboxRequest(
            args: ["/bin/sh", "-c", script], env: ["PATH=/bin"], workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID,
            image: root)
        let id = "img-full-\(UInt32.random(in: 0...UInt32.max))"
        createdIDs.append(id)
        try runtime.create(
            id: id, spec: AgentProfile.spec(request, rootfs: ""), bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))
        _ = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
        let out = try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.first, "rc=1", "the write past the upper's size failed: \(out)")
        XCTAssertLessThanOrEqual(Int(lines.last ?? "") ?? .max, 4 << 20, out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.scratch + "/rw"), [], "nothing reached the node's disk")
    }

    func testTwoSandboxesRunAtOnceOnOneImageRootfs() throws {
        let image = try makeImageRootfs()
        let skeleton = tempDir + "/skeleton"
        try AgentProfile.prepareImageSkeleton(at: skeleton)
        var ids: [String] = []
        var works: [String] = []
        for i in 0..<2 {
            let id = "img-pair-\(i)-\(UInt32.random(in: 0...UInt32.max))"
            let root = ImageRoot(imageRootfs: image, skeleton: skeleton, scratch: tempDir + "/scratch-\(id)", env: ["PATH=/bin"])
            try root.prepare()
            works.append(try makeWorkDir())
            let request = AgentSandboxRequest(
                args: ["/bin/sh", "-c", "echo started > /work/started; while ! test -e /work/go; do :; done; cat /opt/app/README"],
                workDir: works[i], uid: Self.agentUID, gid: Self.agentUID, image: root)
            createdIDs.append(id)
            ids.append(id)
            try runtime.create(
                id: id, spec: AgentProfile.spec(request, rootfs: "/unused"), bundle: tempDir,
                options: SandboxCreateOptions(stdio: .logFiles, useInit: true))
        }
        // Both run at the same time before either may finish.
        let deadline = Date().addingTimeInterval(20)
        while works.contains(where: { !FileManager.default.fileExists(atPath: $0 + "/started") }) && Date() < deadline { usleep(20_000) }
        for w in works {
            XCTAssertTrue(FileManager.default.fileExists(atPath: w + "/started"))
            FileManager.default.createFile(atPath: w + "/go", contents: nil)
        }
        for id in ids {
            let outcome = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
            XCTAssertEqual(outcome.exitCode, 0)
            XCTAssertEqual(try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8), "from the image\n")
        }
    }

    func testSymlinkedMountPointsOfAHostileImageStayInsideIt() throws {
        let image = try makeImageRootfs("hostile")
        let outside = tempDir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        // Each mount point the profile needs is a symlink out of the image, absolute or climbing.
        let links = ["tmp": outside, "work": "../../../../../../" + outside, "proc": outside, "dev": outside, "sys": "/", "run": outside]
        for (name, target) in links { XCTAssertEqual(symlink(target, image + "/" + name), 0) }
        try FileManager.default.createDirectory(atPath: image + "/etc/ssl", withIntermediateDirectories: true)
        XCTAssertEqual(symlink(outside, image + "/etc/ssl/private"), 0)  // a masked path
        for mode in ImageRoot.Mode.allCases {
            let (outcome, out, err) = try runInImage(
                "echo hi > /work/f && echo hi > /tmp/f && ls /proc | head -1 && cat /etc/ssl/private/x 2>&1 | head -1", imageRootfs: image,
                mode: mode)
            XCTAssertEqual(outcome.exitCode, 0, "mode \(mode): \(err)")
            XCTAssertTrue(out.hasPrefix("1\n"), out)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], "mode \(mode) wrote outside the image")
        }
    }

    func testTheProfilesIsolationIsUnchangedInAnImage() throws {
        let image = try makeImageRootfs()
        let (outcome, out, err) = try runInImage("aegis-probe attempts; aegis-probe caps; aegis-probe id", imageRootfs: image)
        XCTAssertEqual(outcome.exitCode, 0, err)
        let r = parseProbe(out)
        for name in ["unshare", "mount", "ptrace", "bpf", "setns", "open_by_handle_at", "clone_newuser"] {
            XCTAssertEqual(r[name], "EPERM", "\(name) in an image sandbox\n\(out)")
        }
        let lines = Dictionary(
            out.split(separator: "\n").compactMap { l -> (String, String)? in
                let p = l.split(separator: "\t", maxSplits: 1)
                return p.count == 2 ? (String(p[0]).trimmingCharacters(in: CharacterSet(charactersIn: ":")), String(p[1])) : nil
            }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(lines["CapEff"], "0000000000000000", out)
        XCTAssertEqual(lines["CapBnd"], "0000000000000000")
        XCTAssertEqual(lines["NoNewPrivs"], "1")
        XCTAssertEqual(lines["Seccomp"], "2")
        XCTAssertEqual(r["uid"], "\(Self.agentUID) \(Self.agentUID) \(Self.agentUID)", out)
    }

    func testTheImageUsersFilesAreTheAgentsThroughAnIDMappedLayer() throws {
        let image = try makeImageRootfs()
        try FileManager.default.createDirectory(atPath: image + "/home/app", withIntermediateDirectories: true)
        chown(image + "/home/app", 1000, 1000)
        FileManager.default.createFile(atPath: image + "/opt/app/other", contents: Data("x".utf8))
        chown(image + "/opt/app/other", 2000, 2000)
        let agent = Self.agentUID
        let script = "stat -c '%n %u %g' /opt/app/README /home/app /opt/app/other /proc; echo hi > /home/app/note && echo wrote"
        // The image's User is 1000: its files are the agent's, root's stay root's, others are nobody's.
        let app = ImageRoot.Owner(imageUID: 1000, imageGID: 1000, uid: agent, gid: agent)
        let (o, out, err) = try runInImage(script, imageRootfs: image, mode: .overlay, owner: app)
        XCTAssertEqual(o.exitCode, 0, err)
        XCTAssertEqual(
            out, "/opt/app/README 0 0\n/home/app \(agent) \(agent)\n/opt/app/other 65534 65534\n/proc 0 0\nwrote\n",
            "through the mapped layer")
        var st = stat()
        XCTAssertEqual(lstat(image + "/home/app/note", &st), -1, "the shared rootfs was written")
        XCTAssertEqual(stat(image + "/home/app", &st), 0)
        XCTAssertEqual(st.st_uid, 1000, "the image's own files keep their owner on disk")
        // No User: the image's root files are the agent's (read-only mode: still nothing writable).
        let root = ImageRoot.Owner(imageUID: 0, imageGID: 0, uid: agent, gid: agent)
        let (o2, out2, err2) = try runInImage(
            "stat -c '%u' /opt/app/README; touch /opt/app/x 2>/dev/null || echo read-only", imageRootfs: image, owner: root)
        XCTAssertEqual(o2.exitCode, 0, err2)
        XCTAssertEqual(out2, "\(agent)\nread-only\n")
        // Without an owner the image's ids show as they are.
        let (_, out3, _) = try runInImage("stat -c '%u' /home/app", imageRootfs: image)
        XCTAssertEqual(out3, "1000\n")
    }

    /// ID-mapped starts from many threads at once (each makes a helper process for its mapping
    /// while the others fork theirs): none may wait on another's helper.
    func testConcurrentIDMappedStartsDoNotWaitOnEachOther() throws {
        let image = try makeImageRootfs()
        let skeleton = tempDir + "/skeleton"
        try AgentProfile.prepareImageSkeleton(at: skeleton)
        let count = 12
        let owner = ImageRoot.Owner(imageUID: 0, imageGID: 0, uid: Self.agentUID, gid: Self.agentUID)
        let ids = (0..<count).map { "img-conc-\($0)-\(UInt32.random(in: 0...UInt32.max))" }
        createdIDs += ids
        let specs = try ids.map { id -> Spec in
            let root = ImageRoot(imageRootfs: image, skeleton: skeleton, scratch: tempDir + "/scratch-\(id)", owner: owner)
            try root.prepare()
            let request = AgentSandboxRequest(
                args: ["/bin/sh", "-c", "stat -c %u /opt/app/README"], env: ["PATH=/bin"], workDir: try makeWorkDir(),
                uid: Self.agentUID, gid: Self.agentUID, image: root)
            return AgentProfile.spec(request, rootfs: "")
        }
        let failures = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { [runtime, tempDir] in
            DispatchQueue.concurrentPerform(iterations: count) { i in
                do {
                    try runtime!.create(id: ids[i], spec: specs[i], bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))
                } catch { failures.withLock { $0.append("\(ids[i]): \(error)") } }
            }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "concurrent ID-mapped creates hung")
        XCTAssertEqual(failures.withLock { $0 }, [])
        for id in ids {
            _ = try XCTUnwrap(try runtime.wait(id, timeout: .seconds(30)))
            XCTAssertEqual(try String(contentsOfFile: runtime.stateDirectory(id) + "/stdout.log", encoding: .utf8), "\(Self.agentUID)\n")
        }
    }

    func testARootMountMustComeFirstAndBeAFileSystem() throws {
        let image = try makeImageRootfs()
        let skeleton = tempDir + "/skeleton"
        try AgentProfile.prepareImageSkeleton(at: skeleton)
        let root = ImageRoot(imageRootfs: image, skeleton: skeleton, scratch: tempDir + "/scratch-order")
        try root.prepare()
        let request = AgentSandboxRequest(
            args: ["/bin/true"], workDir: try makeWorkDir(), uid: Self.agentUID, gid: Self.agentUID, image: root)
        var late = AgentProfile.spec(request, rootfs: "/unused")
        late.mounts!.append(late.mounts!.removeFirst())
        var bind = AgentProfile.spec(request, rootfs: "/unused")
        bind.mounts![0] = Mount(destination: "/", type: "bind", source: image, options: ["rbind"])
        for (i, spec) in [late, bind].enumerated() {
            let id = "img-bad-\(i)-\(UInt32.random(in: 0...UInt32.max))"
            XCTAssertThrowsError(try runtime.create(id: id, spec: spec, bundle: tempDir, options: SandboxCreateOptions(stdio: .logFiles))) {
                XCTAssertTrue("\($0)".contains("must be the first mount and a file system"), "\($0)")
            }
            XCTAssertFalse(runtime.list().contains(id), "a refused spec left a sandbox behind")
        }
    }

    func testAPathOverlayfsCannotCarryIsRefusedBeforeAnythingIsCreated() throws {
        let root = ImageRoot(imageRootfs: tempDir + "/a,lowerdir=/", skeleton: tempDir + "/s", scratch: tempDir + "/scratch-bad")
        XCTAssertThrowsError(try root.prepare()) { e in
            XCTAssertTrue("\(e)".contains("overlayfs"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tempDir + "/scratch-bad"))
    }
}
