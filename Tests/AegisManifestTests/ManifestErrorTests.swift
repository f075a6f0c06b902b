import AegisManifest
import AegisProtocol
import XCTest

final class ManifestErrorTests: XCTestCase {
    let py: [UInt8] = Array("print(1)\n".utf8)

    /// Parses `text` expecting a ManifestError at `path`, `line` (and `column` when given) whose
    /// message contains `fragment`; returns the error.
    @discardableResult
    func expectError(
        _ text: String, file: String = "agent.yaml", inputs: [String: [UInt8]]? = nil, tenant: String = "acme",
        maxInputBytes: Int = 16 << 20, path: String, line: Int?, column: Int? = nil, _ fragment: String,
        sourceLine: UInt = #line
    ) -> ManifestError? {
        do {
            let spec = try ManifestParser.parse(
                text, file: file, inputs: inputs ?? ["agent.py": py], defaultTenant: tenant,
                maxInputBytes: maxInputBytes)
            XCTFail("parsed, expected an error at \(path): \(spec)", line: sourceLine)
            return nil
        } catch let e as ManifestError {
            XCTAssertEqual(e.path, path, "\(e)", line: sourceLine)
            XCTAssertEqual(e.line, line, "\(e)", line: sourceLine)
            if let column { XCTAssertEqual(e.column, column, "\(e)", line: sourceLine) }
            XCTAssertEqual(e.file, file, line: sourceLine)
            XCTAssertTrue(
                e.message.contains(fragment), "message \(e.message.debugDescription) lacks \(fragment.debugDescription)", line: sourceLine)
            return e
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", line: sourceLine)
            return nil
        }
    }

    let head = "name: x\nruntime: python3\nfile: agent.py\n"  // lines 1-3

    func testYAMLFieldErrorsCarryPathAndLine() {
        let e = expectError(
            head + "resources:\n  cpu: 1\n  memory: 12x\n", path: "resources.memory", line: 6, column: 11,
            "\"12x\" is not a memory quantity")
        XCTAssertEqual(
            e?.description.hasPrefix("agent.yaml:6:11: resources.memory: \"12x\" is not a memory quantity"), true,
            "\(String(describing: e))")
        expectError(
            head + "resources: {cpu: abc}\n", path: "resources.cpu", line: 4, column: 18,
            "\"abc\" is not a CPU quantity (use millicores like 500m, or cores like 0.5)")
        expectError(head + "resources: {memory: 256}\n", path: "resources.memory", line: 4, "did you mean 256Mi?")
        expectError(head + "resources: {memory: 256m}\n", path: "resources.memory", line: 4, "ambiguous")
        expectError(head + "resources: {pids: 0}\n", path: "resources.pids", line: 4, "out of range")
        expectError(head + "resources: {gpus: two}\n", path: "resources.gpus", line: 4, "not a whole number of GPUs")
        expectError(head + "timeout: 5 min\n", path: "timeout", line: 4, column: 10, "is not a duration")
        expectError(head + "restart: sometimes\n", path: "restart", line: 4, "not a restart policy (never, on-failure, always)")
        expectError(head + "restart: no\n", path: "restart", line: 4, "\"no\" is not a restart policy")
        expectError(head + "network: bridge\n", path: "network", line: 4, "not a network mode (none, loopback, host, egress)")
        expectError("name: Bad_Name\nruntime: python3\nfile: agent.py\n", path: "name", line: 1, column: 7, "is not a valid name")
        expectError("runtime: python3\nfile: agent.py\n", path: "name", line: 1, "required field is missing")
        expectError(
            head + "requires:\n  runtimes:\n    - python3\n    - {name: node, version: \"=>20\"}\n",
            path: "requires.runtimes[1].version", line: 7, "is not a version constraint")
        expectError(
            head + "requires: {runtimes: [\"3.10\"]}\n", path: "requires.runtimes[0]", line: 4, "does not start with a runtime name")
        expectError(head + "env:\n  GOOD: 1\n  1BAD: 2\n", path: "env.1BAD", line: 6, column: 3, "not a valid environment variable name")
        expectError(head + "env: {A: [1, 2]}\n", path: "env.A", line: 4, "expected a string value")
        expectError(head + "args: input.txt\n", path: "args", line: 4, "expected a list of strings, found the value \"input.txt\"")
        expectError(head + "args: [a, [b]]\n", path: "args[1]", line: 4, column: 11, "expected a string, found a list")
        expectError(
            head + "tenant: other\n", path: "tenant", line: 4,
            "manifest is for tenant \"other\", but the request comes from tenant \"acme\"")
        expectError(head + "script: print(1)\n", path: "file", line: 3, "give either script or file, not both")
        expectError("name: x\nscript: print(1)\n", path: "runtime", line: 1, "required with script")
        expectError("name: x\nruntime: command\nfile: agent.py\n", path: "file", line: 3, "runtime \"command\" runs command as given")
        expectError("name: x\nruntime: python3\n", path: "runtime", line: 2, "needs something to run")
        expectError("name: x\nruntime: 'py thon'\ncommand: [a]\n", path: "runtime", line: 2, "is not a runtime name")
        expectError(
            head + "resources: {gpus: 1}\nrequires: {gpu: {count: 2}}\n", path: "resources.gpus", line: 4,
            "1 differs from requires.gpu.count 2")
        expectError(head + "command: []\n", path: "command", line: 4, "command is empty")
        expectError("- name: x\n", path: "", line: 1, "a manifest is a mapping of fields")
        expectError("", path: "", line: 1, "manifest is empty")
    }

    func testUnknownFieldsAreNamedWithSuggestions() {
        expectError(head + "resoures: {cpu: 1}\n", path: "resoures", line: 4, column: 1, "unknown field (did you mean resources?)")
        let e = expectError(head + "resources:\n  cpus: 2\n", path: "resources.cpus", line: 5, column: 3, "did you mean cpu?")
        XCTAssertEqual(e?.description, "agent.yaml:5:3: resources.cpus: unknown field (did you mean cpu?)")
        expectError(head + "environment: {A: b}\n", path: "environment", line: 4, "did you mean env?")
        expectError(head + "requires: {gpu: {vendr: nvidia}}\n", path: "requires.gpu.vendr", line: 4, "did you mean vendor?")
        expectError(head + "files: {inptus: [a]}\n", path: "files.inptus", line: 4, "did you mean inputs?")
        expectError(head + "zzzzzz: 1\n", path: "zzzzzz", line: 4, "unknown field; allowed here: tenant, name, runtime")
    }

    func testYAMLSyntaxErrorsCarryLines() {
        expectError("name: x\nargs: [a, b\nruntime: python3\n", path: "", line: 3, column: 8, "did not find expected ',' or ']'")
        expectError("name: x\nname: y\n", path: "", line: 1, "duplicate key 'name'")
        expectError("name: x\nenv: {A: 1, \"A\": 2}\n", path: "", line: 2, "duplicate key 'A'")
        expectError(head + "env:\n  A: 1\n  ? [x]\n  : 2\n", path: "", line: 6, column: 5, "mapping keys must be plain names, found a list")
        expectError("name: x\n\tfile: a.py\n", path: "", line: 2, "invalid YAML")
    }

    func testJSONErrorsCarryPathAndLine() {
        let json = """
            {
              "name": "x",
              "runtime": "python3",
              "file": "agent.py",
              "resources": {
                "memory": "12x"
              }
            }
            """
        expectError(json, file: "agent.json", path: "resources.memory", line: 6, column: 15, "is not a memory quantity")
        expectError(
            "{\n  \"name\": \"x\",\n  \"file\": \"agent.py\",\n  \"resourcse\": {}\n}", file: "agent.json",
            path: "resourcse", line: 4, column: 3, "did you mean resources?")
        expectError(
            "{\n  \"name\": \"x\",\n  \"file\": \"agent.py\",\n  \"timeout\": -5\n}", file: "agent.json",
            path: "timeout", line: 4, "is out of range: 1 s to 365 d")
        expectError(
            "{\n  \"name\": \"x\",\n  \"file\": \"agent.py\"\n  \"args\": []\n}", file: "agent.json",
            path: "", line: 4, "invalid YAML")
        expectError(
            "{\"name\": \"x\", \"file\": \"agent.py\", \"files\": {\"inputs\": [\"in.txt\"]}}", file: "agent.json",
            path: "files.inputs[0]", line: 1, column: 56, "\"in.txt\" was not uploaded")
        expectError("{\"name\": \"x\", \"name\": \"y\"}", file: "agent.json", path: "", line: 1, "duplicate key 'name'")
    }

    func testInputsMissingTooLargeAndTraversal() {
        // Missing: the file field and a files.inputs entry each name the missing file.
        expectError(head, inputs: [:], path: "file", line: 3, column: 7, "\"agent.py\" was not uploaded")
        expectError(
            head + "files:\n  inputs: [a.txt, data/b.csv]\n", inputs: ["agent.py": py, "a.txt": py],
            path: "files.inputs[1]", line: 5, column: 19, "\"data/b.csv\" was not uploaded")
        // Uploads nobody asked for.
        expectError(head, inputs: ["agent.py": py, "stray.bin": [1]], path: "files.inputs", line: 1, "\"stray.bin\" is not named")
        // Too large: total over the cap names files.inputs and the total.
        let big = [UInt8](repeating: 0x61, count: 600)
        let e = expectError(
            head + "files:\n  inputs: [big.txt]\n", inputs: ["agent.py": py, "big.txt": big], maxInputBytes: 512,
            path: "files.inputs", line: 5, "inputs total \(600 + py.count) bytes in 2 file(s), over the limit of 512 bytes")
        XCTAssertNotNil(e)
        // An inline script counts too.
        expectError(
            "name: x\nruntime: python3\nscript: \(String(repeating: "x", count: 100))\n", inputs: [:], maxInputBytes: 64,
            path: "files.inputs", line: 1, "inputs total 100 bytes")
        // Traversal and absolute paths, in the manifest and in the uploaded keys.
        expectError("name: x\nruntime: python3\nfile: ../agent.py\n", path: "file", line: 3, "must not contain \"..\"")
        expectError(head + "files: {inputs: [/etc/passwd]}\n", path: "files.inputs[0]", line: 4, "must be relative")
        expectError(head + "files: {inputs: [a/../../b]}\n", path: "files.inputs[0]", line: 4, "must not contain \"..\"")
        expectError(head + "files: {output: ../out}\n", path: "files.output", line: 4, "must not contain \"..\"")
        expectError(head + "files: {output: agent.py}\n", path: "files.output", line: 4, "collides with the input file \"agent.py\"")
        expectError(
            head + "files: {inputs: [x]}\n", inputs: ["agent.py": py, "../x": py], path: "files.inputs", line: 4,
            "uploaded file \"../x\" must not contain \"..\"")
        expectError(head, inputs: ["agent.py": py, "/etc/shadow": py], path: "files.inputs", line: 1, "must be relative")
        expectError(
            "name: x\nruntime: python3\nscript: print(1)\nfiles: {inputs: [main.py]}\n", inputs: ["main.py": py],
            path: "script", line: 3, "also an uploaded file")
    }

    /// The numbers that used to overflow later (quota sums, the timeout's deadline) are refused at
    /// the field, with the range.
    func testOutOfRangeNumbersNameTheFieldAndTheRange() {
        expectError(
            head + "resources: {memory: \"9223372036854775807\"}\n", path: "resources.memory", line: 4,
            "is out of range: memory is at most 1 PiB (1125899906842624 bytes)")
        expectError(head + "resources: {memory: 99999999Ei}\n", path: "resources.memory", line: 4, "at most 1 PiB")
        expectError(head + "resources: {memory: -1}\n", path: "resources.memory", line: 4, "out of range")
        expectError(
            head + "resources: {cpu: 9223372036854775807}\n", path: "resources.cpu", line: 4,
            "is out of range: CPU is 1m to 1000000 cores (1000000000m)")
        expectError(head + "resources: {cpu: 1e308}\n", path: "resources.cpu", line: 4, "is not a CPU quantity")
        expectError(head + "resources: {cpu: .nan}\n", path: "resources.cpu", line: 4, "is not a CPU quantity")
        expectError(head + "resources: {pids: 99999999999999999999}\n", path: "resources.pids", line: 4, "is out of range 1…4194304")
        expectError(head + "resources: {pids: -9223372036854775808}\n", path: "resources.pids", line: 4, "is out of range 1…4194304")
        expectError(head + "resources: {gpus: 1025}\n", path: "resources.gpus", line: 4, "is out of range 0…1024")
        expectError(
            head + "requires: {gpu: {count: 18446744073709551616}}\n", path: "requires.gpu.count", line: 4, "is out of range 1…1024")
        expectError(head + "timeout: 9223372036854775807s\n", path: "timeout", line: 4, "is out of range: 1 s to 365 d (31536000 s)")
        expectError(head + "timeout: 366d\n", path: "timeout", line: 4, "out of range")
        let edge = try? ManifestParser.parse(
            head + "resources: {memory: 1Pi, cpu: \"1000000\", pids: 4194304, gpus: 1024}\ntimeout: 365d\n",
            inputs: ["agent.py": py], defaultTenant: "acme")
        XCTAssertEqual(
            edge?.resources,
            ResourceRequest(
                cpuMillis: Bounds.maxCPUMillis, memoryBytes: Bounds.maxMemoryBytes,
                pids: Bounds.maxPids, gpus: Bounds.maxAgentGPUs))
        XCTAssertEqual(edge?.timeoutSeconds, Bounds.maxTimeoutSeconds)
    }

    func testErrorWithoutPositionDescription() {
        let e = ManifestError(path: "--memory", message: "bad")
        XCTAssertEqual(e.description, "--memory: bad")
        XCTAssertEqual(ManifestError(file: "a.yaml", path: "", line: 2, column: 5, message: "m").description, "a.yaml:2:5: m")
    }
}
