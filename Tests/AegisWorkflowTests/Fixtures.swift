import AegisManifest
import AegisWorkflow

enum Fixtures {
    static let research = """
        apiVersion: aegis/v1
        kind: Workflow
        name: research
        parameters: {topic: "default", count: "3"}
        timeout: 1h
        parallelism: 8
        steps:
          - name: plan
            agent:
              runtime: python3
              script: |
                print("{{parameters.topic}}")
              resources: {cpu: 500m, memory: 256Mi}
            outputs: [tasks.json]
          - name: work
            dependencies: [plan]
            withOutput: {step: plan, path: tasks.json}
            parallelism: 4
            inputs: [{from: {step: plan, path: tasks.json}, path: input/tasks.json}]
            when: "{{steps.plan.exitCode}} == 0"
            retry: {limit: 3, backoff: {duration: 1s, factor: 2, max: 30s}, on: [failure, error, oom, lost]}
            timeout: 10m
            agent:
              runtime: python3
              script: print("{{item}}")
              env: {TOPIC: "{{parameters.topic}}"}
          - name: review
            type: approval
            dependencies: [work]
            timeout: 24h
        onExit:
          - name: notify
            agent: {runtime: command, command: [echo, "{{workflow.status}}"]}
        """

    static func parse(_ text: String, overrides: [String: String] = [:], uploads: [String: [String: [UInt8]]] = [:]) throws -> Workflow {
        try WorkflowParser.parse(text, file: "wf.yaml", overrides: overrides, uploads: uploads, defaultTenant: "acme")
    }

    /// A workflow of agent steps `echo NAME` with the given extra YAML per step.
    static func steps(_ body: String, header: String = "") -> String {
        "apiVersion: aegis/v1\nkind: Workflow\nname: t\n\(header)steps:\n\(body)"
    }

    static func error(_ text: String, overrides: [String: String] = [:]) -> ManifestError? {
        do {
            _ = try parse(text, overrides: overrides)
            return nil
        } catch {
            return error as? ManifestError
        }
    }
}
