// NodeConfigFileTests.swift — `aegis up --config`: a YAML file's keys become the flags placed
// before the command line's; switches, lists, the command line replacing a list; every error
// names the file, the line and the key.
import AegisDaemon
import XCTest

final class NodeConfigFileTests: XCTestCase {
    func testKeysBecomeFlagsBeforeTheCommandLine() throws {
        let yaml = """
            # a worker
            role: worker
            join: https://ctl.example:7443
            data-dir: /var/lib/aegis
            api-port: 7421
            label: [zone=a, disk=ssd]
            reach: internet
            allow-unenforced-limits: true
            drain-on-exit: false
            """
        let (arguments, lines) = try NodeConfigFile.arguments(yaml: yaml, file: "/etc/aegis/config.yaml")
        XCTAssertEqual(
            arguments,
            [
                "--role", "worker", "--join", "https://ctl.example:7443", "--data-dir", "/var/lib/aegis", "--api-port", "7421",
                "--label", "zone=a", "--label", "disk=ssd", "--reach", "internet", "--allow-unenforced-limits",
                "--no-drain-on-exit",
            ])
        XCTAssertEqual(lines["--role"], 2)
        XCTAssertEqual(lines["--api-port"], 5)
    }

    func testARepeatableFlagOnTheCommandLineReplacesTheFilesValues() throws {
        let yaml = "label: [zone=a]\nname: n1\n"
        let (arguments, _) = try NodeConfigFile.arguments(yaml: yaml, file: "f", commandLine: ["--label", "zone=b"])
        XCTAssertEqual(arguments, ["--name", "n1"], "the command line's --label replaces the file's")
    }

    func testEmptyFileSetsNothing() throws {
        XCTAssertEqual(try NodeConfigFile.arguments(yaml: "# nothing yet\n", file: "f").arguments, [])
    }

    func testErrorsNameFileLineAndKey() {
        func error(_ yaml: String) -> NodeConfigFileError? {
            do {
                _ = try NodeConfigFile.arguments(yaml: yaml, file: "/etc/aegis/config.yaml")
                return nil
            } catch { return error }
        }
        XCTAssertEqual(
            error("role: worker\nlisten-port: 7443\n")?.description,
            "/etc/aegis/config.yaml:2: listen-port: unknown key: not a flag of `aegis up`")
        XCTAssertEqual(error("--role: worker\n")?.key, "--role")
        XCTAssertTrue(error("--role: worker\n")?.description.contains("without dashes") ?? false)
        XCTAssertEqual(error("name: [a, b]\n")?.description, "/etc/aegis/config.yaml:1: name: takes one value, not a list")
        XCTAssertEqual(error("egress: maybe\n")?.description, "/etc/aegis/config.yaml:1: egress: expected true or false, not \"maybe\"")
        XCTAssertEqual(error("a: 1\nlabel: {x: y}\n")?.line, 1, "the first problem, in order")
        XCTAssertEqual(error("label: {x: y}\n")?.description, "/etc/aegis/config.yaml:1: label: expected a value, not a mapping")
        XCTAssertEqual(error("config: /etc/other.yaml\n")?.key, "config", "a file can't name another")
        XCTAssertEqual(error("- role\n- worker\n")?.description, "/etc/aegis/config.yaml:1: expected a mapping of flag names to values")
        XCTAssertTrue(error("role: [worker\n")?.description.hasPrefix("/etc/aegis/config.yaml: invalid YAML") ?? false)
        XCTAssertNotNil(error("name: a\nname: b\n"), "a key set twice")
    }
}
