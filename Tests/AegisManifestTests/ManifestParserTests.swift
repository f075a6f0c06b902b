import AegisManifest
import AegisProtocol
import Foundation
import XCTest

final class ManifestParserTests: XCTestCase {
    static let agentPy: [UInt8] = Array("import sys\nprint(open(sys.argv[1]).read())\n".utf8)
    static let inputTxt: [UInt8] = Array("hello world\n".utf8)
    static let csv: [UInt8] = Array("a,b\n1,2\n".utf8)

    static let fullYAML = """
        tenant: acme
        name: summarize
        runtime: python3
        file: agent.py
        args: [input.txt, --verbose]
        env: {MODEL: small, DEBUG: 1, EMPTY: }
        resources: {cpu: 500m, memory: 256Mi, pids: 128, gpus: 2}
        requires:
          runtimes: [{name: python3, version: ">=3.10"}, "node^20"]
          gpu: {vendor: NVIDIA, model: A100, count: 2}
          labels: {zone: lab-2}
        network: loopback
        files:
          inputs: [input.txt, ./data/x.csv]
          output: results/
        timeout: 1h30m
        restart: on-failure

        """

    static var fullUploads: [String: [UInt8]] { ["agent.py": agentPy, "input.txt": inputTxt, "data/x.csv": csv] }

    static var fullExpected: WorkloadSpec {
        WorkloadSpec(
            tenant: "acme", name: "summarize", runtime: "python3",
            args: ["python3", "agent.py", "input.txt", "--verbose"],
            env: ["MODEL": "small", "DEBUG": "1", "EMPTY": ""],
            resources: ResourceRequest(cpuMillis: 500, memoryBytes: 256 * 1024 * 1024, pids: 128, gpus: 2),
            requires: Requirements(
                runtimes: [
                    RuntimeRequirement(name: "python3", version: ">=3.10"),
                    RuntimeRequirement(name: "node", version: "^20"),
                ],
                gpu: GPURequirement(vendor: "nvidia", model: "A100", count: 2),
                labels: ["zone": "lab-2"]),
            network: .loopback, inputs: fullUploads, outputDir: "results",
            timeoutSeconds: 5400, restart: .onFailure)
    }

    func testFullExampleYAML() throws {
        let spec = try ManifestParser.parse(Self.fullYAML, file: "agent.yaml", inputs: Self.fullUploads, defaultTenant: "acme")
        XCTAssertEqual(spec, Self.fullExpected)
    }

    func testFullExampleJSON() throws {
        let json = """
            {
              "tenant": "acme", "name": "summarize", "runtime": "python3", "file": "agent.py",
              "args": ["input.txt", "--verbose"],
              "env": {"MODEL": "small", "DEBUG": "1", "EMPTY": null},
              "resources": {"cpu": "500m", "memory": 268435456, "pids": 128, "gpus": 2},
              "requires": {
            \t"runtimes": [{"name": "python3", "version": ">=3.10"}, "node^20"],
            \t"gpu": {"vendor": "nvidia", "model": "A100", "count": 2},
            \t"labels": {"zone": "lab-2"}
              },
              "network": "loopback",
              "files": {"inputs": ["input.txt", "data/x.csv"], "output": "results"},
              "timeout": 5400,
              "restart": "on-failure"
            }
            """
        let spec = try ManifestParser.parse(json, file: "agent.json", inputs: Self.fullUploads, defaultTenant: "acme")
        XCTAssertEqual(spec, Self.fullExpected)
    }

    func testShortForms() throws {
        // Runtime implied by the file's extension; cores as a YAML number; seconds as a number;
        // requires.gpu alone sets resources.gpus; a directory entry in files.inputs takes its files.
        let yaml = """
            name: short
            file: agent.py
            resources: {cpu: 2, memory: "1G"}
            requires: {runtimes: ["python3 >=3.9,<4", ruby], gpu: {vendor: amd}}
            files: {inputs: [data]}
            timeout: 300
            """
        let spec = try ManifestParser.parse(
            yaml, inputs: ["agent.py": Self.agentPy, "data/x.csv": Self.csv, "data/y/z.txt": Self.inputTxt],
            defaultTenant: "t1")
        XCTAssertEqual(spec.tenant, "t1")
        XCTAssertEqual(spec.runtime, "python3")
        XCTAssertEqual(spec.args, ["python3", "agent.py"])
        XCTAssertEqual(spec.resources, ResourceRequest(cpuMillis: 2000, memoryBytes: 1_000_000_000, gpus: 1))
        XCTAssertEqual(
            spec.requires.runtimes, [RuntimeRequirement(name: "python3", version: ">=3.9,<4"), RuntimeRequirement(name: "ruby")])
        XCTAssertEqual(spec.requires.gpu, GPURequirement(vendor: "amd", count: 1))
        XCTAssertEqual(Set(spec.inputs.keys), ["agent.py", "data/x.csv", "data/y/z.txt"])
        XCTAssertEqual(spec.timeoutSeconds, 300)
        XCTAssertEqual(spec.network, .none)
        XCTAssertEqual(spec.restart, .never)
        XCTAssertEqual(spec.outputDir, "output")
        // Scalars keep their text; only a plain null/~/empty value is null.
        let env = try ManifestParser.parse("name: a\ncommand: [echo]\nenv: {Q: \"null\", N: ~, B: yes, F: 1.50}", defaultTenant: "t").env
        XCTAssertEqual(env, ["Q": "null", "N": "", "B": "yes", "F": "1.50"])
    }

    func testArgvForEachForm() throws {
        func argv(_ yaml: String, _ uploads: [String: [UInt8]] = [:]) throws -> ([String], [String: [UInt8]], String) {
            let s = try ManifestParser.parse(yaml, inputs: uploads, defaultTenant: "t")
            return (s.args, s.inputs, s.runtime)
        }
        // runtime command: command + args, no interpreter.
        var r = try argv("name: a\nruntime: command\ncommand: [sh, -c, 'echo hi']\nargs: [x]")
        XCTAssertEqual(r.0, ["sh", "-c", "echo hi", "x"]); XCTAssertEqual(r.2, "command")
        // Bare command without runtime: runtime "command".
        r = try argv("name: a\ncommand: [/bin/true]")
        XCTAssertEqual(r.0, ["/bin/true"]); XCTAssertEqual(r.2, "command")
        // Inline script per runtime → interpreter + main.<ext>, script content in inputs.
        let table: [(String, [String], String)] = [
            ("python3", ["python3"], "py"), ("node", ["node"], "js"), ("deno", ["deno", "run"], "ts"),
            ("bun", ["bun", "run"], "ts"), ("ruby", ["ruby"], "rb"), ("java", ["java"], "java"),
            ("go", ["go", "run"], "go"), ("perl", ["perl"], "pl"), ("tclsh", ["tclsh"], "tclsh"),
        ]
        for (runtime, interp, ext) in table {
            r = try argv("name: a\nruntime: \(runtime)\nscript: |\n  line one\n  line two\nargs: [p, q]")
            XCTAssertEqual(r.0, interp + ["main.\(ext)", "p", "q"], runtime)
            XCTAssertEqual(r.1, ["main.\(ext)": Array("line one\nline two\n".utf8)], runtime)
            XCTAssertEqual(r.2, runtime)
        }
        // command replaces the interpreter when a file or script is given.
        r = try argv("name: a\nruntime: python3\ncommand: [python3, -u]\nfile: ./agent.py\nargs: [x]", ["agent.py": Self.agentPy])
        XCTAssertEqual(r.0, ["python3", "-u", "agent.py", "x"])
        // command alone with a runtime: runs as given, runtime kept for placement.
        r = try argv("name: a\nruntime: python3\ncommand: [python3, -c, 'print(1)']")
        XCTAssertEqual(r.0, ["python3", "-c", "print(1)"]); XCTAssertEqual(r.2, "python3")
    }

    func testExampleAgentManifest() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/hello-agent")
        let text = try String(contentsOf: dir.appendingPathComponent("agent.yaml"), encoding: .utf8)
        let agent = try [UInt8](Data(contentsOf: dir.appendingPathComponent("agent.py")))
        let input = try [UInt8](Data(contentsOf: dir.appendingPathComponent("input.txt")))
        let spec = try ManifestParser.parse(
            text, file: "agent.yaml", inputs: ["agent.py": agent, "input.txt": input], defaultTenant: "demo")
        XCTAssertEqual(spec.tenant, "demo")
        XCTAssertEqual(spec.runtime, "python3")
        XCTAssertEqual(spec.args, ["python3", "agent.py", "input.txt"])
        XCTAssertEqual(spec.inputs, ["agent.py": agent, "input.txt": input])
        XCTAssertEqual(spec.outputDir, "output")
        XCTAssertEqual(spec.neededRuntimes.map(\.name), ["python3"])
        // Without its uploads the same manifest is refused, naming the field and the file.
        XCTAssertThrowsError(try ManifestParser.parse(text, file: "agent.yaml", inputs: ["input.txt": input], defaultTenant: "demo")) {
            let e = $0 as? ManifestError
            XCTAssertEqual(e?.path, "file")
            XCTAssertEqual(e?.line, 5)
            XCTAssertTrue(e?.message.contains("\"agent.py\" was not uploaded") ?? false, "\($0)")
        }
    }

    func testJSONEscapesAndByteOrderMark() throws {
        let json =
            "\u{FEFF}{\"name\": \"esc\", \"command\": [\"echo\", \"a\\/b\", \"caf\\u00e9\", \"t\\tab\", \"q\\\"\"], \"env\": {\"N\": 1.5e3}}"
        let spec = try ManifestParser.parse(json, file: "a.json", defaultTenant: "t")
        XCTAssertEqual(spec.args, ["echo", "a/b", "café", "t\tab", "q\""])
        XCTAssertEqual(spec.env, ["N": "1.5e3"])
    }

    func testAnchorsAndAliasesInValuesWork() throws {
        let yaml = "name: a\ncommand: &c [echo, hi]\nenv: &e {A: x}\nargs: *c\n"
        let spec = try ManifestParser.parse(yaml, defaultTenant: "t")
        XCTAssertEqual(spec.args, ["echo", "hi", "echo", "hi"])
        XCTAssertEqual(spec.env, ["A": "x"])
    }
}
