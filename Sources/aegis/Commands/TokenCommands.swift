// TokenCommands.swift — `aegis token create|ls|revoke` (join tokens, admin) and the node side of
// joining: `aegis node join` (fetch and pin the cluster CA, get a certificate for the node key) and
// `aegis node forget` (unpin a node name, admin).
import AegisClient
import AegisManifest
import AegisProtocol
import ArgumentParser
import Foundation

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Join tokens that let nodes join the cluster (admin).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a join token; prints it (the only line on stdout; it is shown once).",
            discussion: """
                The token AEG1<ca-sha256>::<id>.<secret> pins the cluster CA: a node joining with it checks the \
                controller's CA against it before trusting it. Give it to `aegis node join --token`.
                """)

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Role of nodes joining with it.") var role: NodeRole = .worker
        @Option(
            parsing: .unconditional, help: ArgumentHelp("Lifetime: 24h, 30m, 7d, 1h30m or seconds (at most 365d).", valueName: "duration"))
        var ttl: String = "24h"
        @Option(help: ArgumentHelp("A note shown by `aegis token ls` (at most 200 characters).", valueName: "text"))
        var description: String?

        func run() async throws {
            try await runVerb {
                let seconds: Int
                seconds = try checkedFlag {
                    try Quantity.durationSeconds(ttl, field: "--ttl", maxSeconds: Int(Bounds.maxJoinTokenTTLSeconds))
                }
                let created = try await connection.client().createJoinToken(
                    CreateJoinTokenRequest(role: role, ttlSeconds: Int64(seconds), description: description))
                writeStdout(created.token + "\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List join tokens (never their secrets): ID, ROLE, EXPIRES, USES, REVOKED.")

        @OptionGroup var connection: ConnectionOptions
        @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await runVerb {
                let items = try await connection.client().joinTokens()
                if try printStructured(JoinTokenList(items: items), format: output) { return }
                writeStdout(joinTokenTable(items, nowMs: nowMs()))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a join token: nodes can no longer join with it (nodes that joined keep their certificates).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Token id (the 6 characters after \"::\", as `aegis token ls` shows).") var id: String

        func run() async throws {
            try await runVerb {
                let revoked = try await connection.client().revokeJoinToken(id: id)
                writeStdout("join token \(revoked.id) revoked\n")
            }
        }
    }
}

extension NodeCommand {
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join this node to a cluster: get a certificate for its key from the controller.",
            discussion: """
                Fetches the controller's cluster CA and checks it against the CA fingerprint inside the token before \
                trusting it, creates the node key (or reuses the one in --dir, so a retry or re-join keeps the key the \
                controller pinned for this name), sends a certificate request, verifies the certificate against the pinned \
                CA and saves node.key (0600), node.crt and ca.crt in --dir. Prints the certificate's SHA-256 fingerprint. \
                Also useful to pre-provision a worker's identity.
                """)

        @Option(help: ArgumentHelp("The controller's API: http://HOST:PORT.", valueName: "url")) var server: String
        @Option(
            help: ArgumentHelp(
                "The join token from `aegis token create` (prefer --token-file or env AEGIS_JOIN_TOKEN).", valueName: "token"))
        var token: String?
        @Option(help: ArgumentHelp("Read the join token from this file (its first line).", valueName: "file"))
        var tokenFile: String?
        @Option(help: ArgumentHelp("Node name (default: the host name, lowercased).", valueName: "name")) var name: String?
        @Option(help: ArgumentHelp("Identity directory (default <data-dir>/identity).", valueName: "dir")) var dir: String?
        @Option(
            name: .customLong("data-dir"),
            help: ArgumentHelp("Data directory for the default --dir (env AEGIS_DATA_DIR).", valueName: "dir"))
        var dataDir: String?
        @Option(help: "Expected role; default: the token's.") var role: NodeRole?
        @Option(name: [.short, .long], help: "text, json or yaml.") var output: OutputFormat = .table

        struct Result: Codable {
            var node: String
            var role: NodeRole
            var server: String
            var certificate: String
            var certificateSHA256: String
            var serial: String
            var expiresAtMs: Int64
            var key: String
            var keySHA256: String
            var keyReused: Bool
            var ca: String
            var caSHA256: String
        }

        func run() async throws {
            try await runVerb {
                if token != nil && tokenFile == nil { writeStderr(JoinTokenInput.commandLineWarning) }
                let tokenText = try checkedFlag { try JoinTokenInput.resolve(flag: token, file: tokenFile) }
                guard let tokenText, !tokenText.isEmpty else {
                    throw ValidationError(
                        "a join token is needed: --token-file, AEGIS_JOIN_TOKEN or --token (create one with `aegis token create`)")
                }
                let nodeName = name ?? ProcessInfo.processInfo.hostName.lowercased()
                let directory = dir ?? AegisPaths(dataDir: dataDir ?? AegisPaths.defaultDataDir()).identityDir
                let transport = try PinnedJoinTransport(server: server)
                let joined = try await JoinClient.join(
                    transport: transport, token: tokenText, nodeName: nodeName,
                    role: role, directory: directory)
                let result = Result(
                    node: nodeName, role: joined.role, server: transport.serverName,
                    certificate: joined.certificatePath, certificateSHA256: joined.certificateFingerprint,
                    serial: joined.serial, expiresAtMs: Int64(joined.notValidAfter.timeIntervalSince1970 * 1000),
                    key: joined.keyPath, keySHA256: joined.keyFingerprint, keyReused: joined.reusedKey,
                    ca: joined.caPath, caSHA256: joined.caFingerprint)
                if try printStructured(result, format: output) { return }
                writeStdout(
                    """
                    joined node \(nodeName) as \(result.role.rawValue) at \(result.server)
                    certificate  \(result.certificate)  sha256 \(result.certificateSHA256)
                                 serial \(result.serial), expires \(formatTimestamp(ms: result.expiresAtMs))
                    key          \(result.key)  sha256 \(result.keySHA256) (\(result.keyReused ? "existing key reused" : "new key"))
                    cluster CA   \(result.ca)  sha256 \(result.caSHA256)

                    """)
            }
        }
    }

    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unpin a node name from its key so it can join again with a new key (admin).",
            discussion: "Certificates already issued for the old key are not revoked; they expire on their own (90 days at most).")

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Node name.") var name: String

        func run() async throws {
            try await runVerb {
                try await connection.client().removeNodeIdentity(name: name)
                writeStdout("node \(name) forgotten: it may join again with a new key\n")
            }
        }
    }
}
