// ConfigFileE2ETests.swift — `aegis up --config FILE` as a process: the file's keys set flags and
// the command line overrides them; an unknown key or a bad value fails the start with the file,
// line and key or flag named, nothing left behind; every flag of `aegis up --help-hidden` is a
// key of the file (and nothing else is).
import AegisDaemon
import Foundation
import XCTest

final class ConfigFileE2ETests: XCTestCase {
    func testFileSetsFlagsAndTheCommandLineOverridesThem() throws {
        let node = try NodeHarness()
        let file = node.dataDir + "/config.yaml"
        // The harness passes --name e2e-node and --api-port 0 itself: those override the file's.
        try "name: from-file\napi-port: 7999\nlabel: [zone=file]\nstrategy: spread\negress: true\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        node.extraArgs = ["--config", file, "--no-egress"]
        try node.start()
        let ls = try node.cli(["node", "describe", "e2e-node"])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        XCTAssertNotNil(ls.stdout.firstMatch(of: /\n  zone: +file\n/), "the file's label: \(ls.stdout)")
        XCTAssertNotEqual(node.port, 7999, "--api-port 0 on the command line wins")
        XCTAssertNotNil(ls.stdout.firstMatch(of: /\n  Egress: +no/), "--no-egress turns off the file's egress: true\n\(ls.stdout)")
    }

    func testUnknownKeyAndBadValueFailTheStartNamingFileAndLine() throws {
        let node = try NodeHarness()
        let file = node.dataDir + "/config.yaml"
        try "name: n1\nlisten-port: 7443\n".write(toFile: file, atomically: true, encoding: .utf8)
        var r = try node.cli(["up", "--data-dir", node.dataDir, "--config", file])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(file):2: listen-port: unknown key"), r.stderr)
        try "lease-grace: soon\n".write(toFile: file, atomically: true, encoding: .utf8)
        r = try node.cli(["up", "--data-dir", node.dataDir, "--role", "worker", "--join", "https://127.0.0.1:1", "--config", file])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--lease-grace") && r.stderr.contains("(\(file):1)"), r.stderr)
        r = try node.cli(["up", "--data-dir", node.dataDir, "--config", node.dataDir + "/missing.yaml"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--config \(node.dataDir)/missing.yaml: cannot read it") && r.stderr.contains("ENOENT"), r.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: node.dataDir).filter { $0 != "config.yaml" }
        XCTAssertEqual(left, [], "a refused start leaves nothing in the data dir")
    }

    func testEveryFlagIsAKey() throws {
        let node = try NodeHarness()
        let help = try node.cli(["up", "--help-hidden"])
        let flags = Set(
            help.stdout.split(separator: "\n").compactMap { line -> String? in
                guard let match = line.firstMatch(of: /^  (?:-[a-z], )?--([a-z0-9-]+)/) else { return nil }
                return String(match.1)
            })
        XCTAssertEqual(flags.subtracting(["help", "config"]), Set(NodeConfigFile.keys.keys))
    }
}
