// aegis — the AEGIS command line: `aegis up` runs a node; the other verbs talk to a node's API.
import ArgumentParser

@main
struct Aegis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aegis",
        abstract: "AEGIS: run tenants' AI agents isolated on bare Linux hosts.",
        subcommands: [
            Up.self, Down.self, Run.self, Ps.self, Logs.self, Kill.self, Describe.self, Cp.self,
            NodeCommand.self, TenantCommand.self, TokenCommand.self, ImageCommand.self, PodCommand.self,
            ControllerCommand.self, GatewayCommand.self, MetricsCommand.self, HealthCommand.self, InstallCommand.self,
            UninstallCommand.self, DatastoreCommand.self, WorkflowCommand.self, RelayCommand.self,
        ])
}
