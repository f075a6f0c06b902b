// End-to-end: workloads from OCI images on a real node. An image with its own Python and a venv
// layer (built by the test from the host's python3 and a package of its own) runs isolated; two
// agents share one unpacked rootfs; `aegis image rm` and `prune` keep what a live agent uses; the
// image's Entrypoint and Cmd; pull failures back off (ImagePullBackOff) and then fail naming the
// reference; policy Never without the image fails at once.
import AegisProtocol
import Foundation
import XCTest

final class ImageWorkloadE2ETests: SingleNodeTestCase {
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// An OCI layout under /tmp holding tag `py`: layer 1 the host's python3.11 (binary, the
    /// libraries ldd lists, the standard library), layer 2 a venv at /opt/venv with package
    /// `agentkit`; Env PATH=/opt/venv/bin:/usr/bin:/bin, Entrypoint [python3, -c], Cmd a greeting.
    static let pythonImage: Result<String, any Error> = Result {
        let dir = NSTemporaryDirectory() + "aegis-e2e-image-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let python = "/usr/bin/python3.11"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("no \(python) to build the image from") }
        let libs = try run(["/usr/bin/ldd", python]).split(separator: "\n").compactMap { line -> String? in
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first { $0.hasPrefix("/") }.map(String.init)
        }
        let tar = dir + "/python.tar"
        try run(
            [
                "/usr/bin/tar", "-chf", tar, "--exclude=__pycache__", "--exclude=test", "--exclude=idlelib", "--exclude=tkinter",
                "--exclude=ensurepip", "--exclude=config-3.11-x86_64-linux-gnu", "-C", "/", String(python.dropFirst()),
                "usr/lib/python3.11",
            ] + libs.map { String($0.dropFirst()) })
        let venv: [[String: Any]] = [
            ["path": "opt/venv/pyvenv.cfg", "type": "file", "content": "home = /usr/bin\ninclude-system-site-packages = false\n"],
            ["path": "opt/venv/bin/python3", "type": "symlink", "target": python],
            ["path": "opt/venv/bin/python", "type": "symlink", "target": "python3"],
            [
                "path": "opt/venv/lib/python3.11/site-packages/agentkit/__init__.py", "type": "file",
                "content": "GREETING = 'hello from the venv'\n",
            ],
            ["path": "usr/bin/python3", "type": "symlink", "target": "python3.11"],
            ["path": "etc/passwd", "type": "file", "content": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"],
            ["path": "home/app", "type": "dir", "uid": 1000, "gid": 1000, "mode": 0o755],
        ]
        let venvSpec = dir + "/venv.json"
        try JSONSerialization.data(withJSONObject: venv).write(to: URL(fileURLWithPath: venvSpec))
        try run([
            "python3", repoRoot + "/Tests/AegisImageTests/Fixtures/make-image.py", dir + "/layout", "--tag", "py",
            "--layer-tar", tar, "--layer", venvSpec, "--compression", "none", "--env", "PATH=/opt/venv/bin:/usr/bin:/bin",
            "--entrypoint", #"["python3", "-c"]"#, "--cmd", #"["import agentkit; print(agentkit.GREETING)"]"#, "--user", "app",
        ])
        return dir + "/layout"
    }

    /// A busybox image (`oci:…/busybox:bb`) next to the Python one, for a second image.
    static let busyboxImage: Result<String, any Error> = Result {
        let dir = ((try pythonImage.get()) as NSString).deletingLastPathComponent
        let tree = dir + "/bb-tree"
        try FileManager.default.createDirectory(atPath: tree + "/bin", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: tree + "/bin/busybox")
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        _ = symlink("busybox", tree + "/bin/sh")
        try run(["/usr/bin/tar", "-cf", dir + "/bb.tar", "-C", tree, "."])
        try run([
            "python3", repoRoot + "/Tests/AegisImageTests/Fixtures/make-image.py", dir + "/busybox", "--tag", "bb",
            "--layer-tar", dir + "/bb.tar", "--compression", "none", "--env", "PATH=/bin",
        ])
        return "oci:" + dir + "/busybox:bb"
    }

    func testImageGarbageCollectionRemovesUnusedImagesAfterAPull() throws {
        // Thresholds 0/0: every pull collects every image no placement uses.
        node.stop()
        let layout = try Self.pythonImage.get()
        node = try NodeHarness(extraArgs: [
            "--local-images", (layout as NSString).deletingLastPathComponent, "--image-gc-high-threshold", "0",
            "--image-gc-low-threshold", "0",
        ])
        try node.start()
        let first = try node.submit(manifest: "name: first\nimage: \(try reference())\n")
        XCTAssertEqual(try node.waitFor(first, timeout: 60) { $0.state.isFinal }.state, .succeeded)
        let ls = { try self.node.cli(["image", "ls", "--data-dir", self.node.dataDir]).stdout }
        let before = try ls()
        XCTAssertTrue(before.contains("/layout:py"), before)
        usleep(500_000)  // the ended placement is released (its scratch removed)
        let second = try node.submit(manifest: "name: second\nimage: \(try Self.busyboxImage.get())\ncommand: [sh, -c, 'echo second']\n")
        let w = try node.waitFor(second, timeout: 60) { $0.state.isFinal }
        XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
        let after = try ls()
        XCTAssertFalse(after.contains("/layout:py"), "the unused image stayed: \(after)")
        XCTAssertTrue(after.contains("/busybox:bb"), "the image just pulled was collected: \(after)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/images/rootfs").count, 1)
    }

    /// A TCP port free on 127.0.0.1 a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    override class func tearDown() {
        if case let .success(layout) = pythonImage {
            try? FileManager.default.removeItem(atPath: (layout as NSString).deletingLastPathComponent)
        }
        super.tearDown()
    }

    @discardableResult
    static func run(_ argv: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: ["argv": argv.joined(separator: " ")]) }
        return String(decoding: data, as: UTF8.self)
    }

    func reference() throws -> String { "oci:" + (try Self.pythonImage.get()) + ":py" }

    /// The node may read local images only beneath the directory the test builds them in.
    override func setUpWithError() throws {
        let layout = try Self.pythonImage.get()
        node = try NodeHarness(extraArgs: ["--local-images", (layout as NSString).deletingLastPathComponent])
        try node.start()
    }

    func testALocalSourceOutsideTheNodesDirectoriesIsRefusedAtOnce() throws {
        let outside = NSTemporaryDirectory() + "aegis-e2e-outside-\(getpid())"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        // A symlink from inside the allowed directory to outside it counts as outside.
        let allowed = ((try Self.pythonImage.get()) as NSString).deletingLastPathComponent
        let link = allowed + "/escape"
        unlink(link)
        XCTAssertEqual(symlink(outside, link), 0)
        defer { unlink(link) }
        XCTAssertEqual(mkfifo(outside + "/fifo", 0o600), 0)
        for reference in ["oci:\(outside)", "oci-archive:\(outside)/fifo", "oci:\(link)", "oci-archive:/etc/shadow"] {
            let id = try node.submit(manifest: "name: local\nimage: \(reference)\ncommand: [/bin/true]\n")
            let w = try node.waitFor(id, timeout: 20) { $0.state.isFinal }
            XCTAssertEqual(w.state, .failed, reference)
            XCTAssertTrue(w.reason?.contains("not beneath the node's local image directories") == true, "\(reference): \(w.reason ?? "")")
        }
    }

    func logs(_ id: String) throws -> String { try node.cli(["logs", id]).stdout }

    func testAnAgentWithItsOwnPythonPackagesRunsIsolatedFromItsImage() throws {
        let id = try node.submit(
            manifest: """
                name: py-image
                image: \(try reference())
                runtime: python3
                script: |
                  import agentkit, os, sys
                  print("greeting", agentkit.GREETING)
                  print("prefix", sys.prefix)
                  print("uid", os.getuid())
                  print("host-python-dist", os.path.exists("/usr/lib/python3/dist-packages"))
                  print("host-shadow", os.path.exists("/etc/shadow"))
                  try:
                      open("/usr/lib/x", "w"); print("usr writable")
                  except OSError as e:
                      print("usr", e.strerror)
                  try:
                      os.setuid(0); print("setuid ok")
                  except OSError as e:
                      print("setuid", e.strerror)
                  print("pids", len([p for p in os.listdir("/proc") if p.isdigit()]))
                """)
        let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
        let out = try logs(id)
        let err = try node.cli(["logs", id]).stderr
        XCTAssertEqual(w.state, .succeeded, "\(w.reason ?? "") \(out) \(err)")
        XCTAssertTrue(out.contains("greeting hello from the venv"), out)
        XCTAssertTrue(out.contains("prefix /opt/venv"), "the venv is the interpreter's prefix: \(out)")
        XCTAssertFalse(out.contains("uid 0"), out)
        XCTAssertTrue(out.contains("host-python-dist False"), "the host's /usr leaked into the image sandbox: \(out)")
        XCTAssertTrue(out.contains("usr Read-only file system"), out)
        XCTAssertTrue(out.contains("setuid Operation not permitted"), out)
        XCTAssertTrue(out.contains("pids 2"), "only init and the agent: \(out)")
    }

    func testTheImageUsersHomeIsTheAgentsAndOverlayModeWritesStayPrivate() throws {
        let script = """
            import os
            st = os.stat("/home/app")
            print("owner", st.st_uid == os.getuid(), st.st_gid == os.getgid())
            open("/home/app/cache", "w").write("mine")
            print("wrote", open("/home/app/cache").read())
            """
        let manifest = { (mode: String) in
            "name: home-\(mode)\nimage: \(try self.reference())\nrootfs: \(mode)\nruntime: python3\nscript: |\n"
                + script.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        let overlay = try node.submit(manifest: try manifest("overlay"))
        let w = try node.waitFor(overlay, timeout: 60) { $0.state.isFinal }
        let out = try logs(overlay)
        let err = try node.cli(["logs", overlay]).stderr
        XCTAssertEqual(w.state, .succeeded, "\(w.reason ?? "") \(out) \(err)")
        XCTAssertEqual(out, "owner True True\nwrote mine\n", "the image's User (app, 1000) is mapped onto the agent's uid")
        let rootfs = node.dataDir + "/images/rootfs"
        let key = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: rootfs).first)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(rootfs)/\(key)/home/app/cache"), "the shared rootfs was written")
        // Read-only: the same write fails, the ownership holds.
        let readOnly = try node.submit(manifest: try manifest("read-only"))
        let r = try node.waitFor(readOnly, timeout: 60) { $0.state.isFinal }
        XCTAssertEqual(r.state, .failed)
        XCTAssertEqual(try logs(readOnly), "owner True True\n")
        let readOnlyErr = try node.cli(["logs", readOnly]).stderr
        XCTAssertTrue(readOnlyErr.contains("Read-only file system"), readOnlyErr)
    }

    func testTheManifestsUserAndWorkingDirReplaceTheImages() throws {
        // user root: the image's root files are the agent's, app's (1000) are nobody's.
        let script = "import os; print(os.getcwd(), os.stat('/usr/bin/python3.11').st_uid == os.getuid(), os.stat('/home/app').st_uid)"
        let id = try node.submit(
            manifest: "name: override\nimage: \(try reference())\nuser: root\nworkingDir: /opt/venv\nargs: [\"\(script)\"]\n")
        let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
        XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
        XCTAssertEqual(try logs(id), "/opt/venv True 65534\n")
    }

    func testTheImagesEntrypointAndCmdRunAndArgsReplaceTheCmd() throws {
        let ref = try reference()
        let plain = try node.submit(manifest: "name: entry\nimage: \(ref)\n")
        let replaced = try node.submit(manifest: "name: entry-args\nimage: \(ref)\nargs: [\"print('args replace the Cmd')\"]\n")
        for (id, expected) in [(plain, "hello from the venv\n"), (replaced, "args replace the Cmd\n")] {
            let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
            XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
            XCTAssertEqual(try logs(id), expected)
        }
    }

    func testTwoAgentsShareOneRootfsAndRmAndPruneKeepItWhileTheyRun() throws {
        let ref = try reference()
        let manifest = { (name: String) in
            "name: \(name)\nimage: \(ref)\nruntime: python3\nscript: |\n  import time\n  time.sleep(4)\n  print('done')\n"
        }
        let a = try node.submit(manifest: manifest("share-a")), b = try node.submit(manifest: manifest("share-b"))
        for id in [a, b] { XCTAssertEqual(try node.waitFor(id, timeout: 60) { $0.state == .running }.state, .running) }
        let rootfs = node.dataDir + "/images/rootfs"
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: rootfs).count, 1, "one unpacked rootfs for both")

        let rm = try node.cli(["image", "rm", "--data-dir", node.dataDir, ref])
        XCTAssertNotEqual(rm.status, 0, "rm of an image live agents run from must fail")
        XCTAssertTrue(rm.stderr.contains("used by a running sandbox"), rm.stderr)
        let prune = try node.cli(["image", "prune", "--data-dir", node.dataDir])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: rootfs).count, 1, "prune removed a rootfs in use")

        for id in [a, b] {
            let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
            XCTAssertEqual(w.state, .succeeded, w.reason ?? "")
        }
    }

    func testAPullThatKeepsFailingBacksOffThenFailsNamingTheReference() throws {
        // A plain web server, not a registry: every pull is answered 404 at once (retryable: the
        // image may be pushed later). The node speaks plain HTTP to it.
        let port = try Self.freePort()
        let web = Process()
        web.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        web.arguments = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", node.dataDir, "\(port)"]
        web.standardError = FileHandle.nullDevice
        try web.run()
        defer { web.terminate() }
        node.stop()
        node = try NodeHarness(extraArgs: ["--insecure-registry", "127.0.0.1:\(port)"])
        try node.start()
        let reference = "127.0.0.1:\(port)/agents/none:1.0"
        let id = try node.submit(
            manifest: """
                name: unreachable
                image: \(reference)
                command: [/bin/true]
                restartBackoff: {initial: 1s, max: 1s}
                """)
        let backingOff = try node.waitFor(id, timeout: 30) { $0.reason?.hasPrefix("ImagePullBackOff") == true }
        XCTAssertEqual(backingOff.state, .pending, backingOff.reason ?? "")
        XCTAssertTrue(backingOff.reason?.contains(reference) == true, backingOff.reason ?? "")
        let described = try node.cli(["describe", id]).stdout
        XCTAssertTrue(described.contains("Image") && described.contains("\(reference) (pull IfNotPresent, rootfs read-only)"), described)
        let w = try node.waitFor(id, timeout: 60) { $0.state.isFinal }
        XCTAssertEqual(w.state, .failed)
        let reason = w.reason ?? ""
        XCTAssertTrue(reason.hasPrefix("image pull failed \(Bounds.maxImagePullAttempts) times"), reason)
        XCTAssertTrue(reason.contains(reference) && reason.contains("404"), reason)
        let events = try node.workloadDetail(id).events.filter { $0.type == .imagePullBackOff }
        XCTAssertEqual(events.count, Bounds.maxImagePullAttempts - 1, "\(events)")
    }

    func testAKillDuringAPullCancelsItAndNothingStarts() throws {
        // A "registry" that accepts connections and never answers: the pull waits.
        let port = try Self.freePort()
        let silent = Process()
        silent.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        silent.arguments = [
            "-c",
            "import socket\ns = socket.socket(); s.bind(('127.0.0.1', \(port))); s.listen(64); held = []\nwhile True: held.append(s.accept())",
        ]
        try silent.run()
        defer { silent.terminate() }
        usleep(300_000)
        node.stop()
        node = try NodeHarness(extraArgs: ["--insecure-registry", "127.0.0.1:\(port)"])
        try node.start()
        let id = try node.submit(manifest: "name: slow\nimage: 127.0.0.1:\(port)/agents/slow:1\ncommand: [/bin/true]\n")
        XCTAssertEqual(try node.waitFor(id, timeout: 10) { $0.state == .scheduled }.state, .scheduled)
        usleep(500_000)
        let killedAt = Date()
        XCTAssertEqual(try node.cli(["kill", id]).status, 0)
        let w = try node.waitFor(id, timeout: 20) { $0.state.isFinal }
        XCTAssertEqual(w.state, .cancelled, w.reason ?? "")
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 10, "the pull was not cancelled")
        let events = try node.workloadDetail(id).events.map(\.type)
        XCTAssertFalse(events.contains(.imagePullBackOff) || events.contains(.started), "\(events)")
    }

    func testPolicyNeverWithoutTheImageFailsAtOnce() throws {
        let id = try node.submit(
            manifest: "name: never\nimage: \(try reference())\nimagePullPolicy: Never\ncommand: [/bin/true]\n")
        let w = try node.waitFor(id, timeout: 30) { $0.state.isFinal }
        XCTAssertEqual(w.state, .failed)
        XCTAssertTrue(w.reason?.contains("imagePullPolicy is Never") == true, w.reason ?? "")
        XCTAssertEqual(try node.workloadDetail(id).events.filter { $0.type == .imagePullBackOff }.count, 0)
    }
}
