// `image`, `imagePullPolicy`, `rootfs` in manifests and `aegis run --image` flags.
import AegisManifest
import AegisProtocol
import XCTest

final class ImageManifestTests: XCTestCase {
    func parse(_ text: String) throws -> WorkloadSpec {
        try ManifestParser.parse(text, file: "agent.yaml", inputs: [:], defaultTenant: "acme")
    }

    func manifestError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ManifestError? {
        do {
            _ = try parse(text)
            XCTFail("accepted: \(text)", file: file, line: line)
        } catch let e as ManifestError { return e } catch { XCTFail("\(error)", file: file, line: line) }
        return nil
    }

    func testImageAloneRunsItsEntrypointAndArgsReplaceItsCmd() throws {
        let s = try parse("name: a\nimage: python:3.12-slim\n")
        XCTAssertEqual(s.image, ImageSpec(reference: "python:3.12-slim", pullPolicy: .ifNotPresent, rootfs: .readOnly, useEntrypoint: true))
        XCTAssertEqual(s.runtime, "command")
        XCTAssertEqual(s.args, [])
        XCTAssertEqual(s.neededRuntimes, [], "an image brings its own programs")
        let withArgs = try parse("name: a\nimage: python:3.12-slim\nargs: [-c, 'print(1)']\n")
        XCTAssertEqual(withArgs.args, ["-c", "print(1)"])
        XCTAssertEqual(withArgs.image?.useEntrypoint, true)
        XCTAssertEqual(
            withArgs.image?.argv(args: withArgs.args, entrypoint: ["python3"], cmd: ["-V"]), ["python3", "-c", "print(1)"])
        XCTAssertEqual(s.image?.argv(args: [], entrypoint: ["python3"], cmd: ["-V"]), ["python3", "-V"])
    }

    func testACommandOrAScriptReplacesTheEntrypoint() throws {
        let c = try parse(
            "name: a\nimage: reg.example:5000/agents/py@sha256:\(String(repeating: "a", count: 64))\ncommand: [python3, -V]\n")
        XCTAssertEqual(c.args, ["python3", "-V"])
        XCTAssertEqual(c.image?.useEntrypoint, false)
        XCTAssertEqual(c.image?.pullPolicy, .ifNotPresent, "a digest never changes")
        XCTAssertEqual(c.image?.argv(args: c.args, entrypoint: ["/entry"], cmd: ["x"]), ["python3", "-V"])
        let script = try parse("name: a\nimage: py:latest\nruntime: python3\nscript: print(1)\nrootfs: overlay\nimagePullPolicy: Never\n")
        XCTAssertEqual(script.args, ["python3", "main.py"])
        XCTAssertEqual(script.image, ImageSpec(reference: "py:latest", pullPolicy: .never, rootfs: .overlay, useEntrypoint: false))
        XCTAssertEqual(script.neededRuntimes, [], "the node needs no python3 of its own")
    }

    func testWorkingDirAndUserOverrideTheImages() throws {
        let s = try parse("name: a\nimage: py:1\nworkingDir: /srv/app\nuser: app:staff\n")
        XCTAssertEqual(s.image?.workingDir, "/srv/app")
        XCTAssertEqual(s.image?.user, "app:staff")
        XCTAssertNil(try parse("name: a\nimage: py:1\n").image?.user)
        XCTAssertEqual(manifestError("name: a\nimage: py:1\nworkingDir: srv\n")?.path, "workingDir")
        XCTAssertEqual(manifestError("name: a\nimage: py:1\nuser: 'a b'\n")?.path, "user")
        XCTAssertEqual(manifestError("name: a\nimage: py:1\nuser: 'app:'\n")?.path, "user")
        XCTAssertTrue(manifestError("name: a\ncommand: [/bin/true]\nuser: app\n")?.message.contains("needs image") == true)
    }

    func testDefaultPullPolicyIsKubernetes() {
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "python"), .always)
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "python:latest"), .always)
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "localhost:5000/python"), .always, "the port is not a tag")
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "localhost:5000/python:3.12"), .ifNotPresent)
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "python@sha256:ab"), .ifNotPresent)
        XCTAssertEqual(ImagePullPolicy.defaultPolicy(for: "oci:/srv/images/py"), .ifNotPresent)
    }

    func testBadImageFieldsAreRefusedWithFieldAndLine() {
        let policy = manifestError("name: a\nimage: py:1\nimagePullPolicy: Sometimes\n")
        XCTAssertEqual(policy?.path, "imagePullPolicy")
        XCTAssertEqual(policy?.line, 3)
        XCTAssertTrue(policy?.message.contains("IfNotPresent, Always, Never") == true, policy?.message ?? "")
        let mode = manifestError("name: a\nimage: py:1\nrootfs: writable\n")
        XCTAssertEqual(mode?.path, "rootfs")
        XCTAssertTrue(mode?.message.contains("read-only, overlay") == true, mode?.message ?? "")
        let orphan = manifestError("name: a\ncommand: [/bin/true]\nrootfs: overlay\n")
        XCTAssertEqual(orphan?.path, "rootfs")
        XCTAssertTrue(orphan?.message.contains("needs image") == true, orphan?.message ?? "")
        let spaced = manifestError("name: a\nimage: 'py 3'\n")
        XCTAssertEqual(spaced?.path, "image")
        XCTAssertEqual(manifestError("name: a\nimage: ''\n")?.message, "image reference is empty")
        XCTAssertEqual(manifestError("name: a\nimage: [py]\n")?.path, "image")
    }

    func testRunFlags() throws {
        let entry = try CLIRunOptions(command: [], image: "py:1").spec(inputs: [:], defaultTenant: "acme")
        XCTAssertEqual(entry.image?.useEntrypoint, true)
        XCTAssertEqual(entry.name, "py", "named after the image's repository")
        let given = try CLIRunOptions(command: ["python3", "-V"], image: "reg:5000/a/py:1", imagePullPolicy: "Always", rootfs: "overlay")
            .spec(inputs: [:], defaultTenant: "acme")
        XCTAssertEqual(given.image, ImageSpec(reference: "reg:5000/a/py:1", pullPolicy: .always, rootfs: .overlay, useEntrypoint: false))
        XCTAssertEqual(given.args, ["python3", "-V"])
        XCTAssertThrowsError(try CLIRunOptions(command: ["x"], imagePullPolicy: "Always").spec(inputs: [:], defaultTenant: "acme")) {
            XCTAssertEqual(($0 as? ManifestError)?.path, "--image-pull-policy")
        }
        XCTAssertThrowsError(try CLIRunOptions(command: [], image: "py", rootfs: "rw").spec(inputs: [:], defaultTenant: "acme")) {
            XCTAssertEqual(($0 as? ManifestError)?.path, "--rootfs")
        }
        XCTAssertThrowsError(try CLIRunOptions(command: []).spec(inputs: [:], defaultTenant: "acme")) {
            XCTAssertEqual(($0 as? ManifestError)?.path, "--")
        }
    }
}
