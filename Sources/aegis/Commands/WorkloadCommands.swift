// WorkloadCommands.swift — `aegis ps`, `logs`, `kill`, `describe`, `cp`.
import AegisClient
import AegisProtocol
import ArgumentParser
import AegisSystem
#if canImport(Glibc)
import Glibc
#endif

struct Ps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List agents (pending, scheduled and running; --all for finished ones too).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(name: [.short, .long], help: "Include finished agents.") var all = false
    @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

    func run() async throws {
        try await runVerb {
            var items = try await connection.client().workloads()
            if !all { items = items.filter { !$0.state.isFinal } }
            items.sort { ($0.createdAtMs, $0.id) < ($1.createdAtMs, $1.id) }
            if try printStructured(WorkloadList(items: items), format: output) { return }
            writeStdout(workloadTable(items, nowMs: nowMs()))
        }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an agent's stdout and stderr (-f: keep following until it ends).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(name: [.short, .long], help: "Follow the output until the agent ends.") var follow = false
    @Argument(help: "Workload id.") var id: String

    func validate() throws { try checkWorkloadID(id) }

    func run() async throws {
        try await runVerb {
            for try await (stream, text) in try connection.client().logs(id: id, follow: follow) {
                switch stream {
                case .stdout: writeStdout(text)
                case .stderr: writeStderr(text)
                case .exit: return
                }
            }
        }
    }
}

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel an agent (it is stopped if running); prints the id.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Workload id.") var id: String

    func validate() throws { try checkWorkloadID(id) }

    func run() async throws {
        try await runVerb {
            let w = try await connection.client().cancel(id: id)
            writeStdout(w.id + "\n")
        }
    }
}

struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Show an agent in detail: spec, state and reason, node, times, limits (and which are not enforced), GPUs, events, outputs.")

    @OptionGroup var connection: ConnectionOptions
    @Option(name: [.short, .long], help: "text, json or yaml.") var output: OutputFormat = .table
    @Argument(help: "Workload id.") var id: String

    func validate() throws { try checkWorkloadID(id) }

    func run() async throws {
        try await runVerb {
            let detail = try await connection.client().workload(id: id)
            if try printStructured(detail, format: output) { return }
            writeStdout(describeWorkload(detail, nowMs: nowMs()))
        }
    }
}

struct Cp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an agent's output file: aegis cp ID:PATH DEST (DEST may be a directory, or - for stdout).")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: ArgumentHelp("ID:PATH, PATH relative to the agent's output directory (see `aegis describe`).", valueName: "id:path"))
    var source: String
    @Argument(help: ArgumentHelp("Destination file or directory, or - for stdout.", valueName: "dest"))
    var destination: String

    func validate() throws {
        guard let colon = source.firstIndex(of: ":"), colon != source.startIndex,
            source.index(after: colon) != source.endIndex
        else {
            throw ValidationError("\(source): expected ID:PATH (e.g. w-1a2b:result.json)")
        }
    }

    func run() async throws {
        try await runVerb {
            let colon = source.firstIndex(of: ":")!
            let id = String(source[..<colon])
            let path = String(source[source.index(after: colon)...])
            let client = try connection.client()
            if destination == "-" {
                _ = try await client.download(id: id, path: path, to: 1, what: "stdout")
                return
            }
            try await client.downloadOutput(id: id, path: path, to: destination)
        }
    }
}
