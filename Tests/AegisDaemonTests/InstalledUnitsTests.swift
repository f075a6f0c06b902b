// InstalledUnitsTests.swift — what `aegis install` writes is byte for byte systemd/*.service and
// pod/aegis-controller.yaml (run scripts/embed-units.py after changing one).
@testable import AegisDaemon
import Foundation
import XCTest

final class InstalledUnitsTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testEmbeddedFilesMatchTheRepository() throws {
        let dir = Self.repo.appendingPathComponent("systemd")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".service") }
        XCTAssertEqual(Set(files), Set(InstalledUnits.units.keys), "run scripts/embed-units.py")
        for name in files {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            XCTAssertEqual(InstalledUnits.text(of: name), text, "\(name) differs: run scripts/embed-units.py")
        }
        let pod = try String(contentsOf: Self.repo.appendingPathComponent("pod/aegis-controller.yaml"), encoding: .utf8)
        XCTAssertEqual(InstalledUnits.controllerPod + "\n", pod, "run scripts/embed-units.py")
        for role in InstallRequest.Role.allCases { XCTAssertNotNil(InstalledUnits.units[Installer.unitName(role)]) }
    }

    func testConfigOfAWorkerNamesJoinAndTokenFile() {
        var request = InstallRequest(role: .worker)
        request.join = "https://ctl:7443"
        request.token = "AEG1x"
        request.name = "w1"
        let yaml = Installer(sourceDirectory: "/nonexistent").configYAML(request)
        XCTAssertTrue(yaml.contains("\njoin: https://ctl:7443\n") && yaml.contains("\ntoken-file: /etc/aegis/join-token\n"), yaml)
        let parsed = try? NodeConfigFile.arguments(yaml: yaml, file: "config.yaml")
        XCTAssertEqual(
            parsed?.arguments,
            ["--data-dir", "/var/lib/aegis", "--name", "w1", "--join", "https://ctl:7443", "--token-file", "/etc/aegis/join-token"],
            "what install writes, aegis up reads")
    }
}
