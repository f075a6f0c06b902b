// A throwaway PostgreSQL for the replicated-controller tests: Debian's postgresql 15 binaries,
// a cluster initialised in a temporary directory (trust authentication, owner `postgres`),
// `postgres` run as that user (setpriv: the process is the postmaster itself) inside the test's network namespace on 127.0.0.1:5432, database
// `aegis`. `pause`/`resume` SIGSTOP/SIGCONT the postmaster and every backend (the database
// unreachable without a closed connection); deinit stops it and removes the directory.
import Foundation
import XCTest

final class LocalPostgres {
    static let bin = "/usr/lib/postgresql/15/bin"
    let netns: String
    let dir: String
    let port = 5432
    private(set) var process: Process?

    /// `postgres://postgres@127.0.0.1:5432/aegis?sslmode=disable`.
    var url: String { "postgres://postgres@127.0.0.1:\(port)/aegis?sslmode=disable" }

    init(netns: String) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/postgres") else {
            XCTFail("PostgreSQL 15 is not installed (\(Self.bin)/postgres): apt-get install postgresql (.ci/run does)")
            throw CocoaError(.fileNoSuchFile)
        }
        self.netns = netns
        var template = Array("/tmp/aegis-pg-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dir = String(cString: p)
        try sh(["chown", "postgres:postgres", dir])
        try sh(["runuser", "-u", "postgres", "--", Self.bin + "/initdb", "-D", dir + "/data", "-A", "trust", "-U", "postgres", "--no-sync"])
    }

    /// Starts the server and creates database `aegis` once it accepts connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = [
            "--net=/run/netns/\(netns)", "--", "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
            Self.bin + "/postgres", "-D", dir + "/data",
            "-p", "\(port)", "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
        ]
        let log = dir + "/server.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let answer = try sh(
                ["runuser", "-u", "postgres", "--", Self.bin + "/pg_isready", "-h", dir, "-p", "\(port)"], allowFailure: true)
            if answer.contains("accepting connections") {
                try sh(["runuser", "-u", "postgres", "--", Self.bin + "/createdb", "-h", dir, "-p", "\(port)", "aegis"])
                return
            }
            usleep(100_000)
        }
        XCTFail("PostgreSQL did not start:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        throw CocoaError(.fileReadUnknown)
    }

    /// The postmaster (the process itself: nsenter and setpriv exec it) and its children.
    func serverPids() -> [Int32] {
        guard let master = process?.processIdentifier, process?.isRunning == true else { return [] }
        let children = (try? sh(["pgrep", "-P", "\(master)"], allowFailure: true)) ?? ""
        return [master] + children.split(separator: "\n").compactMap { Int32($0) }
    }

    func pause() { for pid in serverPids() { kill(pid, SIGSTOP) } }
    func resume() { for pid in serverPids() { kill(pid, SIGCONT) } }

    deinit {
        resume()
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGQUIT)  // PostgreSQL's immediate shutdown
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
