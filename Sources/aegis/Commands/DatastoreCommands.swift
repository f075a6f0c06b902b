// DatastoreCommands.swift — `aegis datastore migrate`: a single-node controller's SQLite state
// moved into PostgreSQL (DatastoreMigration in AegisStorePostgres), verified table by table.
// Parsing and printing only.
import AegisClient
import AegisStorePostgres
import ArgumentParser
import Foundation
import Logging

struct DatastoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datastore", abstract: "Move the controller's state between datastores.", subcommands: [DatastoreMigrate.self])
}

struct DatastoreMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a controller's SQLite state into an empty PostgreSQL database, then verify every table.",
        discussion: """
            Stop the controller first. Ids, token hashes, node identities and join tokens are kept, so admin and tenant \
            tokens, joined workers and workload ids keep working; start the controllers with --datastore afterwards. \
            Nothing is written to PostgreSQL unless the whole copy succeeds.
            """)

    @Option(help: ArgumentHelp("sqlite:PATH of aegis.db (e.g. sqlite:/var/lib/aegis/aegis.db).", valueName: "sqlite:path"))
    var from: String
    @Option(help: ArgumentHelp("postgres://USER@HOST:PORT/DATABASE?sslmode=…", valueName: "url")) var to: String
    @Option(help: ArgumentHelp("Read the database password from this file (else PGPASSWORD).", valueName: "file"))
    var passwordFile: String?

    func run() async throws {
        try await runVerb {
            guard from.hasPrefix("sqlite:"), from.count > "sqlite:".count else {
                throw ClientError("--from \(from): expected sqlite:PATH of the controller's aegis.db")
            }
            let path = String(from.dropFirst("sqlite:".count))
            guard FileManager.default.fileExists(atPath: path) else { throw ClientError("--from \(from): no such file") }
            let datastore: PostgresDatastore
            do { datastore = try PostgresDatastore(url: to, passwordFile: passwordFile) } catch { throw ClientError("--to: \(error)") }
            let reports = try await DatastoreMigration.run(sqlitePath: path, to: datastore, logger: Logger(label: "aegis.migrate"))
            var table = "TABLE\tROWS\tSHA256\n"
            for r in reports { table += "\(r.table)\t\(r.rows)\t\(r.checksum)\n" }
            writeStdout(table)
            writeStdout("migrated \(path) to \(datastore): every table verified\n")
        }
    }
}
