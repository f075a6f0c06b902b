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

    func testUninstallFindsTheDataDirTheConfigNames() throws {
        let dir = NSTemporaryDirectory() + "installer-config-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var installer = Installer(sourceDirectory: "/nonexistent") { _ in }
        installer.configDirectory = dir
        XCTAssertEqual(installer.installedDataDirectory(), "/var/lib/aegis", "no config: the default")
        try "name: n1\ndata-dir: /srv/aegis\n".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(installer.installedDataDirectory(), "/srv/aegis")
        try "data-dir: relative\n".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(installer.installedDataDirectory(), "/var/lib/aegis", "only an absolute path is removed")
    }

    func testValuesAreQuotedSoNoneChangesTheDocument() throws {
        var request = InstallRequest(role: .worker)
        request.join = "https://ctl:7443 #not-a-comment"
        request.name = "a: b"
        let yaml = Installer(sourceDirectory: "/nonexistent").configYAML(request)
        let parsed = try NodeConfigFile.arguments(yaml: yaml, file: "config.yaml").arguments
        XCTAssertEqual(Array(parsed[2...]), ["--name", "a: b", "--join", "https://ctl:7443 #not-a-comment"])
    }

    func testConfigOfAWorkerNamesJoinAndTokenFile() {
        var request = InstallRequest(role: .worker)
        request.join = "https://ctl:7443"
        request.token = "AEG1x"
        request.name = "w1"
        let yaml = Installer(sourceDirectory: "/nonexistent").configYAML(request)
        XCTAssertTrue(yaml.contains("\njoin: \"https://ctl:7443\"\n") && yaml.contains("\ntoken-file: \"/etc/aegis/join-token\"\n"), yaml)
        let parsed = try? NodeConfigFile.arguments(yaml: yaml, file: "config.yaml")
        XCTAssertEqual(
            parsed?.arguments,
            ["--data-dir", "/var/lib/aegis", "--name", "w1", "--join", "https://ctl:7443", "--token-file", "/etc/aegis/join-token"],
            "what install writes, aegis up reads")
    }

    func testTheControllerPodGetsTheInstalledImageAndDataDir() throws {
        let dir = NSTemporaryDirectory() + "installer-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let archive = dir + "/built.tar"
        try Data("not really an archive".utf8).write(to: URL(fileURLWithPath: archive))
        var installer = Installer(sourceDirectory: "/nonexistent") { _ in }
        installer.shareDirectory = dir + "/share"
        installer.configDirectory = dir + "/etc"
        installer.dataDirectory = dir + "/data"
        try FileManager.default.createDirectory(atPath: installer.configDirectory, withIntermediateDirectories: true)
        XCTAssertTrue(try installer.installControllerPod(image: "oci-archive:\(archive):v1.2"))
        let pod = try String(contentsOfFile: installer.configDirectory + "/aegis-controller.yaml", encoding: .utf8)
        XCTAssertFalse(pod.contains("image: localhost:5000/aegis:dev"), pod)
        XCTAssertEqual(
            pod.components(separatedBy: "image: oci-archive:\(dir)/share/aegis-image.tar:v1.2\n").count - 1, 3, "all three containers")
        XCTAssertTrue(pod.contains("path: \(dir)/data\n") && pod.contains("path: \(dir)/data/pki\n"), pod)
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/share/aegis-image.tar"), Data("not really an archive".utf8))
        XCTAssertFalse(try installer.installControllerPod(image: "oci-archive:\(archive):v1.2"), "again: nothing changes")
        XCTAssertThrowsError(try installer.installControllerPod(image: "oci-archive:\(archive):v1 #x")) { error in
            XCTAssertTrue("\(error)".contains("is not an OCI tag"), "\(error)")
        }
        XCTAssertThrowsError(try installer.installControllerPod(image: dir + "/missing.tar")) { error in
            XCTAssertTrue("\(error)".contains("missing.tar: no such file"), "\(error)")
        }
    }
}
