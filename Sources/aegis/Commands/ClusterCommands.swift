// ClusterCommands.swift — `aegis node ls|describe|cordon|uncordon|drain` (join and forget:
// TokenCommands.swift) and `aegis tenant create|ls` (admin).
import AegisClient
import AegisManifest
import AegisProtocol
import ArgumentParser

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Nodes and their capabilities (admin); joining this node to a cluster.",
        subcommands: [List.self, Show.self, Cordon.self, Uncordon.self, Drain.self, Join.self, Forget.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List nodes: role, state, free/total CPU, memory and GPUs, runtimes.")

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await runVerb {
                let items = try await connection.client().nodes().sorted { $0.name < $1.name }
                if try printStructured(NodeList(items: items), format: output) { return }
                writeStdout(nodeTable(items))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe",
            abstract:
                "Show a node's capabilities: GPUs, runtimes, isolation features (cgroup controllers, unenforced limits), network (egress, subnet, egress addresses used, reach labels), labels, warnings."
        )

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "text, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "Node name.") var name: String

        func run() async throws {
            try await runVerb {
                let node = try await connection.client().node(name: name)
                if try printStructured(node, format: output) { return }
                writeStdout(describeNode(node))
            }
        }
    }
}

extension NodeCommand {
    struct Cordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark a node unschedulable: no new agents are placed there; its agents keep running.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Node name.") var name: String

        func run() async throws {
            try await runVerb {
                let node = try await connection.client().cordon(node: name)
                writeStdout("node \(node.name) cordoned\n")
            }
        }
    }

    struct Uncordon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a cordoned node schedulable again.")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Node name.") var name: String

        func run() async throws {
            try await runVerb {
                let node = try await connection.client().uncordon(node: name)
                writeStdout("node \(node.name) uncordoned\n")
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Cordon a node and stop its agents: those with restart policy on-failure or always become pending again, the others end cancelled (\"drained from node NAME\"). Waits until none is active; exits 1 when --timeout passes first."
        )

        @OptionGroup var connection: ConnectionOptions
        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("How long to wait for the agents to stop: 90s, 2m, 1h (at most 24h).", valueName: "duration"))
        var timeout: String = "5m"
        @Option(name: [.short, .long], help: "table, json or yaml (the summary).") var output: OutputFormat = .table
        @Argument(help: "Node name.") var name: String

        func validate() throws {
            try checkedFlag { try Quantity.durationSeconds(timeout, field: "--timeout", maxSeconds: Bounds.maxDrainTimeoutSeconds) }
        }

        func run() async throws {
            try await runVerb {
                let seconds = try Quantity.durationSeconds(timeout, field: "--timeout", maxSeconds: Bounds.maxDrainTimeoutSeconds)
                let client = try connection.client()
                let node = name
                // Progress on stderr while the drain request waits: the node's active agent count.
                let result = try await client.drain(node: node, timeoutSeconds: seconds) { agents in
                    writeStderr("draining node \(node): \(agents) agent\(agents == 1 ? "" : "s") still active\n")
                }
                if try printStructured(result, format: output) {
                    if !result.complete { throw ExitCode(1) }
                    return
                }
                let moved = result.items.filter { $0.outcome == "requeued" }.count
                let stopped = result.items.filter { $0.outcome == "cancelled" }.count
                if !result.items.isEmpty { writeStdout(drainTable(result.items)) }
                writeStdout(
                    "node \(result.node.name) cordoned; \(result.items.count) agent\(result.items.count == 1 ? "" : "s") drained "
                        + "(\(moved) requeued, \(stopped) cancelled) in \(formatDuration(milliseconds: result.waitedMs))\n")
                if !result.complete {
                    let left = result.items.filter { $0.outcome == "active" }.map(\.id)
                    writeStderr(
                        "aegis: drain of node \(result.node.name) timed out after \(timeout): still active: \(left.joined(separator: ", "))\n"
                    )
                    throw ExitCode(1)
                }
            }
        }
    }
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Tenants and their quotas (admin).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant; prints its API token (the only line on stdout; it is shown once).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Tenant name.") var name: String
        // Numbers are taken as values even with a leading '-', so that they get a range error.
        @Option(
            name: .customLong("max-cpu"), parsing: .unconditional,
            help: ArgumentHelp("CPU quota: 4, 0.5, 500m (at most \(Bounds.maxCPUMillis / 1000) cores).", valueName: "cpus"))
        var maxCPU: String?
        @Option(
            name: .customLong("max-memory"), parsing: .unconditional,
            help: ArgumentHelp("Memory quota: 8Gi, 512Mi, 2G (k/M/G = 1000ⁿ, Ki/Mi/Gi = 1024ⁿ; at most 1Pi).", valueName: "size"))
        var maxMemory: String?
        @Option(
            name: .customLong("max-gpus"), parsing: .unconditional,
            help: ArgumentHelp("GPU quota (0-\(Bounds.maxQuotaGPUs)).", valueName: "n"))
        var maxGPUs: Int?
        @Option(
            name: .customLong("max-agents"), parsing: .unconditional,
            help: ArgumentHelp("Running agents quota (0-\(Bounds.maxQuotaAgents)).", valueName: "n"))
        var maxAgents: Int?

        func validate() throws {
            _ = try checkedFlag { try tenantQuota(maxCPU: maxCPU, maxMemory: maxMemory, maxGPUs: maxGPUs, maxAgents: maxAgents) }
            if let g = maxGPUs { try checkFlagRange(g, 0...Bounds.maxQuotaGPUs, flag: "--max-gpus") }
            if let a = maxAgents { try checkFlagRange(a, 0...Bounds.maxQuotaAgents, flag: "--max-agents") }
        }

        func run() async throws {
            try await runVerb {
                let quota = try tenantQuota(maxCPU: maxCPU, maxMemory: maxMemory, maxGPUs: maxGPUs, maxAgents: maxAgents)
                let created = try await connection.client().createTenant(CreateTenantRequest(name: name, quota: quota))
                writeStdout(created.token + "\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tenants with their uid and quota.")

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await runVerb {
                let items = try await connection.client().tenants().sorted { $0.name < $1.name }
                if try printStructured(TenantList(items: items), format: output) { return }
                writeStdout(tenantTable(items, nowMs: nowMs()))
            }
        }
    }
}
