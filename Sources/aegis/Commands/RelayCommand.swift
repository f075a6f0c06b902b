// RelayCommand.swift — `aegis relay`: the relay in the foreground (flags → RelayConfiguration →
// RelayServer in a ServiceGroup; SIGTERM or SIGINT close every session), and the small tools the
// controller side needs until enrollment issues tickets itself: `aegis relay ticket-key create`
// and `aegis relay ticket issue`. Parsing only: AegisRelay does the work.
import AegisDaemon
import AegisProtocol
import AegisRelay
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Forward edges' end-to-end TLS sessions to the cluster's gateway (the relay never sees plaintext).",
        subcommands: [RelayServe.self, RelayTicketKeyCommand.self, RelayTicketCommand.self],
        defaultSubcommand: RelayServe.self)
}

struct RelayServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve edges: WebSocket with a relay ticket → a TCP connection to an upstream, bytes both ways.",
        discussion: """
            Edges dial ws[s]://HOST:PORT/v1/relay with `Authorization: AegisRelay <ticket>`. A dial without a \
            valid ticket is refused (401, X-Aegis-Relay-Refusal names why) before any upstream is opened.
            """)

    @Option(help: "Where edges connect, HOST:PORT.") var listen = "0.0.0.0:7450"
    @Option(help: "The gateway's cluster port, HOST:PORT; repeat for several, tried in order.") var upstream: [String] = []
    @Option(help: ArgumentHelp("The cluster's public relay-ticket key (PEM, Ed25519).", valueName: "path")) var ticketKey: String
    @Option(help: "WebSocket ping period towards edges (an edge silent for two periods is closed).") var pingInterval = "10s"
    @Option(help: "Longest time from accept to an accepted session.") var handshakeTimeout = "10s"
    @Option(help: ArgumentHelp("TLS certificate chain (PEM) for the relay's own listener.", valueName: "path")) var tlsCert: String?
    @Option(help: ArgumentHelp("TLS private key (PEM) for the relay's own listener.", valueName: "path")) var tlsKey: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level \(logLevel): not a level") }
        var configuration: RelayConfiguration
        do {
            let key = try RelayTicketKey.loadPublicKey(path: ticketKey)
            configuration = try RelayConfiguration(
                listen: try RelayAddress(parsing: listen, flag: "--listen"),
                upstreams: try upstream.map { text throws(RelayConfigurationError) in try RelayAddress(parsing: text, flag: "--upstream") },
                ticketKey: key)
            configuration.pingInterval = .milliseconds(try Quantity.durationMilliseconds(pingInterval, field: "--ping-interval"))
            configuration.handshakeTimeout = .milliseconds(
                try Quantity.durationMilliseconds(handshakeTimeout, field: "--handshake-timeout"))
            switch (tlsCert, tlsKey) {
            case (nil, nil): break
            case (let cert?, let key?): configuration.tls = try RelayConfiguration.serverTLS(certificatePath: cert, keyPath: key)
            default: throw ValidationError("--tls-cert and --tls-key go together")
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw ValidationError("\(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "aegis.relay")
        let relay = RelayServer(configuration: configuration, logger: logger)
        try await runVerb {
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: relay, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}

struct RelayTicketKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket-key", abstract: "The cluster's relay-ticket key pair.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create relay-ticket.key (0600, the controller's) and relay-ticket.pub (for relays) in DIR, keeping an existing key.")
        @Option(help: ArgumentHelp("The directory: the controller's <data-dir>/pki.", valueName: "dir")) var dir = "/var/lib/aegis/pki"

        func run() async throws {
            try await runVerb {
                _ = try RelayTicketKey.loadOrCreate(directory: dir)
                print(dir + "/" + RelayTicketKey.publicKeyFileName)
            }
        }
    }
}

struct RelayTicketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ticket", abstract: "Relay tickets.", subcommands: [Issue.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a relay ticket for an edge, signed with the cluster's private ticket key.")
        @Option(help: ArgumentHelp("The private relay-ticket key.", valueName: "path")) var key = "/var/lib/aegis/pki/relay-ticket.key"
        @Option(help: "The edge's node name.") var edge: String
        @Option(help: "The tenant owning the edge.") var tenant: String
        @Option(help: "How long the ticket is valid.") var ttl = "24h"

        func run() async throws {
            try await runVerb {
                let privateKey = try RelayTicketKey.loadPrivateKey(path: key)
                let seconds = try Quantity.durationSeconds(ttl, field: "--ttl")
                let ticket = RelayTicket.make(edge: edge, tenant: tenant, nowMs: RelayClock.unixMs(), validityMs: Int64(seconds) * 1000)
                print(try ticket.encoded(signedWith: privateKey))
            }
        }
    }
}
