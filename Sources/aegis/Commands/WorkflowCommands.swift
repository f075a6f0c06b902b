// WorkflowCommands.swift — `aegis workflow run|ls|describe|logs|cancel|retry|approve|reject`.
import AegisClient
import AegisProtocol
import ArgumentParser

struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow", abstract: "Workflows: DAGs of agent steps, run durably by the controller.",
        subcommands: [RunWorkflow.self, List.self, Show.self, Logs.self, Cancel.self, Retry.self, Approve.self, Reject.self])

    enum DescribeFormat: String, ExpressibleByArgument, CaseIterable {
        case text, dot, json, yaml
    }

    struct RunWorkflow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Start a workflow from its manifest; prints its ID (with --wait, waits for its end).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Workflow manifest (YAML or JSON).") var file: String
        @Option(name: .customShort("p"), help: ArgumentHelp("A parameter value.", valueName: "NAME=VALUE")) var parameters: [String] = []
        @Flag(help: "Wait until the workflow ends; exit 1 unless it succeeded.") var wait = false

        func run() async throws {
            try await runVerb {
                let text = String(decoding: try readLocalFile(file, limit: 1 << 20), as: UTF8.self)
                var values: [String: String] = [:]
                for p in parameters {
                    guard let eq = p.firstIndex(of: "=") else { throw ClientError("-p \(p): expected NAME=VALUE") }
                    values[String(p[..<eq])] = String(p[p.index(after: eq)...])
                }
                let client = try connection.client()
                let info = try await client.submitWorkflow(WorkflowSubmitRequest(manifest: text, manifestFile: file, parameters: values))
                writeStdout(info.id + "\n")
                guard wait else { return }
                var phase = info.phase
                while phase == .running {
                    try await Task.sleep(for: .milliseconds(500))
                    phase = try await client.workflow(id: info.id).workflow.phase
                }
                writeStderr("workflow \(info.id) \(phase.rawValue)\n")
                if phase != .succeeded { throw ExitCode(1) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List your workflows.")

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await runVerb {
                let items = try await connection.client().workflows()
                if try printStructured(WorkflowList(items: items), format: output) { return }
                writeStdout(workflowTable(items))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe", abstract: "Show a workflow's DAG with each step's state (text, or a DOT graph, JSON, YAML).")

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "text, dot, json or yaml.") var output: DescribeFormat = .text
        @Argument(help: "Workflow ID.") var id: String

        func run() async throws {
            try await runVerb {
                let detail = try await connection.client().workflow(id: id)
                switch output {
                case .text: writeStdout("\(detail.workflow.id) \(detail.workflow.name): \(detail.workflow.phase.rawValue)\n" + detail.text)
                case .dot: writeStdout(detail.dot)
                case .json: _ = try printStructured(detail, format: .json)
                case .yaml: _ = try printStructured(detail, format: .yaml)
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a workflow: its running steps are stopped.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Workflow ID.") var id: String

        func run() async throws {
            try await runVerb {
                let info = try await connection.client().cancelWorkflow(id: id)
                writeStdout("workflow \(info.id) \(info.phase == .running ? "cancelling" : info.phase.rawValue)\n")
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the logs of a workflow's steps, each line prefixed [STEP ITEM] (-f: follow until the workflow ends).")

        @OptionGroup var connection: ConnectionOptions
        @Flag(name: [.short, .long], help: "Follow the running steps (and those still to start) until the workflow ends.")
        var follow = false
        @Argument(help: "Workflow ID.") var id: String
        @Argument(help: "Only this step.") var step: String?

        func run() async throws {
            try await runVerb {
                let logs = try WorkflowLogs(client: connection.client(), id: id, step: step) { stream, text in
                    if stream == .stderr { writeStderr(text) } else { writeStdout(text) }
                }
                if follow { try await logs.follow() } else { try await logs.printOnce() }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a failed or cancelled workflow's failed, skipped and cancelled steps again (succeeded steps stay).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Workflow ID.") var id: String

        func run() async throws {
            try await runVerb {
                let info = try await connection.client().retryWorkflow(id: id)
                writeStdout("workflow \(info.id) \(info.phase.rawValue)\n")
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a workflow's approval step that waits.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Workflow ID.") var id: String
        @Argument(help: "Approval step.") var step: String

        func run() async throws {
            try await runVerb {
                _ = try await connection.client().decideWorkflow(id: id, step: step, approve: true)
                writeStdout("step \(step) of workflow \(id) approved\n")
            }
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a workflow's approval step that waits (the step fails).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Workflow ID.") var id: String
        @Argument(help: "Approval step.") var step: String

        func run() async throws {
            try await runVerb {
                _ = try await connection.client().decideWorkflow(id: id, step: step, approve: false)
                writeStdout("step \(step) of workflow \(id) rejected\n")
            }
        }
    }
}
