import AegisManifest
import AegisProtocol
import XCTest

final class CLIRunOptionsTests: XCTestCase {
    let script: [UInt8] = Array("import sys; print(sys.argv)\n".utf8)

    func testFullCommandLine() throws {
        let spec = try CLIRunOptions.fromCommandLine(
            runtime: "python3", cpus: "0.5", memory: "256M", gpus: 1, env: ["K=V", "EQ=a=b", "K=W", "EMPTY="],
            name: "n1", restart: "on-failure", timeout: "5m", command: ["./script.py", "a", "b"],
            inputs: ["script.py": script], defaultTenant: "acme")
        XCTAssertEqual(
            spec,
            WorkloadSpec(
                tenant: "acme", name: "n1", runtime: "python3", args: ["python3", "script.py", "a", "b"],
                env: ["K": "W", "EQ": "a=b", "EMPTY": ""],
                resources: ResourceRequest(cpuMillis: 500, memoryBytes: 256_000_000, gpus: 1),
                inputs: ["script.py": script], timeoutSeconds: 300, restart: .onFailure))
    }

    func testDefaultsAndRuntimeForms() throws {
        // No runtime: the command runs as given; name from the program.
        var spec = try CLIRunOptions.fromCommandLine(
            runtime: nil, cpus: nil, memory: nil, gpus: nil, env: [], name: nil,
            restart: nil, timeout: nil, command: ["/bin/echo", "hi"], inputs: [:],
            defaultTenant: "t")
        XCTAssertEqual(spec.runtime, "command")
        XCTAssertEqual(spec.args, ["/bin/echo", "hi"])
        XCTAssertEqual(spec.name, "echo")
        XCTAssertEqual(spec.resources, ResourceRequest())
        XCTAssertNil(spec.timeoutSeconds)
        XCTAssertEqual(spec.restart, .never)
        // Runtime given, program not an uploaded file: runs as given, runtime kept for placement.
        spec = try CLIRunOptions(runtime: "python3", command: ["python3", "-c", "print(1)"]).spec(inputs: [:], defaultTenant: "t")
        XCTAssertEqual(spec.args, ["python3", "-c", "print(1)"])
        XCTAssertEqual(spec.neededRuntimes, [RuntimeRequirement(name: "python3")])
        // deno and go get their subcommands; cpus as millicores.
        spec = try CLIRunOptions(runtime: "deno", cpus: "250m", command: ["main.ts", "x"]).spec(
            inputs: ["main.ts": script], defaultTenant: "t")
        XCTAssertEqual(spec.args, ["deno", "run", "main.ts", "x"])
        XCTAssertEqual(spec.resources.cpuMillis, 250)
        XCTAssertEqual(spec.name, "main-ts")
        XCTAssertEqual(CLIRunOptions.derivedName("./My Agent (v2).py"), "my-agent-v2-py")
        XCTAssertEqual(CLIRunOptions.derivedName("___"), "run")
        XCTAssertEqual(CLIRunOptions.derivedName(String(repeating: "a", count: 70)).count, 63)
    }

    /// Everything after `--` that starts with an option reaches the runtime (`-c CODE`, `-m module`);
    /// an uploaded script is run by it; the interpreter named again, or another program, runs as given.
    func testRuntimeArgumentsReachTheRuntime() throws {
        func argv(_ runtime: String, _ command: [String], inputs: [String: [UInt8]] = [:]) throws -> [String] {
            try CLIRunOptions(runtime: runtime, command: command).spec(inputs: inputs, defaultTenant: "t").args
        }
        XCTAssertEqual(try argv("python3", ["-c", "print(1)"]), ["python3", "-c", "print(1)"])
        XCTAssertEqual(try argv("python3", ["-m", "json.tool", "--sort-keys"]), ["python3", "-m", "json.tool", "--sort-keys"])
        XCTAssertEqual(try argv("python3", ["-u", "agent.py", "x"], inputs: ["agent.py": script]), ["python3", "-u", "agent.py", "x"])
        XCTAssertEqual(try argv("python3", ["./sub/agent.py", "x"], inputs: ["sub/agent.py": script]), ["python3", "sub/agent.py", "x"])
        XCTAssertEqual(try argv("deno", ["-A", "main.ts"], inputs: ["main.ts": script]), ["deno", "run", "-A", "main.ts"])
        XCTAssertEqual(try argv("node", ["-e", "console.log(1)"]), ["node", "-e", "console.log(1)"])
        // The interpreter itself (by name or path) or another program: as given.
        XCTAssertEqual(try argv("python3", ["/usr/bin/python3", "-c", "1"]), ["/usr/bin/python3", "-c", "1"])
        XCTAssertEqual(try argv("python3", ["pytest", "-q"]), ["pytest", "-q"])
        // `-c …` is named after the runtime.
        XCTAssertEqual(
            try CLIRunOptions(runtime: "python3", command: ["-c", "print(1)"]).spec(inputs: [:], defaultTenant: "t").name, "python3")
    }

    /// A script outside the directory the CLI uploads from is an error that says how to include it.
    func testScriptOutsideTheUploadDirectoryIsAnErrorSayingHowToIncludeIt() {
        for program in ["/tmp/elsewhere/agent.py", "../agent.py", "~/agent.py", "/opt/tools/run"] {
            XCTAssertThrowsError(try CLIRunOptions(runtime: "python3", command: [program, "x"]).spec(inputs: [:], defaultTenant: "t")) {
                let e = $0 as? ManifestError
                XCTAssertEqual(e?.path, "--", "\($0)")
                let message = e?.message ?? ""
                XCTAssertTrue(message.contains("\"\(program)\" was not uploaded: it is outside the current directory"), message)
                XCTAssertTrue(message.contains("run aegis from a directory that contains the script"), message)
                XCTAssertTrue(message.contains("aegis run -f"), message)
            }
        }
        XCTAssertThrowsError(try CLIRunOptions(runtime: "python3", command: ["sub/missing.py"]).spec(inputs: [:], defaultTenant: "t")) {
            XCTAssertTrue(($0 as? ManifestError)?.message.contains("no such file in the current directory") == true, "\($0)")
        }
    }

    func testErrorsNameTheFlag() {
        func expect(_ o: CLIRunOptions, inputs: [String: [UInt8]] = [:], _ path: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try o.spec(inputs: inputs, defaultTenant: "t"), line: line) {
                let e = $0 as? ManifestError
                XCTAssertEqual(e?.path, path, "\($0)", line: line)
                XCTAssertNil(e?.line, line: line)
                XCTAssertTrue(e?.message.contains(fragment) ?? false, "\($0)", line: line)
            }
        }
        expect(CLIRunOptions(command: []), "--", "nothing to run")
        expect(CLIRunOptions(cpus: "lots", command: ["x"]), "--cpus", "is not a CPU quantity")
        expect(CLIRunOptions(memory: "256m", command: ["x"]), "--memory", "ambiguous")
        expect(CLIRunOptions(memory: "4096", command: ["x"]), "--memory", "below the minimum of 1 MiB")
        expect(CLIRunOptions(gpus: -1, command: ["x"]), "--gpus", "out of range")
        expect(CLIRunOptions(env: ["NOEQUALS"], command: ["x"]), "--env", "is not KEY=VALUE")
        expect(CLIRunOptions(env: ["BAD-NAME=1"], command: ["x"]), "--env", "not a valid environment variable name")
        expect(CLIRunOptions(name: "Bad Name", command: ["x"]), "--name", "is not a valid name")
        expect(CLIRunOptions(restart: "maybe", command: ["x"]), "--restart", "not a restart policy")
        expect(CLIRunOptions(timeout: "soon", command: ["x"]), "--timeout", "is not a duration")
        expect(CLIRunOptions(runtime: "no such", command: ["x"]), "--runtime", "is not a runtime name")
        expect(
            CLIRunOptions(runtime: "python3", command: ["agent.py"]), "--",
            "\"agent.py\" was not uploaded: no such file in the current directory")
        expect(CLIRunOptions(command: ["x"]), inputs: ["../up": [1]], "inputs", "must not contain \"..\"")
        expect(CLIRunOptions(command: ["x", String(repeating: "a", count: 200_000)]), "--[1]", "MAX_ARG_STRLEN")
        XCTAssertThrowsError(
            try CLIRunOptions(command: ["x"]).spec(
                inputs: ["a": [UInt8](repeating: 0, count: 100)], defaultTenant: "t",
                maxInputBytes: 99)
        ) {
            XCTAssertEqual(($0 as? ManifestError)?.path, "inputs")
            XCTAssertTrue("\($0)".contains("inputs total 100 bytes in 1 file(s), over the limit of 99 bytes"), "\($0)")
        }
    }

    func testRunFlagsNetworkIsValidatedWithTheFlagName() throws {
        let host = try RunFlags(network: "host", command: ["true"]).spec(inputs: [:], defaultTenant: "t")
        XCTAssertEqual(host.network, .host)
        XCTAssertEqual(try RunFlags(command: ["true"]).spec(inputs: [:], defaultTenant: "t").network, NetworkMode.none)
        XCTAssertThrowsError(try RunFlags(network: "internet", command: ["true"]).spec(inputs: [:], defaultTenant: "t")) { e in
            XCTAssertEqual((e as? ManifestError)?.path, "--network")
            XCTAssertTrue("\(e)".contains("internet"), "\(e)")
        }
    }
}
