// CommandSupport.swift — what every API verb shares: the connection options, `--output`, the
// one-line `aegis: <error>` failure with exit status 1, and unbuffered stdout/stderr writes.
import AegisClient
import AegisManifest
import AegisProtocol
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--data-dir`, `--server`, `--token`, `--tenant` (env AEGIS_DATA_DIR, AEGIS_SERVER, AEGIS_TOKEN,
/// AEGIS_TENANT). Default: the local node's unix socket and admin token in the data dir.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The local node's data directory (env AEGIS_DATA_DIR).", valueName: "dir"))
    var dataDir: String?

    @Option(
        help: ArgumentHelp(
            "API URL: http://HOST:PORT, https://…, or unix:///PATH (env AEGIS_SERVER). Default: the local node's socket.", valueName: "url")
    )
    var server: String?

    @Option(help: ArgumentHelp("API token (env AEGIS_TOKEN). Default: the local node's admin token.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Act for this tenant (admin token only; env AEGIS_TENANT).", valueName: "name"))
    var tenant: String?

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "For https:// servers: trust this CA certificate (PEM), e.g. the cluster CA <data-dir>/pki/ca.crt of the controller (env AEGIS_CA_FILE).",
            valueName: "file"))
    var caFile: String?

    func client() throws -> APIClient {
        let settings = try ConnectionSettings.resolve(dataDir: dataDir, server: server, token: token, tenant: tenant)
        let ca = caFile ?? ProcessInfo.processInfo.environment["AEGIS_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        guard let ca else { return APIClient(settings: settings) }
        return APIClient(settings: settings, httpClient: try checkedFlag { try APIClient.httpClient(trustingCAFile: ca) })
    }
}

/// A flag's value checked by a parser of AegisManifest or AegisClient, as a usage error that keeps
/// the parser's message (it names the flag and, for numbers, the allowed range).
@discardableResult
func checkedFlag<T>(_ parse: () throws -> T) throws -> T {
    do {
        return try parse()
    } catch let e as ManifestError {
        throw ValidationError(e.description)
    } catch let e as ClientError {
        throw ValidationError(e.message)
    } catch let e as QuantityError {
        throw ValidationError(e.description)
    }
}

/// An integer flag inside `range`: "--api-port 99999: out of range 0…65535 (0: any free port)".
func checkFlagRange(_ value: Int, _ range: ClosedRange<Int>, flag: String, note: String = "") throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) \(value): out of range \(range.lowerBound)…\(range.upperBound)\(note)")
    }
}

/// `--output table|json|yaml` ("text" is accepted as table).
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, yaml

    init?(argument: String) {
        if argument == "text" { self = .table; return }
        self.init(rawValue: argument)
    }
}

/// Writes the value as JSON or YAML on stdout; returns false for `.table` (the caller prints text).
func printStructured(_ value: some Encodable, format: OutputFormat) throws -> Bool {
    switch format {
    case .table: return false
    case .json: writeStdout(try jsonText(value))
    case .yaml: writeStdout(try yamlText(value))
    }
    return true
}

/// Runs a verb's body; any error but an exit request is printed as one line `aegis: <message>`
/// on stderr and the process exits with status 1.
func runVerb(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as ExitCode {
        throw e
    } catch is CancellationError {
        throw ExitCode(130)
    } catch let e as ClientError where e.errnoCode == EPIPE {
        throw ExitCode(0)  // stdout's reader went away (`| head`): not an error
    } catch {
        writeStderr("aegis: \(cliMessage(for: error))\n")
        throw ExitCode(1)
    }
}

/// Unbuffered write to fd 1 (a closed pipe ends the process quietly, like `head`).
func writeStdout(_ text: String) { writeFD(1, Array(text.utf8)) }
/// Unbuffered write to fd 2.
func writeStderr(_ text: String) { writeFD(2, Array(text.utf8)) }

func writeFD(_ fd: Int32, _ bytes: [UInt8]) {
    do {
        try writeAll(fd: fd, bytes, what: fd == 1 ? "stdout" : "stderr")
    } catch let e as ClientError where e.errnoCode == EPIPE {
        exit(fd == 1 ? 0 : 1)  // the reader went away (`| head`)
    } catch {
        // Nowhere left to report a stdout/stderr failure.
    }
}

/// Unix time in milliseconds (CLOCK_REALTIME).
func nowMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// A workload id as the API hands them out: non-empty, printable, no '/' (it becomes a URL path
/// segment). - Throws: `ValidationError` naming the id.
func checkWorkloadID(_ id: String) throws {
    if id.isEmpty { throw ValidationError("workload id: must not be empty (see `aegis ps --all`)") }
    if id.contains("/") || id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) {
        throw ValidationError("workload id \"\(id)\": not an id (no '/', spaces or control characters; see `aegis ps --all`)")
    }
}
