// WorkflowE2ETests.swift — workflows on a real `aegis up` node through the CLI: a planner's output
// file fans out into agents and reaches a reducer as an input, run after run (the outputs are read
// the moment each step ends); and a node killed with SIGKILL while the fan-out runs resumes the
// workflow after its restart, each step started exactly once; `aegis workflow logs [-f]`.
import AegisProtocol
import Foundation
import XCTest

final class WorkflowE2ETests: SingleNodeTestCase {
    /// plan writes tasks.json; work fans out over its items; reduce reads it as an input.
    static func manifest(items: [String], workSeconds: Double) -> String {
        let list = "[" + items.map { "'\($0)'" }.joined(separator: ",") + "]"
        return """
            apiVersion: aegis/v1
            kind: Workflow
            name: e2e
            parameters: {greeting: hello}
            steps:
              - name: plan
                agent: {runtime: python3, script: "import json; open('output/tasks.json','w').write(json.dumps(\(list))); print('{{parameters.greeting}}')"}
                outputs: [tasks.json]
              - name: work
                dependencies: [plan]
                withOutput: {step: plan, path: tasks.json}
                parallelism: 3
                agent: {runtime: python3, script: "import time; time.sleep(\(workSeconds)); print('worked on {{item}}')"}
              - name: reduce
                dependencies: [work]
                when: "{{steps.plan.exitCode}} == 0"
                inputs: [{from: {step: plan, path: tasks.json}, path: in/tasks.json}]
                agent: {runtime: python3, script: "print('reduced', open('in/tasks.json').read())"}
            """
    }

    func write(_ text: String) throws -> String {
        let path = node.dataDir + "/wf-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The workflow's instances as `describe --output json` shows them.
    func instances(_ id: String) throws -> (phase: String, steps: [(step: String, phase: String, workload: String?)]) {
        let r = try node.cli(["workflow", "describe", id, "--output", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        let phase = (doc["workflow"] as? [String: Any])?["phase"] as? String ?? "?"
        let steps = (doc["instances"] as? [[String: Any]] ?? []).map {
            (step: $0["step"] as? String ?? "?", phase: $0["phase"] as? String ?? "?", workload: $0["workload"] as? String)
        }
        return (phase, steps)
    }

    func testAPlannersOutputFansOutAndReachesTheReducerRunAfterRun() throws {
        let file = try write(Self.manifest(items: ["a", "b", "c", "d"], workSeconds: 0))
        for run in 1...5 {
            let r = try node.cli(["workflow", "run", file, "--wait"], timeout: 120)
            XCTAssertEqual(r.status, 0, "run \(run): \(r.stdout)\(r.stderr)")
            let id = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
            let (phase, steps) = try instances(id)
            let shown = (try? node.cli(["workflow", "describe", id]).stdout) ?? ""
            XCTAssertEqual(phase, "succeeded", "run \(run): \(shown)")
            XCTAssertEqual(steps.map(\.step), ["plan", "work", "work", "work", "work", "reduce"])
            XCTAssertEqual(Set(steps.map(\.phase)), ["succeeded"])
            let reduce = try XCTUnwrap(steps.last?.workload)
            XCTAssertEqual(try node.cli(["logs", reduce]).stdout, #"reduced ["a", "b", "c", "d"]"# + "\n")
            let work = try XCTUnwrap(steps[1].workload)
            XCTAssertEqual(try node.cli(["logs", work]).stdout, "worked on a\n")
        }
    }

    /// `aegis workflow logs`: every step's lines prefixed, in DAG order; one step; and -f from the
    /// start of a run until its end.
    func testWorkflowLogsPrefixEachStepsLinesAndFollowUntilTheEnd() throws {
        let file = try write(Self.manifest(items: ["a", "b"], workSeconds: 0.5))
        let started = try node.cli(["workflow", "run", file])
        XCTAssertEqual(started.status, 0, started.stderr)
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let followed = try node.cli(["workflow", "logs", id, "-f"], timeout: 120)
        XCTAssertEqual(followed.status, 0, followed.stderr)
        XCTAssertEqual(try instances(id).phase, "succeeded", "-f returns once the workflow has ended")
        let expected = ["[plan] hello", "[work 0] worked on a", "[work 1] worked on b", #"[reduce] reduced ["a", "b"]"#]
        XCTAssertEqual(Set(followed.stdout.split(separator: "\n").map(String.init)), Set(expected), followed.stdout)

        let all = try node.cli(["workflow", "logs", id])
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertEqual(all.stdout, expected.joined(separator: "\n") + "\n")
        let work = try node.cli(["workflow", "logs", id, "work"])
        XCTAssertEqual(work.stdout, "[work 0] worked on a\n[work 1] worked on b\n")
        let missing = try node.cli(["workflow", "logs", id, "nope"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no step \"nope\""), missing.stderr)
    }

    func testANodeKilledDuringTheFanOutResumesTheWorkflowAndStartsEachStepOnce() throws {
        let file = try write(Self.manifest(items: ["a", "b", "c"], workSeconds: 3))
        let r = try node.cli(["workflow", "run", file])
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Wait until the three work agents run, then kill the node (its agents keep running).
        let deadline = Date().addingTimeInterval(30)
        var running = 0
        while Date() < deadline {
            let list = try JSONDecoder().decode(
                WorkloadList.self, from: try node.http("GET", "/v1/workloads", token: node.adminToken()).body)
            running = list.items.filter { $0.spec.name == "work" && $0.state == .running }.count
            if running == 3 { break }
            usleep(100_000)
        }
        XCTAssertEqual(running, 3, "the fan-out runs before the kill")
        kill(node.process!.processIdentifier, SIGKILL)
        node.process!.waitUntilExit()
        try node.start()
        let end = Date().addingTimeInterval(60)
        var phase = "?"
        while Date() < end {
            phase = try instances(id).phase
            if phase != "running" { break }
            usleep(200_000)
        }
        let shown = (try? node.cli(["workflow", "describe", id]).stdout) ?? ""
        XCTAssertEqual(phase, "succeeded", shown + node.nodeLog().suffix(3000))
        // Each step instance placed once: one workload per instance, none placed again.
        let list = try JSONDecoder().decode(WorkloadList.self, from: try node.http("GET", "/v1/workloads", token: node.adminToken()).body)
        let byName = Dictionary(grouping: list.items, by: \.spec.name)
        XCTAssertEqual(byName["plan"]?.count, 1)
        XCTAssertEqual(byName["work"]?.count, 3)
        XCTAssertEqual(byName["reduce"]?.count, 1)
        for w in list.items {
            XCTAssertEqual(w.state, .succeeded, "\(w.spec.name) \(w.id): \(w.reason ?? "")")
            XCTAssertEqual(w.generation, 1, "\(w.spec.name) \(w.id) was not placed again")
        }
    }

    func testAnOutputLargerThanTheInputCapIsRefusedBeforeItIsRead() throws {
        let file = try write(
            """
            apiVersion: aegis/v1
            kind: Workflow
            name: big
            steps:
              - name: a
                agent: {runtime: command, command: [/bin/sh, -c, "head -c 40000000 /dev/zero > output/big.bin"]}
                outputs: [big.bin]
              - name: b
                dependencies: [a]
                inputs: [{from: {step: a, path: big.bin}, path: in.bin}]
                agent: {runtime: command, command: [/bin/true]}
            """)
        let r = try node.cli(["workflow", "run", file, "--wait"], timeout: 120)
        let id = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let (phase, steps) = try instances(id)
        XCTAssertEqual(phase, "failed")
        XCTAssertEqual(steps.map(\.phase), ["succeeded", "failed"])
        let shown = try node.cli(["workflow", "describe", id]).stdout
        XCTAssertTrue(shown.contains("40000000 bytes, more than the 16777216 bytes"), shown)
    }
}
