import AegisManifest
import AegisProtocol
import AegisWorkflow
import XCTest

final class WorkflowParserTests: XCTestCase {
    let echo = "agent: {runtime: command, command: [echo, hi]}"

    func testParsesTheFullShape() throws {
        let wf = try Fixtures.parse(Fixtures.research, overrides: ["topic": "swift"])
        XCTAssertEqual(wf.name, "research")
        XCTAssertEqual(wf.parameters, [.init(name: "topic", value: "swift"), .init(name: "count", value: "3")])
        XCTAssertEqual(wf.timeoutSeconds, 3600)
        XCTAssertEqual(wf.parallelism, 8)
        XCTAssertEqual(wf.steps.map(\.name), ["plan", "work", "review"])
        XCTAssertEqual(wf.onExit.map(\.name), ["notify"])
        let plan = wf.steps[0]
        guard case .agent(let spec, let scriptPath) = plan.kind else { return XCTFail("plan is an agent") }
        XCTAssertEqual(spec.name, "plan")
        XCTAssertEqual(spec.tenant, "acme")
        XCTAssertEqual(spec.args, ["python3", "main.py"])
        XCTAssertEqual(scriptPath, "main.py")
        XCTAssertEqual(spec.resources, ResourceRequest(cpuMillis: 500, memoryBytes: 256 << 20))
        XCTAssertEqual(plan.outputs, ["tasks.json"])
        let work = wf.steps[1]
        XCTAssertEqual(work.dependencies, ["plan"])
        XCTAssertEqual(work.fanOut, .output(OutputRef(step: "plan", path: "tasks.json")))
        XCTAssertEqual(work.parallelism, 4)
        XCTAssertEqual(work.inputs, [InputFrom(from: OutputRef(step: "plan", path: "tasks.json"), path: "input/tasks.json")])
        XCTAssertEqual(work.when?.text, "{{steps.plan.exitCode}} == 0")
        XCTAssertEqual(
            work.retry, RetryPolicy(limit: 3, backoff: .init(durationSeconds: 1, factor: 2, maxSeconds: 30), on: Set(RetryOn.allCases)))
        XCTAssertEqual(work.timeoutSeconds, 600)
        XCTAssertEqual(wf.steps[2].kind, .approval)
        XCTAssertEqual(wf.steps[2].timeoutSeconds, 86_400)
        XCTAssertTrue(wf.onExit[0].isExitHandler)
        XCTAssertEqual(wf.outputsToRead(of: "plan"), ["tasks.json"])
        XCTAssertEqual(wf.outputsToRead(of: "work"), [])
    }

    func testJSONWorkflow() throws {
        let json = """
            {"apiVersion": "aegis/v1", "kind": "Workflow", "name": "j",
             "steps": [{"name": "a", "agent": {"runtime": "command", "command": ["true"]}},
                       {"name": "b", "dependencies": ["a"], "withItems": ["x", "y"], "agent": {"runtime": "command", "command": ["echo", "{{item}}"]}}]}
            """
        let wf = try Fixtures.parse(json)
        XCTAssertEqual(wf.steps[1].fanOut, .items(["x", "y"]))
    }

    func testWithItemsFromAParameter() throws {
        let text = Fixtures.steps(
            "  - name: a\n    withItems: \"{{parameters.list}}\"\n    \(echo)\n", header: "parameters: {list: '[\"p\", \"q\"]'}\n")
        XCTAssertEqual(try Fixtures.parse(text).steps[0].fanOut, .items(["p", "q"]))
        let e = Fixtures.error(text, overrides: ["list": "p,q"])
        XCTAssertEqual(e?.path, "steps[0].withItems")
        XCTAssertTrue(e?.message.contains("not a JSON list") == true, "\(String(describing: e))")
    }

    func testUploadsPerStep() throws {
        let text = Fixtures.steps("  - name: a\n    agent: {file: agent.py}\n")
        let wf = try Fixtures.parse(text, uploads: ["a": ["agent.py": Array("print(1)".utf8)]])
        guard case .agent(let spec, nil) = wf.steps[0].kind else { return XCTFail() }
        XCTAssertEqual(spec.args, ["python3", "agent.py"])
        let e = Fixtures.error(text)
        XCTAssertEqual(e?.path, "steps[0].agent.file")
        XCTAssertThrowsError(try Fixtures.parse(text, uploads: ["a": ["agent.py": []], "zz": ["x": []]]))
    }

    /// One bad field each → one error naming its path (and line where the text has one).
    func testErrorsNameTheField() {
        let cases: [(String, String, String)] = [
            (
                Fixtures.steps(
                    "  - name: plan\n    dependencies: [work]\n    \(echo)\n  - name: work\n    dependencies: [plan]\n    \(echo)\n"),
                "steps", "dependency cycle plan → work → plan"
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    dependencies: [b]\n    \(echo)\n  - name: b\n    dependencies: [c]\n    \(echo)\n  - name: c\n    dependencies: [a]\n    \(echo)\n"
                ),
                "steps", "dependency cycle a → c → b → a"
            ),
            (
                Fixtures.steps("  - name: a\n    dependencies: [plam]\n    \(echo)\n  - name: plan\n    \(echo)\n"),
                "steps[0].dependencies[0]", "unknown step \"plam\" (did you mean plan?)"
            ),
            (
                Fixtures.steps("  - name: a\n    \(echo)\n  - name: a\n    \(echo)\n"), "steps[1].name",
                "duplicate step name a (also steps[0].name)"
            ),
            (
                Fixtures.steps("  - name: a\n    inputs: [{from: {step: nope, path: x}, path: x}]\n    \(echo)\n"),
                "steps[0].inputs[0]", "from names an unknown step \"nope\""
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    outputs: [x]\n    \(echo)\n  - name: b\n    inputs: [{from: {step: a, path: x}, path: x}]\n    \(echo)\n"
                ),
                "steps[1].inputs[0]", "from reads a, which is not a dependency"
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    \(echo)\n  - name: b\n    dependencies: [a]\n    withOutput: {step: a, path: list.txt}\n    \(echo)\n"
                ),
                "steps[1].withOutput", "list.txt is not among the outputs of a"
            ),
            (Fixtures.steps("  - name: a\n    withItems: abc\n    \(echo)\n"), "steps[0].withItems", "a fan-out needs a list"),
            (
                Fixtures.steps(
                    "  - name: a\n    agent: {runtime: command, command: [echo, \"{{parameters.topc}}\"]}\n",
                    header: "parameters: {topic: x}\n"),
                "steps[0].agent.command[1]", "{{parameters.topc}} names an unknown parameter (parameters: topic)"
            ),
            (
                Fixtures.steps("  - name: a\n    when: \"{{steps.b.exitCode}} == 0\"\n    \(echo)\n  - name: b\n    \(echo)\n"),
                "steps[0].when", "reads b, which is not a dependency"
            ),
            (Fixtures.steps("  - name: a\n    when: \"{{steps.a.exitCode}} = 0\"\n    \(echo)\n"), "steps[0].when", "compare with =="),
            (Fixtures.steps("  - name: a\n    timeout: 10x\n    \(echo)\n"), "steps[0].timeout", "is not a duration"),
            (
                Fixtures.steps("  - name: a\n    agent: {runtime: command, command: [x], network: host}\n"), "steps[0].agent.network",
                "not allowed in a workflow step"
            ),
            (
                Fixtures.steps("  - name: a\n    agent: {runtime: command, command: [x], resources: {memory: 12x}}\n"),
                "steps[0].agent.resources.memory", "is not a memory quantity"
            ),
            (Fixtures.steps("  - name: a\n    dependson: [b]\n    \(echo)\n"), "steps[0].dependson", "unknown field"),
            (
                Fixtures.steps("  - name: a\n    agent: {runtime: command, command: [x], restart: always}\n"), "steps[0].agent.restart",
                "retry"
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    agent: {runtime: command, command: [x], requires: {labels: {z: \"{{parameters.p}}\"}}}\n",
                    header: "parameters: {p: x}\n"),
                "steps[0].agent.requires.labels.z", "templates are allowed only in"
            ),
            (
                Fixtures.steps("  - name: a\n    agent: {runtime: command, command: [\"{{item}}\"]}\n"), "steps[0].agent.command[0]",
                "only set in a fan-out"
            ),
            (Fixtures.steps("  - name: a\n    agent: {runtime: python3}\n"), "steps[0].agent.runtime", "needs something to run"),
            (
                Fixtures.steps("  - name: a\n    retry: {limit: 2, on: [failure, crash]}\n    \(echo)\n"), "steps[0].retry.on[1]",
                "is not a failure kind"
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    \(echo)\n  - name: b\n    dependencies: [a]\n    when: \"{{steps.a.outputs.o}} == 1\"\n    \(echo)\n"),
                "steps[1].when", "o is not among the outputs of a"
            ),
            (
                Fixtures.steps(
                    "  - name: a\n    type: approval\n  - name: b\n    dependencies: [a]\n    when: \"{{steps.a.exitCode}} == 0\"\n    \(echo)\n"
                ),
                "steps[1].when", "an approval, which has no results"
            ),
            ("apiVersion: aegis/v1\nkind: Pod\nname: x\nsteps: []\n", "kind", "is not Workflow"),
            (Fixtures.steps("  - name: a\n    parallelism: 2\n    \(echo)\n"), "steps[0].parallelism", "bounds a fan-out"),
            (
                Fixtures.steps("  - name: a\n    inputs: [{from: {step: a, path: x}, path: /input/x}]\n    \(echo)\n"),
                "steps[0].inputs[0].path", "is not a relative input path"
            ),
        ]
        for (text, path, fragment) in cases {
            guard let e = Fixtures.error(text) else {
                XCTFail("accepted: expected \(path): \(fragment)\n\(text)")
                continue
            }
            XCTAssertEqual(e.path, path, "\(e)")
            XCTAssertTrue(e.message.contains(fragment), "\(e) lacks \(fragment)")
            XCTAssertEqual(e.file, "wf.yaml")
            if !text.hasPrefix("{") { XCTAssertNotNil(e.line, "\(e)") }
        }
    }

    func testErrorLineAndDescription() {
        let text = Fixtures.steps("  - name: a\n    \(echo)\n  - name: b\n    dependencies: [c]\n    \(echo)\n")
        let e = Fixtures.error(text)
        XCTAssertEqual(e?.line, 8)
        XCTAssertEqual(e?.description, "wf.yaml:8:20: steps[1].dependencies[0]: unknown step \"c\"")
    }

    func testParameters() throws {
        let text = Fixtures.steps(
            "  - name: a\n    agent: {runtime: command, command: [echo, \"{{parameters.topic}}\"]}\n",
            header: "parameters: {topic: ~, n: 1}\n")
        XCTAssertEqual(Fixtures.error(text)?.message, "parameter topic has no default; give it with -p topic=VALUE")
        XCTAssertEqual(try Fixtures.parse(text, overrides: ["topic": "x"]).parameter("topic"), "x")
        let unknown = Fixtures.error(text, overrides: ["topic": "x", "tpoic": "y"])
        XCTAssertEqual(unknown?.path, "-p")
        XCTAssertEqual(unknown?.message, "unknown parameter \"tpoic\" (this workflow has topic, n)")
        XCTAssertEqual(try WorkflowParser.parameterOverrides(["a=b=c", "n=", "a=d"]), ["a": "d", "n": ""])
        XCTAssertThrowsError(try WorkflowParser.parameterOverrides(["novalue"]))
        XCTAssertThrowsError(try WorkflowParser.parameterOverrides(["1x=2"]))
    }
}
