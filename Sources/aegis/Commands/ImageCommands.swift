// ImageCommands.swift — `aegis image pull|ls|rm|prune`: the node's image store under
// `<data-dir>/images`, used directly (as `crictl` does against its node's store). Parsing and
// printing only; AegisImage does the work.
import AegisClient
import AegisDaemon
import AegisImage
import AegisProtocol
import ArgumentParser
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Pull, list and remove the OCI images of this node.",
        subcommands: [ImagePull.self, ImageList.self, ImageRemove.self, ImagePrune.self])
}

/// `--data-dir` of the image verbs: the store is `<data-dir>/images`.
struct ImageStoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The node's data directory (env AEGIS_DATA_DIR).", valueName: "dir"))
    var dataDir: String?

    var directory: String { dataDir ?? AegisPaths.defaultDataDir() }

    func open() throws -> ImageStore { try ImageStore(root: AegisPaths(dataDir: directory).images) }

    /// The unpacked images this node's placements run from (kept by rm and prune).
    func inUse() -> Set<String> { NodeSetup.imagesInUse(dataDir: directory) }
}

struct ImagePull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image: REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:TAG] or oci-archive:FILE[:TAG].")

    @OptionGroup var store: ImageStoreOptions
    @Option(
        name: .customLong("registry-auth"),
        help: ArgumentHelp("Credentials: a docker-style auth.json ({\"auths\": {\"HOST\": {\"auth\": …}}}).", valueName: "file"))
    var authFile: String?
    @Option(
        name: .customLong("registry-ca"),
        help: ArgumentHelp("Trust this CA (PEM) for HTTPS registries, besides the system's.", valueName: "file"))
    var caFile: String?
    @Option(
        name: .customLong("insecure-registry"),
        help: ArgumentHelp("Speak plain HTTP to this HOST[:PORT] (repeatable). Every other registry is HTTPS.", valueName: "host"))
    var insecure: [String] = []
    @Flag(name: [.short, .long], help: "No progress display; print only the manifest digest.") var quiet = false
    @Argument(help: "The image reference.") var reference: String

    func run() async throws {
        try await runVerb {
            let images = try store.open()
            let display = PullDisplay(enabled: !quiet && isatty(1) == 1)
            let options = RegistryOptions(insecureRegistries: Set(insecure), caFile: caFile, authFile: authFile)
            let record = try await images.pull(reference, options: options) { display.show($0) }
            display.finish()
            if quiet {
                writeStdout("\(record.manifestDigest)\n")
            } else {
                writeStdout(
                    "pulled \(record.reference): \(record.manifestDigest), \(record.layers.count) layer(s), \(formatBytes(record.sizeBytes))\n"
                )
            }
        }
    }
}

/// One status line on a terminal, rewritten as bytes arrive: layers done, bytes of all layers.
final class PullDisplay: Sendable {
    private struct State {
        var total: Int64 = 0
        var layers = 0
        var done: Set<String> = []
        var written: [String: Int64] = [:]
        var lastDrawMs: Int64 = 0
    }
    private let enabled: Bool
    private let state = Mutex(State())

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ event: PullProgress) {
        if case let .unpacked(warnings, leftOut) = event {  // on stderr, quiet or not
            var text = warnings.map { "aegis: warning: \($0)\n" }.joined()
            if leftOut > 0 { text += "aegis: warning: \(leftOut) more entries not reproduced\n" }
            if !text.isEmpty { writeStderr((enabled ? "\r\u{1B}[K" : "") + text) }
            return
        }
        guard enabled else { return }
        let line: String? = state.withLock { s in
            switch event {
            case let .resolved(_, layers, bytes):
                s.total = bytes
                s.layers = layers
            case let .blobBytes(d, written, _):
                s.written[d.description] = written
                let now = nowMs()
                guard now - s.lastDrawMs >= 100 else { return nil }
                s.lastDrawMs = now
            case let .blobDone(d, _): s.done.insert(d.description)
            case .unpacking: return "\r\u{1B}[Kunpacking \(s.layers) layer(s)…"
            case .blobStarted, .unpacked, .done: return nil
            }
            let got = s.written.values.reduce(0, +)
            return "\r\u{1B}[K\(s.done.count)/\(s.layers + 1) blobs, \(formatBytes(got)) of \(formatBytes(s.total))"
        }
        if let line { writeStderr(line) }
    }

    func finish() { if enabled { writeStderr("\r\u{1B}[K") } }
}

struct ImageList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images pulled to this node.")

    @OptionGroup var store: ImageStoreOptions
    @Option(name: [.short, .long], help: "table, json or yaml.") var output: OutputFormat = .table

    func run() async throws {
        try await runVerb {
            let records = try store.open().list()
            if try printStructured(records, format: output) { return }
            var table = TextTable(headers: ["REFERENCE", "DIGEST", "LAYERS", "SIZE", "PULLED"])
            for r in records {
                table.add([
                    r.reference, String(r.manifestDigest.hex.prefix(12)), "\(r.layers.count)", formatBytes(r.sizeBytes),
                    formatAge(milliseconds: nowMs().saturatingSubtracting(r.pulledAtMs)) + " ago",
                ])
            }
            writeStdout(table.render())
        }
    }
}

struct ImageRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Forget images (by reference or digest prefix); `aegis image prune` frees their space.")

    @OptionGroup var store: ImageStoreOptions
    @Argument(help: "Image references or manifest digest prefixes.") var references: [String]

    func run() async throws {
        try await runVerb {
            let images = try store.open()
            for ref in references {
                let removed = try await images.remove(ref, inUse: store.inUse())
                writeStdout("removed \(removed.reference)\n")
            }
        }
    }
}

struct ImagePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete blobs and unpacked images no pulled image names, and leftovers of interrupted pulls.")

    @OptionGroup var store: ImageStoreOptions

    func run() async throws {
        try await runVerb {
            let report = try await store.open().prune(inUse: store.inUse())
            writeStdout("removed \(report.blobs) blob(s) (\(formatBytes(report.bytes))) and \(report.rootfs) unpacked image(s)\n")
        }
    }
}
