// InstallCommands.swift — `aegis install hybrid|worker|controller` and `aegis uninstall`: flags
// to an InstallRequest for AegisDaemon's Installer, which does the work.
import AegisDaemon
import ArgumentParser
import Foundation

extension InstallRequest.Role: ExpressibleByArgument {}

struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install this node as a systemd service and start it (aegis, aegis-supervisor and aegis-init to /usr/local/bin).",
        discussion: """
            hybrid: aegis.service (controller and worker); worker: aegis-worker.service, joined to --join \
            with --token; controller: aegis-controller.service, the controller pod from --image. Settings go \
            to /etc/aegis/config.yaml. Running it again with the same flags changes nothing.
            """)
    @Argument(help: "hybrid, worker or controller.") var role: InstallRequest.Role
    @Option(help: "Worker: the controller's cluster port, https://HOST:PORT.") var join: String?
    @Option(help: "Worker: the join token (kept in /etc/aegis/join-token, mode 0600).") var token: String?
    @Option(help: "Worker: read the join token from this file.") var tokenFile: String?
    @Option(help: "Node name (default: the host name).") var name: String?
    @Option(help: "Controller: the image, the oci-archive scripts/build-image.sh writes.") var image: String?
    @Flag(help: "Enable the unit without starting it.") var noStart = false

    func run() throws {
        var request = InstallRequest(role: role)
        request.join = join
        request.name = name
        request.image = image
        request.start = !noStart
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("--token-file \(tokenFile): cannot read it")
            }
            request.token = text.split(separator: "\n").first.map(String.init)
        } else {
            request.token = token
        }
        do {
            for line in try Installer().install(request) { print(line) }
        } catch {
            writeStderr("aegis install: \(error)\n")
            throw ExitCode(1)
        }
    }
}

struct UninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop and remove this host's AEGIS systemd service (agents are stopped first).")
    @Flag(help: "Leave the agents running.") var keepAgents = false
    @Flag(help: "Also remove the data dir (/var/lib/aegis), /etc/aegis and the binaries.") var purge = false

    func run() throws {
        do { try Installer().uninstall(keepAgents: keepAgents, purge: purge) } catch {
            writeStderr("aegis uninstall: \(error)\n")
            throw ExitCode(1)
        }
    }
}
